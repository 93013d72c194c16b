from __future__ import annotations

from importlib import import_module

from django.apps import AppConfig
from django.conf import settings


class RuntimeConfig(AppConfig):
    name = "integrations.runtime"
    label = "integrations"
    verbose_name = "Integrations"

    def ready(self) -> None:
        from integrations.runtime import trace  # noqa: F401 - registers the trace source

        for package in settings.CT_CONNECTORS:
            import_module(f"{package}.adapter")
