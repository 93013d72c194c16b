from __future__ import annotations

from importlib import import_module
from importlib.util import find_spec

from django.apps import AppConfig
from django.conf import settings

# The modules of a connector package that register with ``integrations.runtime.registry``.
CONNECTOR_MODULES = ("adapter", "webhooks")


class RuntimeConfig(AppConfig):
    name = "integrations.runtime"
    label = "integrations"
    verbose_name = "Integrations"

    def ready(self) -> None:
        from integrations.runtime import trace  # noqa: F401 - registers the trace source

        for package in settings.CT_CONNECTORS:
            for module in CONNECTOR_MODULES:
                if find_spec(f"{package}.{module}") is not None:
                    import_module(f"{package}.{module}")
