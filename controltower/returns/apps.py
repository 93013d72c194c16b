from __future__ import annotations

from django.apps import AppConfig


class ReturnsConfig(AppConfig):
    name = "controltower.returns"
    label = "returns"

    def ready(self) -> None:
        from controltower.returns import trace  # noqa: F401 - registers the trace source
