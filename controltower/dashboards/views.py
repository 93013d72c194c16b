from __future__ import annotations

from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.views.decorators.http import require_GET

from controltower.accounts.roles import ROLE_HOME, roles_of


@require_GET
@login_required
def home(request: HttpRequest) -> HttpResponse:
    """Send each person to their role's landing page."""
    for role in roles_of(request.user):
        if role in ROLE_HOME:
            return redirect(ROLE_HOME[role])
    if request.user.has_perm("orders.view_order"):
        return redirect("orders:order_list")
    return render(request, "dashboards/home.html", {"roles": roles_of(request.user)})
