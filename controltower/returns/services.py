"""Refund services: the only write path for refunds.

A channel reports a refund in two steps: its summary (id, amount, reason) arrives with the order,
and its lines (which order lines, how many, how much tax) are read afterwards. Both steps are
idempotent: a refund is keyed by (source system, external id), and its lines are written once.
Approval and posting come later; a recorded refund stays ``requested``.

Refusals raise inside a savepoint (refunds are rare, so it costs little) so that a caller can
record why and carry on in its own transaction.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass
from decimal import Decimal

from django.db import transaction
from django.db.models import Sum
from django.utils import timezone

from controltower.core.context import correlated
from controltower.core.models import stamp
from controltower.core.writepath import domain_service
from controltower.orders.locks import lock_order
from controltower.orders.models import Order
from controltower.returns import events
from controltower.returns.locks import lock_refund
from controltower.returns.models import Refund, RefundLine

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class ChannelRefundData:
    """A refund as its channel reports it with the order (amount positive)."""

    external_id: str
    amount: Decimal
    reason: str = ""


@dataclass(frozen=True)
class ChannelRefundLineData:
    """One line of a refund: the order line (by its external id), quantity and money."""

    external_id: str
    order_line_external_id: str
    quantity: int
    amount: Decimal
    tax: Decimal


class RefundError(ValueError):
    """The refund cannot be recorded as reported; nothing was written."""


class RefundExceedsOrder(RefundError):
    pass


def _refunded_total(order: Order) -> Decimal:
    return order.refunds.aggregate(total=Sum("amount"))["total"] or Decimal(0)


@domain_service
def record_channel_refunds(
    order: Order, refunds: Sequence[ChannelRefundData], *, source_system: str
) -> list[Refund]:
    """Record the refunds a channel reports for ``order``; returns the ones created.

    Refunds already held are left as they are (a re-delivered webhook or the backfill changes
    nothing). Refunds that would give back more than the order's total are refused as a whole.
    """
    with transaction.atomic():
        order = lock_order(order.pk)
        held = set(
            order.refunds.filter(source_system=source_system).values_list("external_id", flat=True)
        )
        new = [r for r in refunds if r.external_id not in held]
        if not new:
            return []
        for refund in new:
            if refund.amount <= 0:
                raise RefundError(f"refund {refund.external_id}: amount must be positive")
        after = _refunded_total(order) + sum((r.amount for r in new), Decimal(0))
        if after > order.total_amount:
            raise RefundExceedsOrder(
                f"refunds of order #{order.number} would total {after:.2f} {order.currency}, "
                f"more than the order's {order.total_amount:.2f} {order.currency}"
            )
        created: list[Refund] = []
        with correlated(order.correlation_id):
            for data in new:
                refund = Refund(
                    order=order,
                    correlation_id=order.correlation_id,
                    source_system=source_system,
                    external_id=data.external_id,
                    source_updated_at=order.source_updated_at,
                    currency=order.currency,
                    amount=data.amount,
                    reason=data.reason[:255],
                )
                stamp(refund, f"reported by {source_system}")
                refund.save()
                events.refund_recorded(
                    refund,
                    source=source_system,
                    amount=f"{data.amount:.2f}",
                    currency=order.currency,
                )
                logger.info(
                    "refund %s of order %s recorded: %s %s",
                    data.external_id,
                    order.number,
                    data.amount,
                    order.currency,
                )
                created.append(refund)
        return created


@domain_service
def record_refund_lines(refund: Refund, lines: Sequence[ChannelRefundLineData]) -> Refund:
    """Write a refund's lines as its source details them; a second call changes nothing.

    Every line must name a line of the refund's order, and the lines together (with tax) must
    not give back more than the refund; otherwise ``RefundError`` and nothing is written.
    """
    with transaction.atomic():
        refund = lock_refund(refund.pk)
        if refund.details_fetched_at is not None:
            return refund
        with correlated(refund.correlation_id):
            order_lines = {
                line.external_id: line
                for line in refund.order.lines.filter(
                    external_id__in=[ln.order_line_external_id for ln in lines]
                )
            }
            rows: list[RefundLine] = []
            for data in lines:
                order_line = order_lines.get(data.order_line_external_id)
                if order_line is None:
                    raise RefundError(
                        f"refund {refund.external_id}: line {data.order_line_external_id!r} "
                        f"is not a line of order #{refund.order.number}"
                    )
                if data.quantity > order_line.quantity:
                    raise RefundError(
                        f"refund {refund.external_id}: {data.quantity} × {order_line.sku_code} "
                        f"refunded, but the order has {order_line.quantity}"
                    )
                rows.append(
                    RefundLine(
                        refund=refund,
                        order_line=order_line,
                        correlation_id=refund.correlation_id,
                        source_system=refund.source_system,
                        external_id=data.external_id,
                        quantity=data.quantity,
                        currency=refund.currency,
                        amount=data.amount,
                        tax_amount=data.tax,
                    )
                )
            tax = sum((row.tax_amount for row in rows), Decimal(0))
            given_back = sum((row.amount for row in rows), Decimal(0)) + tax
            if given_back > refund.amount:
                raise RefundError(
                    f"refund {refund.external_id}: its lines give back {given_back:.2f} "
                    f"{refund.currency}, more than the refund's {refund.amount:.2f}"
                )
            for row in rows:
                stamp(row, f"detailed by {refund.source_system}")
                row.save()
            refund.tax_amount = tax
            refund.details_fetched_at = timezone.now()
            stamp(refund, f"lines read from {refund.source_system}")
            refund.save(update_fields=["tax_amount", "details_fetched_at", "updated_at"])
            events.refund_details_recorded(refund, lines=len(rows), tax=f"{tax:.2f}")
    return refund


@domain_service
def refuse_refund_lines(refund: Refund, *, reason: str) -> None:
    """Record that a refund's lines could not be taken as its source reported them."""
    with transaction.atomic(), correlated(refund.correlation_id):
        events.refund_details_refused(refund, reason=reason[:2000])
    logger.warning("refund %s lines refused: %s", refund.external_id, reason)
