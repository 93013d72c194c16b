"""Finance: invoices and credit memos as the ERP issued them, and the order's sales entry —
built when its posting gate is met, from admin-editable GL mappings, queued for the ledger, and
marked posted or rejected by the ledger's answer.

A mapping that is missing blocks the posting with an exception naming exactly what is missing;
nothing is ever posted to a default account.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from datetime import date, datetime
from decimal import Decimal
from typing import Any

from django.db import transaction
from django.db.models import prefetch_related_objects
from django.dispatch import receiver
from django.utils import timezone

from controltower.core import memo
from controltower.core.context import acting_as, correlated
from controltower.core.errors import NotYet
from controltower.core.models import bulk_create, bulk_update, deferred_records, stamp
from controltower.core.writepath import domain_service
from controltower.exceptions.choices import ExceptionType, Severity
from controltower.exceptions.services import close_exceptions, close_exceptions_for, open_exception
from controltower.finance import postings
from controltower.finance.choices import DocumentState, JournalState, PeriodStatus
from controltower.finance.configuration import (
    best_mapping,
    gate_for,
    mapping_for,
    mappings_of,
    period_for,
)
from controltower.finance.models import (
    CreditMemo,
    FiscalPeriod,
    GLMapping,
    Invoice,
    InvoiceLine,
    JournalEntry,
    JournalLine,
)
from controltower.finance.signals import journal_entry_queued
from controltower.orders import events as order_events
from controltower.orders.choices import (
    FulfilmentStatus,
    InvoicingStatus,
    OrderEventType,
    OrderState,
    PaymentStatus,
    PostingStatus,
)
from controltower.orders.lifecycle import is_paid
from controltower.orders.locks import lock_order
from controltower.orders.models import Order
from controltower.orders.services.lifecycle import capture_mode, progress, set_aspect
from controltower.orders.signals import order_progressed
from controltower.payments.choices import PaymentTransactionType
from controltower.payments.models import PaymentTransaction

logger = logging.getLogger(__name__)

ENDED = frozenset({OrderState.CANCELLED, OrderState.FAILED, OrderState.REFUNDED})


@dataclass(frozen=True)
class DocumentLineData:
    line_number: int
    sku_code: str
    quantity: int
    unit_price: Decimal
    discount: Decimal
    net: Decimal
    tax: Decimal
    tax_code: str
    total: Decimal


@dataclass(frozen=True)
class DocumentData:
    """An invoice or credit memo as the ERP issued it."""

    source_system: str
    external_id: str
    number: str
    currency: str
    net_total: Decimal
    tax_total: Decimal
    total: Decimal
    issued_at: datetime
    lines: list[DocumentLineData] = field(default_factory=list)
    shipping_net: Decimal = Decimal(0)
    shipping_tax: Decimal = Decimal(0)
    shipping_tax_code: str = ""
    shipment_reference: str = ""
    invoice_reference: str = ""  # a credit memo's invoice
    reason: str = ""


def _check_document(order: Order, data: DocumentData) -> str:
    if data.currency != order.currency:
        return f"the document is in {data.currency}, the order in {order.currency}"
    numbers = {line.line_number for line in order.lines.all()}
    for item in data.lines:
        if item.line_number not in numbers:
            return f"line {item.line_number} is not on the order"
        for name in ("net", "tax", "discount", "unit_price", "total"):
            if getattr(item, name) < 0:
                return f"line {item.line_number}: {name} must not be negative"
        if item.net + item.tax != item.total:
            return f"line {item.line_number}: net {item.net} + tax {item.tax} ≠ total {item.total}"
    net = sum((item.net for item in data.lines), Decimal(0)) + data.shipping_net
    tax = sum((item.tax for item in data.lines), Decimal(0)) + data.shipping_tax
    if net != data.net_total or tax != data.tax_total or net + tax != data.total:
        return (
            f"the lines do not add up: net {net} / tax {tax} against the document's "
            f"{data.net_total} / {data.tax_total} / total {data.total}"
        )
    return ""


def _document_refused(order: Order, data: DocumentData, kind: str) -> bool:
    """A document that does not fit its order is refused whole: recorded on the timeline, an
    exception opened (committed with the event that brought it), nothing applied."""
    problem = _check_document(order, data)
    if not problem:
        return False
    order_events.step_recorded(
        order,
        OrderEventType.STEP_REFUSED,
        step=kind,
        target=data.number,
        current=order.invoicing_status,
        reason=problem,
    )
    open_exception(
        type=ExceptionType.STEP_REFUSED,
        dedupe_key=f"{kind}:{data.source_system}:{data.external_id}",
        title=f"{order}: {kind} {data.number} refused",
        detail=problem,
        severity=Severity.HIGH,
        correlation_id=order.correlation_id,
        money_at_risk=data.total,
        currency=order.currency,
        subject_type="orders.order",
        subject_id=str(order.pk),
    )
    return True


def _line_rows(order: Order, data: DocumentData, **parent: Any) -> list[InvoiceLine]:
    held = {line.line_number: line for line in order.lines.all()}
    return [
        InvoiceLine(
            correlation_id=order.correlation_id,
            order_line=held.get(item.line_number),
            line_number=item.line_number,
            sku_code=item.sku_code,
            quantity=item.quantity,
            currency=data.currency,
            unit_price_amount=item.unit_price,
            discount_amount=item.discount,
            net_amount=item.net,
            tax_amount=item.tax,
            tax_code=item.tax_code,
            total_amount=item.total,
            **parent,
        )
        for item in data.lines
    ]


def _fully_invoiced(order: Order) -> bool:
    invoiced: dict[int, int] = {}
    for number, quantity in InvoiceLine.objects.filter(invoice__order=order).values_list(
        "line_number", "quantity"
    ):
        invoiced[number] = invoiced.get(number, 0) + quantity
    return all(
        invoiced.get(line.line_number, 0) >= line.quantity - line.quantity_cancelled
        for line in order.lines.all()
    )


@domain_service
def record_invoice(order: Order, data: DocumentData) -> Invoice | None:
    """An invoice the ERP issued (idempotent by its ERP id). NotYet before anything shipped;
    None when it does not fit the order (refused: recorded, exception opened)."""
    with transaction.atomic(savepoint=False), correlated(order.correlation_id):
        order = lock_order(order.pk)
        existing = Invoice.objects.filter(
            source_system=data.source_system, external_id=data.external_id
        ).first()
        if existing is not None:
            return existing
        if order.fulfilment_status not in (
            FulfilmentStatus.PARTIALLY_SHIPPED,
            FulfilmentStatus.SHIPPED,
        ):
            raise NotYet(f"invoice {data.number} before the order shipped")
        # Checking, copying and adding up read the order's lines: one read for the three.
        prefetch_related_objects([order], "lines")
        if _document_refused(order, data, "invoice"):
            return None
        invoice = Invoice(
            order=order,
            correlation_id=order.correlation_id,
            source_system=data.source_system,
            external_id=data.external_id,
            number=data.number,
            state=DocumentState.ISSUED,
            currency=data.currency,
            net_amount=data.net_total,
            tax_amount=data.tax_total,
            total_amount=data.total,
            shipping_net_amount=data.shipping_net,
            shipping_tax_amount=data.shipping_tax,
            shipping_tax_code=data.shipping_tax_code,
            shipment_reference=data.shipment_reference,
            issued_at=data.issued_at,
        )
        stamp(invoice, "issued by the ERP")
        invoice.save(force_insert=True)
        bulk_create(InvoiceLine, _line_rows(order, data, invoice=invoice), reason="invoiced")
        full = _fully_invoiced(order) and order.fulfilment_status == FulfilmentStatus.SHIPPED
        target = InvoicingStatus.INVOICED if full else InvoicingStatus.PARTIALLY_INVOICED
        set_aspect(order, "invoicing_status", target, reason=f"invoice {data.number}")
        if full:
            order.invoiced_at = data.issued_at
        order_events.step_recorded(
            order,
            OrderEventType.INVOICED,
            number=data.number,
            total=f"{data.total:.2f}",
            tax=f"{data.tax_total:.2f}",
            currency=data.currency,
            complete=full,
        )
        progress(order, reason=f"invoice {data.number}", aspect="invoicing_status")
        return invoice


@domain_service
def record_credit_memo(order: Order, data: DocumentData) -> CreditMemo | None:
    """A credit memo the ERP issued (idempotent by its ERP id); posting it is finance's (the
    refunds flow)."""
    with transaction.atomic(savepoint=False), correlated(order.correlation_id):
        order = lock_order(order.pk)
        existing = CreditMemo.objects.filter(
            source_system=data.source_system, external_id=data.external_id
        ).first()
        if existing is not None:
            return existing
        if _document_refused(order, data, "credit memo"):
            return None
        invoice = (
            Invoice.objects.filter(order=order, external_id=data.invoice_reference).first()
            if data.invoice_reference
            else None
        )
        memo = CreditMemo(
            order=order,
            invoice=invoice,
            correlation_id=order.correlation_id,
            source_system=data.source_system,
            external_id=data.external_id,
            number=data.number,
            state=DocumentState.ISSUED,
            currency=data.currency,
            net_amount=data.net_total,
            tax_amount=data.tax_total,
            total_amount=data.total,
            issued_at=data.issued_at,
            reason=data.reason[:255],
        )
        stamp(memo, "issued by the ERP")
        memo.save(force_insert=True)
        bulk_create(InvoiceLine, _line_rows(order, data, credit_memo=memo), reason="credited")
        order_events.step_recorded(
            order,
            OrderEventType.CREDIT_MEMO_ISSUED,
            number=data.number,
            total=f"{data.total:.2f}",
            currency=data.currency,
            reason=data.reason,
        )
        return memo


# --- the posting gate and the sales entry ----------------------------------------------------


def gate_unmet(order: Order) -> list[str]:
    """What the order's posting gate still waits for ([] when met)."""
    gate = gate_for(order.channel_id)
    unmet = []
    if gate.require_captured and not is_paid(order, capture_mode(order)):
        unmet.append("payment captured")
    if gate.require_shipped and order.fulfilment_status != FulfilmentStatus.SHIPPED:
        unmet.append("shipped")
    if gate.require_invoiced and order.invoicing_status != InvoicingStatus.INVOICED:
        unmet.append("invoiced")
    return unmet


