from __future__ import annotations

from django.apps import AppConfig


class DashboardsConfig(AppConfig):
    name = "controltower.dashboards"
    label = "dashboards"

    def ready(self) -> None:
        from controltower.core import live
        from controltower.dashboards import publish

        live.set_sink(publish.send)
