"""Payments: the gateway's view of an order's money, applied; and what the order's lifecycle
asks of the gateway (capture at shipment, void or refund on cancel).

The gateway is the system of record for a payment: an adapter reads the payment as the gateway
holds it now (after any webhook, in whatever order they came) and :func:`sync_gateway_payment`
makes our rows match — idempotent, so duplicates and replays change nothing.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal
from typing import Any

from django.db import transaction
from django.dispatch import receiver

from controltower.catalog.models import Channel
from controltower.core import memo
from controltower.core.context import correlated
from controltower.core.errors import NotYet
from controltower.core.models import bulk_create, stamp
from controltower.core.writepath import domain_service
from controltower.exceptions.choices import ExceptionType, Severity
from controltower.exceptions.services import close_exceptions_for, open_exception
from controltower.orders import events as order_events
from controltower.orders.choices import FulfilmentStatus, OrderEventType, PaymentStatus
from controltower.orders.lifecycle import AT_SHIPMENT
from controltower.orders.locks import lock_order
from controltower.orders.models import Order
from controltower.orders.services.lifecycle import capture_mode, progress, refuse_step, set_aspect
from controltower.orders.signals import order_cancelled, order_lines_cancelled, order_progressed
from controltower.payments.choices import PaymentState
from controltower.payments.models import Payment, PaymentTransaction
from controltower.payments.signals import (
    payment_capture_due,
    payment_refund_due,
    payment_void_due,
)

logger = logging.getLogger(__name__)

CENT = Decimal("0.01")


class PaymentError(ValueError):
    """The gateway's report cannot be applied; the message says why."""


@dataclass(frozen=True)
class GatewayTransactionData:
    external_id: str
    type: str  # PaymentTransactionType
    amount: Decimal
    occurred_at: datetime
    fee: Decimal = Decimal(0)
    succeeded: bool = True


@dataclass(frozen=True)
class GatewayPaymentData:
    """A payment as the gateway holds it now (amounts in major units, upper-case currency)."""

    source_system: str  # the gateway connection's slug
    external_id: str  # the gateway's payment id
    order_reference: str  # "<channel code>-<order number>", as the storefront told the gateway
    state: str  # PaymentState
    currency: str
    amount: Decimal
    authorized: Decimal
    captured: Decimal
    refunded: Decimal
    capture_method: str = ""
    gateway: str = ""
    transactions: list[GatewayTransactionData] = field(default_factory=list)
    source_updated_at: datetime | None = None


def order_reference(order: Order) -> str:
    return order.reference


def find_order(reference: str) -> Order | None:
    """The order a gateway reference names (``<channel code>-<number>``)."""
    # The channels once per drain batch (controltower.core.memo): every gateway event asks.
    channels = memo.remember(("channels",), lambda: list(Channel.objects.all()))
    for channel in channels:
        prefix = f"{channel.code}-"
        if reference.startswith(prefix):
            order = Order.objects.filter(channel=channel, number=reference[len(prefix) :]).first()
            if order is not None:
                return order
    return None


def _order_payment_status(order: Order, payments: list[Payment]) -> str:
    live = [p for p in payments if p.state != PaymentState.FAILED]
    if not live:
        return PaymentStatus.FAILED if payments else PaymentStatus.NONE
    captured = sum((p.captured_amount for p in live), Decimal(0))
    refunded = sum((p.refunded_amount for p in live), Decimal(0))
    if all(p.state == PaymentState.VOIDED for p in live):
        return PaymentStatus.VOIDED
    if captured > 0 and refunded >= captured:
        return PaymentStatus.REFUNDED
    if refunded > 0:
        return PaymentStatus.PARTIALLY_REFUNDED
    finished = all(p.state in (PaymentState.CAPTURED, PaymentState.VOIDED) for p in live)
    if captured > 0 and (finished or captured >= order.total_amount):
        return PaymentStatus.CAPTURED
    if captured > 0:
        return PaymentStatus.PARTIALLY_CAPTURED
    return PaymentStatus.AUTHORIZED


def _mismatch(order: Order, data: GatewayPaymentData) -> str:
    if data.currency != order.currency:
        return f"the payment is in {data.currency}, the order in {order.currency}"
    if data.amount != order.total_amount:
        return (
            f"the payment is for {data.amount:.2f} {data.currency}, "
            f"the order totals {order.total_amount:.2f} {order.currency}"
        )
    return ""


