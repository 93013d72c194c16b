from __future__ import annotations

from django.contrib.auth.decorators import login_required, permission_required
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.views.decorators.http import require_GET

from controltower.accounts.roles import ROLE_HOME, roles_of
from controltower.dashboards import kpis
from controltower.dashboards.forms import WindowForm


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


@require_GET
@login_required
@permission_required("dashboards.view_kpis", raise_exception=True)
def kpi_dashboard(request: HttpRequest) -> HttpResponse:
    """The executive page: four KPIs from SQL aggregates, each a chart with its table."""
    form = WindowForm(request.GET)
    if not form.is_valid():
        return render(request, "dashboards/kpis.html", {"form": form, "board": None}, status=400)
    board = kpis.dashboard(form.cleaned_data["days"] or kpis.DEFAULT_WINDOW)
    context = {"form": form, "board": board, "charts": board.charts()}
    return render(request, "dashboards/kpis.html", context)
