from __future__ import annotations

from typing import Any

from rest_framework.permissions import BasePermission, DjangoModelPermissions
from rest_framework.request import Request


class ModelViewPermissions(DjangoModelPermissions):
    """Model permissions that also guard reads: GET needs ``view_<model>``."""

    perms_map = {
        **DjangoModelPermissions.perms_map,
        "GET": ["%(app_label)s.view_%(model_name)s"],
        "HEAD": ["%(app_label)s.view_%(model_name)s"],
        "OPTIONS": ["%(app_label)s.view_%(model_name)s"],
    }


def requires(*perms: str) -> type[BasePermission]:
    """A permission class demanding these Django permissions (for actions and plain views)."""

    class Requires(BasePermission):
        message = "You do not have permission to perform this action."

        def has_permission(self, request: Request, view: Any) -> bool:
            user = request.user
            return bool(user and user.is_authenticated and user.has_perms(perms))

    Requires.__name__ = f"Requires({', '.join(perms)})"
    return Requires
