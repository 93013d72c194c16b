from __future__ import annotations

from rest_framework.permissions import DjangoModelPermissions


class ModelViewPermissions(DjangoModelPermissions):
    """Model permissions that also guard reads: GET needs ``view_<model>``."""

    perms_map = {
        **DjangoModelPermissions.perms_map,
        "GET": ["%(app_label)s.view_%(model_name)s"],
        "HEAD": ["%(app_label)s.view_%(model_name)s"],
        "OPTIONS": ["%(app_label)s.view_%(model_name)s"],
    }
