from __future__ import annotations

from django.apps import AppConfig


class ExceptionsConfig(AppConfig):
    name = "controltower.exceptions"
    label = "exceptions"

    def ready(self) -> None:
        from controltower.exceptions import (
            live,
            trace,  # noqa: F401 - registers the trace source
        )

        live.register()