@domain_service
def sync_gateway_payment(data: GatewayPaymentData) -> Payment | None:
    """Make our payment (and its transactions) match the gateway's; move the order's payment
    status; flag a payment that does not match its order. NotYet while the order is unknown;
    None when the payment was refused (currency: recorded, exception opened, nothing applied)."""
    found = find_order(data.order_reference)
    if found is None:
        raise NotYet(f"no order {data.order_reference!r} yet")
    with transaction.atomic(savepoint=False), correlated(found.correlation_id):
        order = lock_order(found.pk)
        mismatch = _mismatch(order, data)
        mismatch_key = f"payment:{data.source_system}:{data.external_id}:mismatch"
        if mismatch:
            open_exception(
                type=ExceptionType.PAYMENT_MISMATCH,
                dedupe_key=mismatch_key,
                title=f"{order}: payment {data.external_id} does not match the order",
                detail=mismatch,
                severity=Severity.HIGH,
                correlation_id=order.correlation_id,
                money_at_risk=abs(order.total_amount - data.amount)
                if data.currency == order.currency
                else order.total_amount,
                currency=order.currency,
                subject_type="orders.order",
                subject_id=str(order.pk),
                context={"payment": data.external_id, "gateway": data.source_system},
            )
        else:
            close_exceptions_for(mismatch_key, reason="the payment matches its order")
        if data.currency != order.currency:
            refuse_step(
                order,
                step="payment",
                current=order.payment_status,
                target=data.state,
                reason=mismatch,
            )
            return None
        payment = Payment.objects.select_for_update().filter(
            source_system=data.source_system, external_id=data.external_id
        ).first() or Payment(
            order=order,
            correlation_id=order.correlation_id,
            source_system=data.source_system,
            external_id=data.external_id,
            gateway=data.gateway or data.source_system,
            method=order.payment_method,
        )
        if payment.pk and payment.is_stale(data.source_updated_at):
            return payment
        known = set(
            PaymentTransaction.objects.filter(payment=payment).values_list("external_id", flat=True)
            if payment.pk
            else []
        )
        fresh = [t for t in data.transactions if t.external_id not in known]
        fee = sum((t.fee for t in data.transactions), Decimal(0))
        values = {
            "state": data.state,
            "currency": data.currency,
            "amount": data.amount,
            "authorized_amount": data.authorized,
            "captured_amount": data.captured,
            "refunded_amount": min(data.refunded, data.captured),
            "fee_amount": fee,
            "capture_method": data.capture_method,
            "source_updated_at": data.source_updated_at,
        }
        changed = [k for k, v in values.items() if getattr(payment, k) != v]
        if not changed and not fresh and payment.pk:
            return payment
        for name, value in values.items():
            setattr(payment, name, value)
        stamp(payment, f"gateway says {data.state}"[:100])
        payment.save()
        bulk_create(
            PaymentTransaction,
            [
                PaymentTransaction(
                    payment=payment,
                    correlation_id=order.correlation_id,
                    source_system=data.source_system,
                    external_id=t.external_id,
                    type=t.type,
                    currency=data.currency,
                    amount=t.amount,
                    fee_amount=t.fee,
                    succeeded=t.succeeded,
                    occurred_at=t.occurred_at,
                )
                for t in fresh
            ],
            reason="reported by the gateway",
        )
        order_events.step_recorded(
            order,
            OrderEventType.PAYMENT_UPDATED,
            payment=data.external_id,
            state=data.state,
            authorized=f"{data.authorized:.2f}",
            captured=f"{data.captured:.2f}",
            refunded=f"{data.refunded:.2f}",
            fee=f"{fee:.2f}",
            currency=data.currency,
            transactions=[f"{t.type} {t.amount:.2f}" for t in fresh],
        )
        payments = list(Payment.objects.filter(order=order))
        target = _order_payment_status(order, payments)
        if target != order.payment_status:
            set_aspect(order, "payment_status", target, reason=f"gateway: {data.state}")
        progress(order, reason=f"payment {data.external_id} {data.state}", aspect="payment_status")
        return payment


def _remaining_to_capture(payment: Payment) -> Decimal:
    return max(Decimal(0), payment.authorized_amount - payment.captured_amount)


def _shipped_value(order: Order) -> Decimal:
    """What the shipped quantities are worth (line totals pro rata, plus shipping once any
    line shipped)."""
    value = Decimal(0)
    for line in order.lines.all():
        if line.quantity_shipped:
            value += (line.total_amount * line.quantity_shipped / line.quantity).quantize(CENT)
    if value:
        value += order.shipping_amount
    return value