def _describe(line: postings.EntryLine) -> str:
    what = line.event.replace("_", " ")
    if line.event == postings.TAX_PAYABLE:
        return f"{what} for tax code {line.key or '(none)'}"
    if line.key:
        return f"{what} for payment method {line.key}"
    return what


def sales_facts(order: Order) -> postings.SalesFacts:
    invoices = []
    for invoice in Invoice.objects.filter(order=order).prefetch_related("lines"):
        invoices.append(
            postings.InvoiceFacts(
                lines=[
                    postings.InvoiceLineFacts(
                        net=line.net_amount,
                        discount=line.discount_amount,
                        tax=line.tax_amount,
                        tax_code=line.tax_code,
                    )
                    for line in invoice.lines.all()
                ],
                shipping_net=invoice.shipping_net_amount,
                shipping_tax=invoice.shipping_tax_amount,
                shipping_tax_code=invoice.shipping_tax_code,
            )
        )
    # money kept: captures less what was refunded before the sale was posted (units cancelled
    # after capture were never invoiced, and their refund nets them out of the clearing)
    captures = [
        postings.CaptureFacts(
            payment_method=method or order.payment_method,
            amount=amount if kind == PaymentTransactionType.CAPTURE else -amount,
            fee=fee if kind == PaymentTransactionType.CAPTURE else Decimal(0),
        )
        for method, kind, amount, fee in PaymentTransaction.objects.filter(
            payment__order=order,
            type__in=(PaymentTransactionType.CAPTURE, PaymentTransactionType.REFUND),
            succeeded=True,
        ).values_list("payment__method", "type", "amount", "fee_amount")
    ]
    if capture_mode(order) == "offline" and not captures:
        total = sum((invoice.total for invoice in invoices), Decimal(0))
        captures = [postings.CaptureFacts(payment_method=order.payment_method, amount=total)]
    return postings.SalesFacts(currency=order.currency, invoices=invoices, captures=captures)


