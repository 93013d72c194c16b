from __future__ import annotations

from django.apps import AppConfig


class FulfilmentConfig(AppConfig):
    name = "controltower.fulfilment"
    label = "fulfilment"

    def ready(self) -> None:
        from controltower.fulfilment import services  # noqa: F401  (its signal receivers)
