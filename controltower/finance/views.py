"""Finance's pages: the journal (entries with their lines, filtered, totalled) and finance's
part of the work queue, where a blocked or rejected posting is retried after a mapping is fixed.

Views only parse, query and call services: the posting is rebuilt by
``finance.services.retry_posting``; acknowledging and resolving go through the exception pages,
whose rule (``exceptions.services.may_act_on``) lets finance act on posting exceptions only.
"""

from __future__ import annotations

import logging
from datetime import date

from django.conf import settings
from django.contrib import messages
from django.contrib.auth.decorators import login_required, permission_required
from django.core.paginator import Paginator
from django.db.models import Exists, OuterRef, Prefetch, QuerySet, Sum
from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.views.decorators.http import require_GET, require_POST
from django.views.decorators.vary import vary_on_headers
from django_htmx.middleware import HtmxDetails

from controltower.exceptions import services as exception_services
from controltower.exceptions.forms import ReasonForm
from controltower.exceptions.models import OpsException
from controltower.exceptions.views import render_detail
from controltower.finance.choices import JOURNAL_STATE_COLOURS
from controltower.finance.forms import JournalFilterForm
from controltower.finance.models import JournalEntry, JournalLine
from controltower.finance.services import retry_posting
from controltower.orders.choices import PostingStatus
from controltower.orders.models import Order

logger = logging.getLogger(__name__)

PAGE_SIZE = 25
RETRYABLE = (PostingStatus.BLOCKED, PostingStatus.REJECTED)


class HtmxHttpRequest(HttpRequest):
    htmx: HtmxDetails


def _next_month(first: date) -> date:
    return date(first.year + first.month // 12, first.month % 12 + 1, 1)


def _filtered(data: dict) -> QuerySet[JournalEntry]:
    entries = JournalEntry.objects.all()
    if data["period"]:
        entries = entries.filter(period=data["period"])
    if data["month"]:
        month = data["month"]
        entries = entries.filter(entry_date__gte=month, entry_date__lt=_next_month(month))
    if data["state"]:
        entries = entries.filter(state=data["state"])
    if data["account"]:
        on_account = JournalLine.objects.filter(entry=OuterRef("pk"), account=data["account"])
        entries = entries.filter(Exists(on_account))
    return entries


def _totals(lines: QuerySet[JournalLine]) -> list[dict]:
    """Debits and credits per currency (one GROUP BY; an entry never mixes currencies)."""
    return list(
        lines.values("currency")
        .annotate(debit=Sum("debit_amount"), credit=Sum("credit_amount"))
        .order_by("currency")
    )


@require_GET
@login_required
@permission_required("finance.view_journalentry", raise_exception=True)
@vary_on_headers("HX-Request")
def journal_list(request: HtmxHttpRequest) -> HttpResponse:
    form = JournalFilterForm(request.GET)
    template = "finance/journal_list.html"
    if request.htmx:
        template += "#journal-table"
    if not form.is_valid():
        return render(request, template, {"form": form, "page": None}, status=400)
    data = form.cleaned_data
    entries = _filtered(data)
    lines = JournalLine.objects.filter(entry__in=entries.values("pk"))
    totals = _totals(lines)
    account_totals = _totals(lines.filter(account=data["account"])) if data["account"] else []
    listed = entries.select_related("order", "channel", "period").prefetch_related(
        Prefetch("lines", queryset=JournalLine.objects.select_related("account").order_by("pk"))
    )
    page = Paginator(listed, PAGE_SIZE).get_page(data.get("page") or 1)
    context = {
        "form": form,
        "page": page,
        "totals": totals,
        "account": data["account"],
        "account_totals": account_totals,
        "colours": JOURNAL_STATE_COLOURS,
    }
    return render(request, template, context)


@require_GET
@login_required
@permission_required("finance.view_journalentry", raise_exception=True)
def journal_detail(request: HttpRequest, pk: int) -> HttpResponse:
    entry = get_object_or_404(
        JournalEntry.objects.select_related("order", "channel", "period"), pk=pk
    )
    lines = entry.lines.select_related("account").order_by("pk")
    exceptions = (
        OpsException.objects.for_finance().filter(correlation_id=entry.correlation_id)
        if entry.order_id
        else OpsException.objects.none()
    )
    context = {
        "entry": entry,
        "lines": lines,
        "totals": _totals(entry.lines.all()),
        "exceptions": exceptions.select_related("owner"),
        "history": entry.history.select_related("history_user").order_by("-history_date")[:50],
    }
    return render(request, "finance/journal_detail.html", context)


@require_GET
@login_required
@permission_required("exceptions.view_opsexception", raise_exception=True)
@permission_required("finance.view_journalentry", raise_exception=True)
@vary_on_headers("HX-Request")
def finance_queue(request: HtmxHttpRequest) -> HttpResponse:
    """Finance's part of the work queue: active posting exceptions, newest first."""
    template = "finance/finance_queue.html"
    if request.htmx:
        template += "#finance-queue-table"
    items = OpsException.objects.open().for_finance().select_related("owner")
    page = Paginator(items, PAGE_SIZE).get_page(request.GET.get("page") or 1)
    at_risk = items.values("currency").annotate(amount=Sum("money_at_risk_amount")).order_by()
    context = {"page": page, "at_risk": list(at_risk), "poll_s": settings.CT_LIVE_POLL_S}
    return render(request, template, context)


def _order_of(exception: OpsException) -> Order | None:
    """The order a posting exception is about (blocked: the order; rejected: its entry's)."""
    order_id: object = None
    if exception.subject_type == "orders.order":
        order_id = exception.subject_id
    elif exception.subject_type == "finance.journalentry":
        order_id = (exception.context or {}).get("order") or (
            JournalEntry.objects.filter(pk=exception.subject_id).values_list("order_id", flat=True)
        ).first()
    try:
        return Order.objects.select_related("channel").filter(pk=int(order_id)).first()
    except (TypeError, ValueError):
        return None


def _refuse(request: HttpRequest, exception: OpsException, text: str, status: int) -> HttpResponse:
    return render_detail(request, exception, ReasonForm(), status=status, refusal=text)


@require_POST
@login_required
@permission_required(exception_services.FINANCE_ACT_PERMISSION, raise_exception=True)
def posting_retry(request: HttpRequest, pk: int) -> HttpResponse:
    """Rebuild the order's sales entry with today's mappings (after a person fixed one)."""
    exception = get_object_or_404(OpsException, pk=pk)
    if not exception_services.is_finance_exception(exception):
        text = f"“{exception.get_type_display()}” is not a posting exception: nothing to retry."
        return _refuse(request, exception, text, 403)
    order = _order_of(exception)
    if order is None:
        return _refuse(request, exception, "This exception names no order to re-post.", 409)
    if order.posting_status not in RETRYABLE:
        text = f"Nothing to retry: the posting of {order} is {order.get_posting_status_display()}."
        return _refuse(request, exception, text, 409)
    entry = retry_posting(order, actor=request.user)
    if entry is not None:
        messages.success(request, f"Posting rebuilt and queued for the ledger (entry {entry.pk}).")
        logger.info("posting retried", extra={"correlation_id": str(order.correlation_id)})
    else:
        blocker = OpsException.objects.open().filter(dedupe_key=f"posting:{order.pk}:blocked")
        still = blocker.values_list("detail", flat=True).first() or "its gate is not met"
        messages.warning(request, f"Still blocked: {still}")
    return redirect("exceptions:exception_detail", pk=exception.pk)
