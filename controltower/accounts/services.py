from __future__ import annotations

import logging

from django.contrib.auth.models import Group, Permission
from django.db import transaction

from controltower.accounts.roles import ROLE_PERMISSIONS

logger = logging.getLogger(__name__)


@transaction.atomic
def sync_roles() -> dict[str, int]:
    """Give each role group exactly the permissions ``ROLE_PERMISSIONS`` lists."""
    counts: dict[str, int] = {}
    for role, names in ROLE_PERMISSIONS.items():
        group, _ = Group.objects.get_or_create(name=role)
        if names == ["*"]:
            perms = list(Permission.objects.all())
        else:
            perms = []
            for name in names:
                app_label, codename = name.split(".", 1)
                perm = Permission.objects.filter(
                    content_type__app_label=app_label, codename=codename
                ).first()
                if perm is None:
                    raise LookupError(f"role {role}: unknown permission {name}")
                perms.append(perm)
        group.permissions.set(perms)
        counts[role] = len(perms)
    return counts
