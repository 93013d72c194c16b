from __future__ import annotations

from django.apps import AppConfig


class PaymentsConfig(AppConfig):
    name = "controltower.payments"
    label = "payments"

    def ready(self) -> None:
        from controltower.payments import services  # noqa: F401  (its signal receivers)
