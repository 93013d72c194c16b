from __future__ import annotations

from django.apps import AppConfig


class PricingConfig(AppConfig):
    name = "controltower.pricing"
    label = "pricing"
    verbose_name = "Pricing"

    def ready(self) -> None:
        from controltower.pricing import receivers  # noqa: F401 - checks the prices read