def _block(order: Order, problem: str) -> None:
    if order.posting_status != PostingStatus.BLOCKED:
        set_aspect(order, "posting_status", PostingStatus.BLOCKED, reason=problem)
    order_events.step_recorded(order, OrderEventType.POSTING_BLOCKED, reason=problem)
    open_exception(
        type=ExceptionType.POSTING_FAILURE,
        dedupe_key=f"posting:{order.pk}:blocked",
        title=f"{order}: sales posting blocked",
        detail=problem,
        severity=Severity.HIGH,
        correlation_id=order.correlation_id,
        money_at_risk=order.total_amount,
        currency=order.currency,
        subject_type="orders.order",
        subject_id=str(order.pk),
        context={"finance": True},
    )


def _entry_rows(
    order: Order, lines: list[postings.EntryLine]
) -> tuple[list[JournalLine], list[str]]:
    rows, missing = [], []
    mappings = mappings_of(order.channel)
    for line in lines:
        mapping = best_mapping(mappings, line.event, line.key)
        if mapping is None:
            missing.append(_describe(line))
            continue
        rows.append(
            JournalLine(
                correlation_id=order.correlation_id,
                account=mapping.account,
                currency=order.currency,
                debit_amount=line.debit,
                credit_amount=line.credit,
                tax_code=line.key if line.event == postings.TAX_PAYABLE else "",
                channel=order.channel,
            )
        )
    return rows, missing


