from __future__ import annotations

from django.apps import AppConfig


class CoreConfig(AppConfig):
    name = "controltower.core"
    label = "core"

    def ready(self) -> None:
        from controltower.core import writepath

        writepath.install()
