from __future__ import annotations

from django.apps import AppConfig


class OrdersConfig(AppConfig):
    name = "controltower.orders"
    label = "orders"

    def ready(self) -> None:
        from controltower.orders import (
            live,
            trace,  # noqa: F401 - registers the trace source
        )

        live.register()
