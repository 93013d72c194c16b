from __future__ import annotations

from django.apps import AppConfig


class FinanceConfig(AppConfig):
    name = "controltower.finance"
    label = "finance"

    def ready(self) -> None:
        from controltower.finance import services  # noqa: F401  (its signal receivers)