@domain_service
def evaluate_posting(order: Order) -> JournalEntry | None:
    """Post the order's sales entry if its gate is met and it has not been: the entry (queued
    for the ledger), or None (gate unmet, or blocked with an exception saying why)."""
    if order.state in ENDED or order.posting_status not in (
        PostingStatus.NONE,
        PostingStatus.BLOCKED,
    ):
        return None
    if gate_unmet(order):
        return None
    # The channel names the entry and picks its mappings: read once per drain batch.
    order.channel = memo.remember(("channel", order.channel_id), lambda: order.channel)
    with correlated(order.correlation_id):
        try:
            lines = postings.sales_entry_lines(sales_facts(order))
        except postings.PostingProblem as exc:
            _block(order, str(exc))
            progress(order, reason="posting blocked", aspect="posting_status")
            return None
        rows, missing = _entry_rows(order, lines)
        day = (order.invoiced_at or timezone.now()).date()
        period = period_for(day)
        if missing:
            problem = "no GL mapping for " + "; ".join(missing) + f" (channel {order.channel.code})"
        elif period is None:
            problem = f"no fiscal period holds {day.isoformat()}"
        elif period.status == PeriodStatus.CLOSED:
            problem = f"the fiscal period {period.starts_on:%Y-%m} is closed"
        else:
            problem = ""
        if problem:
            _block(order, problem)
            progress(order, reason="posting blocked", aspect="posting_status")
            return None
        total = sum((line.debit for line in lines), Decimal(0))
        entry = JournalEntry.objects.filter(
            source_system="controltower", external_id=f"sale:{order.correlation_id}"
        ).first() or JournalEntry(
            correlation_id=order.correlation_id,
            source_system="controltower",
            external_id=f"sale:{order.correlation_id}",
            order=order,
            channel=order.channel,
        )
        entry.period = period
        entry.entry_date = day
        entry.state = JournalState.DRAFT
        entry.event = "sale"
        entry.description = f"Sales {order} ({order.channel.code})"[:255]
        entry.currency = order.currency
        entry.total_amount = total
        entry.rejection_reason = ""
        entry.batch_reference = ""
        stamp(entry, "sales entry built")
        rebuilt = entry.pk is not None
        entry.save()
        if rebuilt:  # a rebuilt (re-posted) entry takes today's mappings
            entry.lines.all().delete()
        for row in rows:
            row.entry = entry
        bulk_create(JournalLine, rows, reason="sales entry")
        set_aspect(order, "posting_status", PostingStatus.QUEUED, reason="posting gate met")
        close_exceptions(
            {
                f"posting:{order.pk}:blocked": "the posting could be built",
                f"posting:{order.pk}:rejected": "re-posted",
            }
        )
        order_events.step_recorded(
            order,
            OrderEventType.POSTING_QUEUED,
            entry=entry.pk,
            total=f"{total:.2f}",
            currency=order.currency,
        )
        progress(order, reason="sales entry queued for the ledger", aspect="posting_status")
        journal_entry_queued.send(sender=JournalEntry, entry=entry)
        return entry