def _capture_asked(order: Order, payment: Payment) -> Decimal:
    """What this order's shipments have asked the gateway to capture of the payment so far,
    confirmed or not yet (a second parcel must not ask again for the first one's value)."""
    asked = order.events.filter(
        type=OrderEventType.PAYMENT_REQUESTED,
        parameters__action="capture",
        parameters__payment=payment.external_id,
    ).values_list("parameters__amount", flat=True)
    return sum((Decimal(str(amount)) for amount in asked), Decimal(0))


def _order_value(order: Order) -> Decimal:
    """The order's total less what its cancelled units were worth (tax included)."""
    cancelled = sum(
        (
            ((line.total_amount + line.tax_amount) * line.quantity_cancelled / line.quantity)
            for line in order.lines.all()
            if line.quantity_cancelled
        ),
        Decimal(0),
    )
    return order.total_amount - cancelled.quantize(CENT)


@receiver(order_lines_cancelled, dispatch_uid="payments.refund_cancelled_lines")
def refund_cancelled_lines(
    sender: Any, *, order: Order, value: Decimal, key: str, reason: str, **_: Any
) -> None:
    """Units cancelled after their money was captured: refunded (captured payments first, each
    at most what it still holds). An authorization not captured yet needs nothing now: its
    final capture takes only what the order is still worth."""
    left = value
    for payment in Payment.objects.filter(order=order).order_by("-captured_amount", "pk"):
        held = payment.captured_amount - payment.refunded_amount
        if left <= 0 or held <= 0:
            continue
        amount = min(left, held)
        payment_refund_due.send(
            sender=Payment, payment=payment, amount=amount, key=f"lines:{key}", reason=reason
        )
        order_events.step_recorded(
            order,
            OrderEventType.PAYMENT_REQUESTED,
            action="refund",
            payment=payment.external_id,
            amount=f"{amount:.2f}",
            why="lines cancelled",
        )
        left -= amount


@receiver(order_progressed, dispatch_uid="payments.capture_at_shipment")
def capture_at_shipment(sender: Any, *, order: Order, aspect: str, reason: str, **_: Any) -> None:
    """Authorize-at-checkout methods are captured as the order ships: each shipment captures
    what it shipped; the last one captures what remains of the authorization."""
    if aspect != "fulfilment_status" or capture_mode(order) != AT_SHIPMENT:
        return
    if order.payment_status not in (PaymentStatus.AUTHORIZED, PaymentStatus.PARTIALLY_CAPTURED):
        return
    final = order.fulfilment_status == FulfilmentStatus.SHIPPED
    for payment in Payment.objects.filter(order=order, state=PaymentState.AUTHORIZED):
        remaining = _remaining_to_capture(payment)
        # the last shipment takes what the order is still worth (lines cancelled meanwhile are
        # not charged); the authorization's rest is released by ``final``
        target = _order_value(order) if final else _shipped_value(order)
        asked = max(payment.captured_amount, _capture_asked(order, payment))
        due = min(remaining, target - asked)
        if due <= 0:
            continue
        key = f"{order.fulfilment_status}:{due:.2f}"
        payment_capture_due.send(
            sender=Payment, payment=payment, amount=due, final=final, key=key, reason=reason
        )
        order_events.step_recorded(
            order,
            OrderEventType.PAYMENT_REQUESTED,
            action="capture",
            payment=payment.external_id,
            amount=f"{due:.2f}",
            final=final,
        )


@domain_service
def compensate_payments(order: Order, *, reason: str) -> list[str]:
    """A cancelled order's money goes back: authorizations voided, captures refunded (each an
    outbox message of the gateway connector). Returns what was asked for."""
    asked = []
    for payment in Payment.objects.filter(order=order):
        if payment.state == PaymentState.AUTHORIZED and payment.captured_amount == 0:
            payment_void_due.send(sender=Payment, payment=payment, reason=reason)
            asked.append(f"void {payment.external_id}")
        open_amount = payment.captured_amount - payment.refunded_amount
        if open_amount > 0:
            payment_refund_due.send(
                sender=Payment,
                payment=payment,
                amount=open_amount,
                key=f"cancel:{open_amount:.2f}",
                reason=reason,
            )
            asked.append(f"refund {open_amount:.2f} of {payment.external_id}")
    if asked:
        order_events.step_recorded(
            order, OrderEventType.PAYMENT_REQUESTED, action="compensate", asked=asked
        )
    return asked


@receiver(order_cancelled, dispatch_uid="payments.compensate_cancel")
def _on_cancel(sender: Any, *, order: Order, reason: str = "", **_: Any) -> None:
    compensate_payments(order, reason=reason or "order cancelled")
