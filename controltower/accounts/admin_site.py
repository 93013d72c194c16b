from __future__ import annotations

from django.contrib import admin
from django.contrib.admin.apps import AdminConfig
from django.http import HttpRequest

from controltower.accounts.roles import ADMIN, has_role


class ControlTowerAdminSite(admin.AdminSite):
    site_header = "Control Tower administration"
    site_title = "Control Tower admin"

    def has_permission(self, request: HttpRequest) -> bool:
        """Members of the ``admin`` role (and superusers) may use the Django admin."""
        user = request.user
        return bool(user.is_active and (has_role(user, ADMIN) or user.is_superuser))


class ControlTowerAdminConfig(AdminConfig):
    default_site = "controltower.accounts.admin_site.ControlTowerAdminSite"
