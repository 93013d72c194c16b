"""The order page's lifecycle strip: one step per system (storefront, gateway, ERP, WMS, ledger),
each done / current / waiting / problem with what that system said and when, and the one line
people read first: what the order waits on now, and for how long.

Built from the order's own fields (its aspects, ``stage``, ``waiting_on``, ``stage_changed_at``)
and the related rows ``Order.objects.for_detail()`` prefetches, plus the timeline the page has
already loaded, so the strip costs no query of its own.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal

from django.utils import timezone

from controltower.orders.choices import (
    FulfilmentStatus,
    InvoicingStatus,
    OrderEventType,
    OrderStage,
    OrderState,
    PaymentStatus,
    PostingStatus,
    WaitingOn,
)
from controltower.orders.lifecycle import BEFORE_ACCEPTANCE, PAID
from controltower.orders.models import Order, OrderEvent
from controltower.orders.sla import WAITING_NAMES, format_age

DONE, CURRENT, WAITING, PROBLEM = "done", "current", "waiting", "problem"
STATUS_LABELS = {DONE: "done", CURRENT: "waiting on it now", WAITING: "waiting", PROBLEM: "problem"}


@dataclass
class Step:
    system: str  # WaitingOn value: the step's id and what ``waiting_on`` names
    label: str
    status: str = WAITING
    headline: str = ""
    at: datetime | None = None
    details: list[str] = field(default_factory=list)

    @property
    def status_label(self) -> str:
        return STATUS_LABELS[self.status]


@dataclass(frozen=True)
class Strip:
    steps: list[Step]
    summary: str  # "Waiting on WMS for 3 h 12 min"
    ended: bool


def _money(amount: Decimal, currency: str) -> str:
    return f"{amount:.2f} {currency}"


def _last(events: Sequence[OrderEvent], type: str, **match: str) -> OrderEvent | None:
    found = None
    for event in events:
        if event.type == type and all(event.parameters.get(k) == v for k, v in match.items()):
            found = event
    return found


def _storefront(order: Order, events: Sequence[OrderEvent]) -> Step:
    step = Step(WaitingOn.STOREFRONT, "Storefront", at=order.placed_at)
    accepted = _last(events, OrderEventType.STATE_CHANGED, new=OrderState.ACCEPTED)
    if order.state in BEFORE_ACCEPTANCE:
        step.status, step.headline = CURRENT, order.get_state_display()
    elif order.state == OrderState.FAILED:
        step.status, step.headline = PROBLEM, "Failed in the store"
    else:
        step.status, step.headline = DONE, "Accepted"
        step.at = accepted.created_at if accepted else order.placed_at
    if order.state == OrderState.COMPLETED:
        step.details.append("completed in the store")
    step.details.append(f"channel status: {order.channel_status or '—'}")
    return step


def _gateway(order: Order) -> Step:
    step = Step(WaitingOn.GATEWAY, "Gateway", headline=order.get_payment_status_display())
    payments = list(order.payments.all())
    status = order.payment_status
    if status in PAID or status == PaymentStatus.VOIDED:
        step.status = DONE
    elif status == PaymentStatus.FAILED:
        step.status = PROBLEM
    for payment in payments:
        amount = payment.captured_amount or payment.authorized_amount or payment.amount
        text = f"{payment.gateway} {payment.get_state_display().lower()} "
        text += _money(amount, payment.currency)
        if payment.refunded_amount:
            text += f", refunded {_money(payment.refunded_amount, payment.currency)}"
        step.details.append(text)
    if payments:
        step.at = max(payment.updated_at for payment in payments)
    return step


def _erp(order: Order) -> Step:
    step = Step(WaitingOn.ERP, "ERP", at=order.erp_registered_at)
    if order.erp_reference:
        step.headline = f"Registered {order.erp_reference}"
    else:
        step.headline = "Not registered yet"
    invoices = list(order.invoices.all())
    for invoice in invoices:
        when = f" {invoice.issued_at:%Y-%m-%d %H:%M}" if invoice.issued_at else ""
        step.details.append(f"invoice {invoice.number}{when}")
    if order.invoicing_status == InvoicingStatus.INVOICED:
        step.status, step.headline = DONE, f"Invoiced ({order.erp_reference})"
        step.at = order.invoiced_at or step.at
    elif order.invoicing_status == InvoicingStatus.PARTIALLY_INVOICED:
        step.headline = f"Partially invoiced ({order.erp_reference})"
        step.at = order.invoiced_at or step.at
    return step


def _wms(order: Order) -> Step:
    step = Step(WaitingOn.WMS, "WMS", headline=order.get_fulfilment_status_display())
    step.at = order.shipped_at or order.released_at
    if order.wms_reference:
        step.details.append(f"release {order.wms_reference}")
    for shipment in order.shipments.all():
        carrier = " ".join(filter(None, (shipment.carrier, shipment.tracking_number))) or "—"
        step.details.append(f"shipment {shipment.external_id or shipment.pk}: {carrier}")
    fulfilment = order.fulfilment_status
    if fulfilment == FulfilmentStatus.SHIPPED:
        step.status = DONE
    elif fulfilment == FulfilmentStatus.RELEASE_CANCELLED and order.waiting_on == WaitingOn.PEOPLE:
        step.status = PROBLEM
    return step


def _ledger(order: Order, events: Sequence[OrderEvent]) -> Step:
    step = Step(WaitingOn.LEDGER, "Ledger", headline=order.get_posting_status_display())
    entries = list(order.journal.all())
    entry = entries[-1] if entries else None
    posting = order.posting_status
    if posting == PostingStatus.POSTED:
        step.status, step.at = DONE, order.posted_at
        if entry is not None and entry.ledger_id:
            step.headline = f"Posted as {entry.ledger_id}"
    elif posting == PostingStatus.REJECTED:
        step.status = PROBLEM
        reason = entry.rejection_reason if entry is not None else ""
        step.details.append(f"rejected: {reason or 'no reason given'}")
    elif posting == PostingStatus.BLOCKED:
        step.status = PROBLEM
        blocked = _last(events, OrderEventType.POSTING_BLOCKED)
        if blocked is not None:
            step.at = blocked.created_at
            step.details.append(f"missing: {blocked.parameters.get('reason', '?')}")
    elif order.stage == OrderStage.INVOICED and order.waiting_on == WaitingOn.PEOPLE:
        step.status = PROBLEM
        step.details.append("not queued: the posting gate is not met")
    if entry is not None and step.at is None:
        step.at = entry.sent_at or entry.created_at
    return step


def build_strip(
    order: Order, events: Sequence[OrderEvent], *, now: datetime | None = None
) -> Strip:
    """The strip for an order loaded with ``for_detail()`` and its timeline ``events``."""
    now = now or timezone.now()
    steps = [_storefront(order, events), _gateway(order), _erp(order), _wms(order)]
    steps.append(_ledger(order, events))
    waiting = order.waiting_on
    for step in steps:
        if step.system == waiting and step.status != PROBLEM:
            step.status = CURRENT
    age = format_age(now - order.stage_changed_at)
    ended = order.stage in (OrderStage.CLOSED, OrderStage.CANCELLED)
    if ended:
        summary = f"{order.get_stage_display()} {age} ago: waiting on nothing"
    elif waiting:
        summary = f"{order.get_stage_display()}: waiting on {WAITING_NAMES[waiting]} for {age}"
    else:
        summary = f"{order.get_stage_display()} for {age}"
    return Strip(steps=steps, summary=summary, ended=ended)
