from __future__ import annotations

from django.conf import settings
from django.contrib.auth.decorators import login_required, permission_required
from django.core.paginator import Paginator
from django.db.models import Q
from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, render
from django.views.decorators.http import require_GET
from django.views.decorators.vary import vary_on_headers
from django_htmx.middleware import HtmxDetails

from controltower.core.trace import collect
from controltower.orders.forms import OrderFilterForm
from controltower.orders.models import Order

PAGE_SIZE = 50


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
    if data["state"]:
        orders = orders.filter(state=data["state"])
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


@require_GET
@login_required
@permission_required("orders.view_order", raise_exception=True)
def order_detail(request: HtmxHttpRequest, pk: int) -> HttpResponse:
    order = get_object_or_404(Order.objects.select_related("channel"), pk=pk)
    history = list(order.history.select_related("history_user").order_by("-history_date")[:50])
    changes = []
    for record in history:
        previous = record.prev_record
        diff = record.diff_against(previous).changes if previous is not None else []
        changes.append({"record": record, "changes": diff})
    context = {
        "order": order,
        "lines": order.lines.select_related("sku").all(),
        "events": order.events.select_related("actor").all(),
        "refunds": order.refunds.prefetch_related("lines__order_line").order_by("created_at", "id"),
        "changes": changes,
        "trace": [
            entry
            for entry in collect(str(order.correlation_id))
            if entry.kind in ("inbound", "outbound", "attempt", "action")
        ],
    }
    return render(request, "orders/order_detail.html", context)
