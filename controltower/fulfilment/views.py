"""Ops' fulfilment actions on an order page: cancel the backordered units that will not come."""

from __future__ import annotations

from django.contrib import messages
from django.contrib.auth.decorators import login_required, permission_required
from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect
from django.views.decorators.http import require_POST

from controltower.fulfilment.services import cancel_order_lines
from controltower.orders.models import Order

CANCEL_PERMISSION = "orders.change_order"  # who may cancel an order may cancel its lines


@require_POST
@login_required
@permission_required(CANCEL_PERMISSION, raise_exception=True)
def cancel_backorders(request: HttpRequest, pk: int) -> HttpResponse:
    """Cancel every backordered unit of the lines ticked, with a reason: the lines shrink, the
    order may count as shipped, captured money for them is refunded and an authorization is
    captured only for what is still on the order."""
    order = get_object_or_404(Order, pk=pk)
    reason = (request.POST.get("reason") or "").strip()
    chosen = {int(n) for n in request.POST.getlist("line") if n.isdigit()}
    lines = {
        line.line_number: line.quantity_backordered
        for line in order.lines.filter(line_number__in=chosen, quantity_backordered__gt=0)
    }
    problem = ""
    if not reason:
        problem = "A reason is required to cancel backordered units."
    elif not lines:
        problem = "Tick at least one line with backordered units."
    if not problem:
        try:
            cancel_order_lines(order, lines, actor=request.user, reason=reason)
        except ValueError as exc:
            problem = f"Nothing was changed: {exc}."
    if problem:
        if request.headers.get("HX-Request") or "json" in request.headers.get("Accept", ""):
            return HttpResponse(problem, status=400, content_type="text/plain; charset=utf-8")
        messages.error(request, problem)
        return redirect("orders:order_detail", pk=order.pk)
    units = sum(lines.values())
    messages.success(request, f"Cancelled {units} backordered unit(s) of order {order.number}.")
    return redirect("orders:order_detail", pk=order.pk)
