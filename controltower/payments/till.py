"""Payments taken and given back at a store's till (the POS): one Payment per tender of a sale
(card, cash, gift card — split tenders are several payments), captured when the sale completed,
and refund transactions when a return or a void gives money back.

Unlike the gateway's payments (``services.sync_gateway_payment``), the till is the record of
these: nothing is asked of a gateway, so their source system is the POS and the payments
connector (which only acts for its own connections) never sends a void or a refund for them.
Idempotent by the tender's id: the same sale or return applied twice changes nothing.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from decimal import Decimal
from typing import Any

from django.db import transaction
from django.db.models import Sum

from controltower.catalog.models import Location
from controltower.core.context import correlated
from controltower.core.models import bulk_create, stamp
from controltower.core.writepath import domain_service
from controltower.exceptions.choices import ExceptionType, Severity
from controltower.exceptions.models import OpsException
from controltower.exceptions.services import close_exceptions_for, open_exception
from controltower.orders import events as order_events
from controltower.orders.choices import OrderEventType
from controltower.orders.locks import lock_order
from controltower.orders.models import Order
from controltower.orders.services.lifecycle import progress, set_aspect
from controltower.payments.choices import PaymentState, PaymentTransactionType
from controltower.payments.models import Payment, PaymentTransaction
from controltower.payments.services import PaymentError, _order_payment_status

ZERO = Decimal(0)
TILL = "till"


@dataclass(frozen=True)
class TillTenderData:
    """One tender at the till: ``external_id`` unique in the POS (the transaction's id and the
    tender's), ``method`` the tender type (``card``, ``cash``, ``gift_card``), amount > 0."""

    external_id: str
    method: str
    amount: Decimal
    reference: str = ""  # card brand / last four, gift card number: for people


def _move_payment_status(order: Order, *, reason: str) -> None:
    target = _order_payment_status(order, list(Payment.objects.filter(order=order)))
    if target != order.payment_status:
        set_aspect(order, "payment_status", target, reason=reason)
    progress(order, reason=reason, aspect="payment_status")


@domain_service
def record_till_tenders(
    order: Order, tenders: list[TillTenderData], *, source_system: str, at: datetime
) -> list[Payment]:
    """The sale's tenders, each a captured Payment with its capture; the order's payment status
    moves. Tenders already held are left alone; returns the payments created."""
    with transaction.atomic(savepoint=False), correlated(order.correlation_id):
        order = lock_order(order.pk)
        held = set(
            Payment.objects.filter(
                source_system=source_system, external_id__in=[t.external_id for t in tenders]
            ).values_list("external_id", flat=True)
        )
        created = []
        for tender in tenders:
            if tender.external_id in held:
                continue
            if tender.amount <= 0:
                raise PaymentError(f"tender {tender.external_id}: amount must be positive")
            payment = Payment(
                order=order,
                correlation_id=order.correlation_id,
                source_system=source_system,
                external_id=tender.external_id,
                source_updated_at=at,
                gateway=TILL,
                method=tender.method,
                state=PaymentState.CAPTURED,
                currency=order.currency,
                amount=tender.amount,
                authorized_amount=tender.amount,
                captured_amount=tender.amount,
                capture_method=TILL,
            )
            stamp(payment, f"{tender.method} at the till")
            payment.save(force_insert=True)
            created.append(payment)
        if not created:
            return []
        bulk_create(
            PaymentTransaction,
            [
                PaymentTransaction(
                    payment=payment,
                    correlation_id=order.correlation_id,
                    source_system=source_system,
                    external_id=payment.external_id,
                    type=PaymentTransactionType.CAPTURE,
                    currency=order.currency,
                    amount=payment.amount,
                    occurred_at=at,
                )
                for payment in created
            ],
            reason="taken at the till",
        )
        order_events.step_recorded(
            order,
            OrderEventType.PAYMENT_UPDATED,
            payment="till",
            state=PaymentState.CAPTURED,
            captured=f"{sum((p.amount for p in created), ZERO):.2f}",
            currency=order.currency,
            transactions=[f"{p.method} {p.amount:.2f}" for p in created],
        )
        _move_payment_status(order, reason="paid at the till")
        return created


def _room(payment: Payment) -> Decimal:
    return payment.captured_amount - payment.refunded_amount


@domain_service
def record_till_refunds(
    order: Order, refunds: list[TillTenderData], *, source_system: str, at: datetime
) -> list[PaymentTransaction]:
    """Money given back at the till against the order's tenders of the same method (a return
    with its receipt, a void). A refund by a method the sale did not take, or more than it took,
    is refused (``PaymentError``, nothing written). Refunds already held are left alone."""
    with transaction.atomic(savepoint=False), correlated(order.correlation_id):
        order = lock_order(order.pk)
        held = set(
            PaymentTransaction.objects.filter(
                source_system=source_system,
                type=PaymentTransactionType.REFUND,
                external_id__in=[r.external_id for r in refunds],
            ).values_list("external_id", flat=True)
        )
        payments = list(Payment.objects.select_for_update().filter(order=order).order_by("pk"))
        rows, changed = [], {}
        for refund in refunds:
            if refund.external_id in held or refund.amount == 0:
                continue
            if refund.amount < 0:
                raise PaymentError(f"refund {refund.external_id}: amount must not be negative")
            left = refund.amount
            same = [p for p in payments if p.method == refund.method and _room(p) > 0]
            room = sum((_room(p) for p in same), ZERO)
            if room < left:
                raise PaymentError(
                    f"refund {refund.external_id} gives back {left:.2f} {order.currency} by "
                    f"{refund.method}, but order {order.number} has only {room:.2f} "
                    f"{order.currency} taken by {refund.method} left to refund"
                )
            for number, payment in enumerate(same):
                take = min(left, _room(payment))
                if take <= 0:
                    continue
                payment.refunded_amount += take
                payment.state = (
                    PaymentState.REFUNDED
                    if payment.refunded_amount >= payment.captured_amount
                    else PaymentState.PARTIALLY_REFUNDED
                )
                changed[payment.pk] = payment
                suffix = f":{number}" if number else ""
                rows.append(
                    PaymentTransaction(
                        payment=payment,
                        correlation_id=order.correlation_id,
                        source_system=source_system,
                        external_id=f"{refund.external_id}{suffix}",
                        type=PaymentTransactionType.REFUND,
                        currency=order.currency,
                        amount=take,
                        occurred_at=at,
                    )
                )
                left -= take
                if left == 0:
                    break
        if not rows:
            return []
        for payment in changed.values():
            stamp(payment, "refunded at the till")
            payment.save(update_fields=["refunded_amount", "state", "updated_at"])
        created = bulk_create(PaymentTransaction, rows, reason="given back at the till")
        order_events.step_recorded(
            order,
            OrderEventType.PAYMENT_UPDATED,
            payment="till",
            state="refunded",
            refunded=f"{sum((r.amount for r in rows), ZERO):.2f}",
            currency=order.currency,
            transactions=[f"refund {r.amount:.2f}" for r in rows],
        )
        _move_payment_status(order, reason="refunded at the till")
        return created


# --- end of day: the store's own totals against what reached us ---------------------------------
@dataclass(frozen=True)
class DayCloseData:
    """A store's end-of-day close (Z report): what each tender method took net of what it gave
    back, for the business day (the UTC date of the transactions' times)."""

    source_system: str
    store: str  # location code
    business_date: date
    external_id: str
    currency: str
    transaction_count: int
    tenders: dict[str, Decimal] = field(default_factory=dict)


NO_RECEIPT_PREFIX = "pos:no-receipt:"


@dataclass(frozen=True)
class UnreceiptedReturnData:
    """A return without its receipt: goods taken back at the store's price, money given back."""

    source_system: str
    external_id: str  # <store>:<register>:<id>
    number: str
    store: str
    business_date: date
    currency: str
    total: Decimal
    tenders: list[TillTenderData]
    lines: list[str]  # "2 × TEE-1 (24.00)", for people
    reason: str = ""


def _by_method(tenders: list[TillTenderData]) -> dict[str, Decimal]:
    totals: dict[str, Decimal] = {}
    for tender in tenders:
        totals[tender.method] = totals.get(tender.method, ZERO) + tender.amount
    return totals


@domain_service
def record_unreceipted_return(data: UnreceiptedReturnData, *, limit: Decimal) -> OpsException:
    """A return without a receipt names no order to refund, so it is recorded in the work queue
    (not as a Refund): over ``limit`` it stays open for a person to check; within it, it is
    resolved at once, kept for the record. Either way it counts in the store's takings for its
    end-of-day close. Idempotent by the return's id."""
    key = f"{NO_RECEIPT_PREFIX}{data.external_id}"
    held = OpsException.objects.filter(dedupe_key=key).first()
    if held is not None:
        return held
    over = data.total > limit
    with transaction.atomic(savepoint=False):
        found = open_exception(
            type=ExceptionType.REFUND_APPROVAL,
            dedupe_key=key,
            title=f"Return without receipt {data.number} at store {data.store}: "
            f"{data.total:.2f} {data.currency} given back",
            detail=f"{', '.join(data.lines)} taken back at the store's price without a receipt; "
            f"given back {', '.join(f'{t.method} {t.amount:.2f}' for t in data.tenders)}. "
            + (
                f"More than the no-receipt limit of {limit:.2f} {data.currency}: check it with "
                "the store."
                if over
                else f"Within the no-receipt limit of {limit:.2f} {data.currency}."
            ),
            severity=Severity.HIGH if over else Severity.LOW,
            money_at_risk=data.total,
            currency=data.currency,
            subject_type="catalog.location",
            subject_id=str(
                Location.objects.filter(code=data.store).values_list("pk", flat=True).first() or ""
            ),
            context={
                "source_system": data.source_system,
                "store": data.store,
                "business_date": data.business_date.isoformat(),
                "return": data.external_id,
                "tenders": {m: f"{a:.2f}" for m, a in _by_method(data.tenders).items()},
                "reason": data.reason,
            },
        )
        if not over:
            close_exceptions_for(key, reason="within the no-receipt limit")
        return found


def day_close_key(store: str, day: date) -> str:
    return f"pos:day-close:{store}:{day.isoformat()}"


def till_takings(source_system: str, store: str, day: date) -> dict[str, Decimal]:
    """Net per tender method of the store's till transactions we hold for ``day``: captures
    less refunds, by the tender's method (ids of a store's transactions start ``<store>:``)."""
    start = datetime.combine(day, time.min, tzinfo=UTC)
    rows = (
        PaymentTransaction.objects.filter(
            source_system=source_system,
            external_id__startswith=f"{store}:",
            occurred_at__gte=start,
            occurred_at__lt=start + timedelta(days=1),
            succeeded=True,
        )
        .values_list("payment__method", "type")
        .annotate(total=Sum("amount"))
    )
    takings: dict[str, Decimal] = {}
    for method, kind, total in rows:
        sign = -1 if kind == PaymentTransactionType.REFUND else 1
        takings[method] = takings.get(method, ZERO) + sign * (total or ZERO)
    # returns without a receipt gave money back too (recorded in the work queue, whatever state)
    for context in OpsException.objects.filter(
        dedupe_key__startswith=f"{NO_RECEIPT_PREFIX}{store}:",
        context__business_date=day.isoformat(),
        context__source_system=source_system,
    ).values_list("context", flat=True):
        for method, amount in (context.get("tenders") or {}).items():
            takings[method] = takings.get(method, ZERO) - Decimal(amount)
    return takings


def _differences(reported: dict[str, Decimal], held: dict[str, Decimal]) -> dict[str, Decimal]:
    return {
        method: reported.get(method, ZERO) - held.get(method, ZERO)
        for method in sorted(set(reported) | set(held))
        if reported.get(method, ZERO) != held.get(method, ZERO)
    }


def _compare(
    *,
    source_system: str,
    store: str,
    day: date,
    currency: str,
    reported: dict[str, Decimal],
    context: dict[str, Any],
) -> OpsException | None:
    key = day_close_key(store, day)
    held = till_takings(source_system, store, day)
    differences = _differences(reported, held)
    if not differences:
        close_exceptions_for(key, reason="the transactions received match the end-of-day totals")
        return None
    difference = sum(differences.values(), ZERO)
    per_method = "; ".join(
        f"{method}: store {reported.get(method, ZERO):.2f}, received {held.get(method, ZERO):.2f}"
        f" (difference {amount:+.2f})"
        for method, amount in differences.items()
    )
    return open_exception(
        type=ExceptionType.RECONCILIATION_BREAK,
        dedupe_key=key,
        title=f"Store {store} {day.isoformat()}: end-of-day totals differ from the transactions "
        f"received by {difference:+.2f} {currency}",
        detail=f"The store's end-of-day close says net {sum(reported.values(), ZERO):.2f} "
        f"{currency}; the transactions received add up to {sum(held.values(), ZERO):.2f} "
        f"{currency} (difference {difference:+.2f}). Per tender: {per_method}. Transactions "
        "still on their way (an offline store's upload) close this by themselves.",
        severity=Severity.HIGH,
        money_at_risk=abs(difference),
        currency=currency,
        subject_type="catalog.location",
        subject_id=str(
            Location.objects.filter(code=store).values_list("pk", flat=True).first() or ""
        ),
        context={
            **context,
            "difference": f"{difference:.2f}",
            "differences": {m: f"{a:.2f}" for m, a in differences.items()},
        },
    )


@domain_service
def record_day_close(data: DayCloseData) -> OpsException | None:
    """Compare the store's end-of-day totals with what we hold: an exception with the
    difference when they differ (refreshed by a second close), closed when they agree."""
    for method, amount in data.tenders.items():
        if not isinstance(amount, Decimal):
            raise PaymentError(f"day close {data.external_id}: {method} is not an amount")
    with transaction.atomic(savepoint=False):
        return _compare(
            source_system=data.source_system,
            store=data.store,
            day=data.business_date,
            currency=data.currency,
            reported=data.tenders,
            context={
                "source_system": data.source_system,
                "store": data.store,
                "business_date": data.business_date.isoformat(),
                "close": data.external_id,
                "currency": data.currency,
                "transaction_count": data.transaction_count,
                "reported": {m: f"{a:.2f}" for m, a in data.tenders.items()},
            },
        )


@domain_service
def recheck_day_close(source_system: str, store: str, day: date) -> None:
    """A transaction of ``store`` for ``day`` arrived: if its close disagreed, compare again
    (the exception closes once the late transactions make the totals match)."""
    found = OpsException.objects.open().filter(dedupe_key=day_close_key(store, day)).first()
    if found is None:
        return
    context = dict(found.context or {})
    reported = {m: Decimal(a) for m, a in (context.get("reported") or {}).items()}
    with transaction.atomic(savepoint=False):
        _compare(
            source_system=source_system,
            store=store,
            day=day,
            currency=str(context.get("currency") or found.currency),
            reported=reported,
            context={k: v for k, v in context.items() if k not in ("difference", "differences")},
        )


__all__ = [
    "TILL",
    "DayCloseData",
    "TillTenderData",
    "UnreceiptedReturnData",
    "day_close_key",
    "recheck_day_close",
    "record_day_close",
    "record_till_refunds",
    "record_till_tenders",
    "record_unreceipted_return",
    "till_takings",
]
