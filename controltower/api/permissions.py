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


def holds(user: Any, perm: str) -> bool:
    """Whether an active ``user`` holds ``perm`` (``app_label.codename``) directly or through a
    group, as Django's ModelBackend decides it, in one indexed query: ``has_perm`` loads every
    permission of the user and of their groups first (two joins), which a hot read pays on each
    request."""
    from django.contrib.auth.models import Permission
    from django.db.models import Q

    if not (user and user.is_authenticated and user.is_active):
        return False
    if user.is_superuser:
        return True
    app_label, _, codename = perm.partition(".")
    return Permission.objects.filter(
        Q(user=user) | Q(group__user=user), content_type__app_label=app_label, codename=codename
    ).exists()


def requires_one(perm: str) -> type[BasePermission]:
    """:func:`requires` for one permission, checked by :func:`holds` (for hot read endpoints)."""

    class RequiresOne(BasePermission):
        message = "You do not have permission to perform this action."

        def has_permission(self, request: Request, view: Any) -> bool:
            return holds(request.user, perm)

    RequiresOne.__name__ = f"RequiresOne({perm})"
    return RequiresOne
