from __future__ import annotations

from django.db import models


class Dashboard(models.Model):
    """Permission anchor for dashboard pages (no rows): ``dashboards.view_kpis``."""

    class Meta:
        managed = False
        default_permissions = ()
        permissions = [("view_kpis", "Can view KPI dashboards")]

    def __str__(self) -> str:
        return "dashboard"
