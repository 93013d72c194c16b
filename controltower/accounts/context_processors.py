from __future__ import annotations

from typing import Any

from django.http import HttpRequest

from controltower.accounts.roles import roles_of


def roles(request: HttpRequest) -> dict[str, Any]:
    return {"user_roles": roles_of(getattr(request, "user", None))}
