"""The orders pages: the live list (filters by state, stage and who an order waits on), the order
page with its lifecycle strip, and a person's cancel."""

from __future__ import annotations

import logging

from django.conf import settings
from django.contrib import messages
from django.contrib.auth.decorators import login_required, permission_required
from django.core.paginator import Paginator
from django.db.models import Q
from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.views.decorators.http import require_GET, require_POST
from django.views.decorators.vary import vary_on_headers
from django_htmx.middleware import HtmxDetails

from controltower.core.trace import collect
from controltower.orders.choices import OrderState
from controltower.orders.forms import CancelOrderForm, OrderFilterForm
from controltower.orders.models import Order
from controltower.orders.services import cancel_order
from controltower.orders.strip import build_strip
from controltower.orders.transitions import IllegalTransition

logger = logging.getLogger(__name__)

PAGE_SIZE = 50
HISTORY_SHOWN = 50
CANCEL_PERMISSION = "orders.change_order"


class HtmxHttpRequest(HttpRequest):
    htmx: HtmxDetails


@require_GET
@login_required
@permission_required("orders.view_order", raise_exception=True)
@vary_on_headers("HX-Request")
def order_list(request: HtmxHttpRequest) -> HttpResponse:
    form = OrderFilterForm(request.GET)
    template = "orders/order_list.html"
    if request.htmx:
        template += "#orders-table"
    if not form.is_valid():
        return render(request, template, {"form": form, "page": None}, status=400)
    orders = Order.objects.for_list()
    data = form.cleaned_data
    for name in ("state", "stage", "waiting_on"):
        if data[name]:
            orders = orders.filter(**{name: data[name]})
    if data["channel"]:
        orders = orders.filter(channel__code=data["channel"])
    if data["q"]:
        term = data["q"].strip()
        orders = orders.filter(
            Q(number__iexact=term)
            | Q(external_id__iexact=term)
            | Q(customer_name__icontains=term)
            | Q(customer_email__iexact=term)
            | Q(erp_reference__iexact=term)
        )
    paginator = Paginator(orders, PAGE_SIZE, allow_empty_first_page=True)
    page = paginator.get_page(data.get("page") or 1)
    live = not form.is_filtered and page.number == 1
    context = {"form": form, "page": page, "live": live, "poll_s": settings.CT_LIVE_POLL_S}
    return render(request, template, context)


def _render_detail(
    request: HttpRequest, order: Order, *, cancel_form: CancelOrderForm, status: int = 200
) -> HttpResponse:
    # One more than shown, so each shown record is diffed against the one before it without a
    # query per record (``prev_record`` would cost one each).
    history = list(
        order.history.select_related("history_user").order_by("-history_date", "-history_id")[
            : HISTORY_SHOWN + 1
        ]
    )
    changes = []
    for index, record in enumerate(history[:HISTORY_SHOWN]):
        previous = history[index + 1] if index + 1 < len(history) else None
        diff = record.diff_against(previous).changes if previous is not None else []
        changes.append({"record": record, "changes": diff})
    events = list(order.events.select_related("actor").all())
    context = {
        "order": order,
        "strip": build_strip(order, events),
        "lines": order.lines.select_related("sku").all(),
        "events": events,
        "refunds": order.refunds.prefetch_related("lines__order_line").order_by("created_at", "id"),
        "changes": changes,
        "cancel_form": cancel_form,
        "may_cancel": request.user.has_perm(CANCEL_PERMISSION)
        and order.can_transition_to(OrderState.CANCELLED),
        "may_cancel_lines": request.user.has_perm(CANCEL_PERMISSION),
        "backordered": [line for line in order.lines.all() if line.quantity_backordered],
        "trace": [
            entry
            for entry in collect(str(order.correlation_id))
            if entry.kind in ("inbound", "outbound", "attempt", "action")
        ],
    }
    return render(request, "orders/order_detail.html", context, status=status)


@require_GET
@login_required
@permission_required("orders.view_order", raise_exception=True)
def order_detail(request: HtmxHttpRequest, pk: int) -> HttpResponse:
    order = get_object_or_404(Order.objects.for_detail(), pk=pk)
    return _render_detail(request, order, cancel_form=CancelOrderForm())


def _wants_status(request: HtmxHttpRequest) -> bool:
    """HTMX and API-style callers read the answer's status; a browser's form reads a flash."""
    return bool(request.htmx) or "application/json" in request.headers.get("Accept", "")


def _refused(request: HtmxHttpRequest, order: Order, text: str) -> HttpResponse:
    logger.info("order %s: cancel refused: %s", order.pk, text)
    if _wants_status(request):
        return HttpResponse(text, status=409, content_type="text/plain; charset=utf-8")
    messages.error(request, text)
    return redirect("orders:order_detail", pk=order.pk)


@require_POST
@login_required
@permission_required(CANCEL_PERMISSION, raise_exception=True)
def order_cancel(request: HtmxHttpRequest, pk: int) -> HttpResponse:
    """Cancel the order with a reason; the domain's ``order_cancelled`` receivers void or refund
    the payment, cancel the ERP order and withdraw the warehouse release."""
    order = get_object_or_404(Order.objects.for_detail(), pk=pk)
    form = CancelOrderForm(request.POST)
    if not form.is_valid():
        return _render_detail(request, order, cancel_form=form, status=400)
    if order.state == OrderState.CANCELLED:
        return _refused(request, order, f"Order {order.number} is already cancelled.")
    try:
        cancel_order(order, actor=request.user, reason=form.cleaned_data["reason"])
    except IllegalTransition as exc:
        return _refused(
            request,
            order,
            f"Order {order.number} cannot be cancelled: it is "
            f"{OrderState(exc.current).label.lower()}. Nothing was changed.",
        )
    messages.success(request, f"Order {order.number} cancelled.")
    return redirect("orders:order_detail", pk=order.pk)