@receiver(order_progressed, dispatch_uid="finance.posting_gate")
def _posting_gate(sender: Any, *, order: Order, aspect: str, **_: Any) -> None:
    if aspect in ("payment_status", "fulfilment_status", "invoicing_status"):
        evaluate_posting(order)


@domain_service
def retry_posting(order: Order, *, actor: Any) -> JournalEntry | None:
    """A person asks again (after fixing a mapping or a period): blocked or rejected orders."""
    from controltower.core.context import acting_as

    with acting_as(actor), transaction.atomic(savepoint=False):
        order = lock_order(order.pk)
        if order.posting_status == PostingStatus.REJECTED:
            set_aspect(order, "posting_status", PostingStatus.BLOCKED, reason="re-post asked")
        return evaluate_posting(order)


@domain_service
def record_entries_sent(entries: list[JournalEntry], *, batch_reference: str) -> None:
    """A batch of entries went to the ledger: the entries marked sent (one update and one
    insert of history for all), their orders locked in one statement (in id order) and each
    moved on; the orders' timeline rows are inserted together at the end."""
    now = timezone.now()
    with transaction.atomic(savepoint=False), deferred_records():
        for entry in entries:
            entry.state = JournalState.SENT
            entry.sent_at = now
            entry.batch_reference = batch_reference
            stamp(entry, f"sent in batch {batch_reference}")
        bulk_update(JournalEntry, entries, ["state", "sent_at", "batch_reference"])
        order_ids = sorted({entry.order_id for entry in entries if entry.order_id})
        orders = {
            order.pk: order
            for order in Order.objects.select_for_update(of=("self",))
            .filter(pk__in=order_ids)
            .order_by("pk")
        }
        for entry in entries:
            order = orders.get(entry.order_id) if entry.order_id else None
            if order is None:
                continue
            if set_aspect(order, "posting_status", PostingStatus.SENT, reason=batch_reference):
                order_events.step_recorded(
                    order, OrderEventType.POSTING_SENT, entry=entry.pk, batch=batch_reference
                )
                progress(order, reason=f"sent to the ledger in {batch_reference}")


@domain_service
def record_posting_result(
    entry: JournalEntry, *, accepted: bool, ledger_id: str = "", reason: str = ""
) -> JournalEntry:
    """The ledger's answer for one entry."""
    with transaction.atomic(savepoint=False), correlated(entry.correlation_id):
        entry = JournalEntry.objects.select_for_update().get(pk=entry.pk)
        if entry.state == JournalState.POSTED:
            return entry
        entry.state = JournalState.POSTED if accepted else JournalState.REJECTED
        entry.ledger_id = ledger_id if accepted else ""
        entry.rejection_reason = "" if accepted else reason
        entry.posted_at = timezone.now() if accepted else None
        stamp(entry, (f"posted as {ledger_id}" if accepted else f"rejected: {reason}")[:100])
        entry.save(
            update_fields=["state", "ledger_id", "rejection_reason", "posted_at", "updated_at"]
        )
        if entry.order_id is None:
            return entry
        order = lock_order(entry.order_id)
        if accepted:
            set_aspect(order, "posting_status", PostingStatus.POSTED, reason=f"ledger {ledger_id}")
            order.posted_at = entry.posted_at
            order_events.step_recorded(order, OrderEventType.POSTED, ledger_id=ledger_id)
            close_exceptions_for(f"posting:{order.pk}:rejected", reason=f"posted as {ledger_id}")
        else:
            set_aspect(order, "posting_status", PostingStatus.REJECTED, reason=reason)
            order_events.step_recorded(order, OrderEventType.POSTING_REJECTED, reason=reason)
            open_exception(
                type=ExceptionType.POSTING_FAILURE,
                dedupe_key=f"posting:{order.pk}:rejected",
                title=f"{order}: the ledger rejected the sales entry",
                detail=reason,
                severity=Severity.HIGH,
                correlation_id=order.correlation_id,
                money_at_risk=entry.total_amount,
                currency=entry.currency,
                subject_type="finance.journalentry",
                subject_id=str(entry.pk),
                context={"finance": True, "order": order.pk},
            )
        progress(order, reason="ledger answered", aspect="posting_status")
        return entry


# --- admin-edited posting rules ------------------------------------------------------------------


@domain_service
def save_gl_mapping(mapping: GLMapping, *, actor: Any, reason: str) -> GLMapping:
    """Create or change a posting rule. Entries already built keep their accounts; blocked and
    rejected orders take it when they are evaluated or re-posted (``retry_posting``)."""
    with transaction.atomic(), acting_as(actor):
        stamp(mapping, reason[:100])
        mapping.save()
    return mapping


@domain_service
def delete_gl_mapping(mapping: GLMapping, *, actor: Any, reason: str) -> None:
    """Remove a posting rule: postings it alone covered block until another one applies."""
    with transaction.atomic(), acting_as(actor):
        stamp(mapping, reason[:100])
        mapping.delete()


# --- fiscal periods as the ledger reports them (integrations.ledger) -----------------------------


@dataclass(frozen=True)
class FiscalPeriodData:
    """One period as the ledger holds it: the ledger owns whether it is open."""

    legal_entity: str
    starts_on: date
    ends_on: date
    status: str  # PeriodStatus


@domain_service
def sync_fiscal_periods(periods: list[FiscalPeriodData], *, source: str) -> dict[str, int]:
    """Follow the ledger's periods so finance sees (and posting honours) what the ledger will
    refuse: missing periods created, open/closed taken over. A period overlapping one we hold
    with other bounds (a yearly period against the ledger's months) is left alone and counted,
    never split or doubled."""
    counts = {"created": 0, "opened": 0, "closed": 0, "unchanged": 0, "overlapping": 0}
    with transaction.atomic(savepoint=False):
        entities = {p.legal_entity for p in periods}
        held = list(
            FiscalPeriod.objects.filter(legal_entity__in=entities)
            .order_by("pk")
            .select_for_update(of=("self",))
        )
        for data in periods:
            same = next(
                (
                    p
                    for p in held
                    if p.legal_entity == data.legal_entity
                    and (p.starts_on, p.ends_on) == (data.starts_on, data.ends_on)
                ),
                None,
            )
            if same is None:
                if any(
                    p.legal_entity == data.legal_entity
                    and p.starts_on <= data.ends_on
                    and data.starts_on <= p.ends_on
                    for p in held
                ):
                    counts["overlapping"] += 1
                    continue
                period = FiscalPeriod(
                    legal_entity=data.legal_entity,
                    starts_on=data.starts_on,
                    ends_on=data.ends_on,
                    status=data.status,
                    source_system=source[:64],
                    external_id=f"{data.legal_entity}:{data.starts_on:%Y-%m-%d}",
                )
                stamp(period, f"period read from {source}"[:100])
                period.save(force_insert=True)
                held.append(period)
                counts["created"] += 1
            elif same.status != data.status:
                same.status = data.status
                stamp(same, f"{data.status} in {source}"[:100])
                same.save(update_fields=["status", "updated_at"])
                counts["opened" if data.status == PeriodStatus.OPEN else "closed"] += 1
            else:
                counts["unchanged"] += 1
    return counts


__all__ = [
    "DocumentData",
    "DocumentLineData",
    "PaymentStatus",
    "delete_gl_mapping",
    "evaluate_posting",
    "gate_unmet",
    "mapping_for",
    "record_credit_memo",
    "record_entries_sent",
    "record_invoice",
    "record_posting_result",
    "retry_posting",
    "save_gl_mapping",
]
