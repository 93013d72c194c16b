"""Fulfilment: the warehouse's steps on an order — released, picking, backordered, shipped
(in parts) — applied through the order's fulfilment table, and a cancelled order's release
withdrawn where it still can be.

A shipment is applied only when every line of it was released and fits what is left to ship;
otherwise it is refused whole: recorded on the timeline, an exception opened, nothing applied.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal
from typing import Any

from django.db import transaction
from django.dispatch import receiver
from django.utils import timezone

from controltower.core.context import correlated
from controltower.core.models import bulk_create, bulk_update, stamp
from controltower.core.writepath import domain_service
from controltower.exceptions.choices import ExceptionType, Severity
from controltower.exceptions.services import open_exception
from controltower.fulfilment.choices import ShipmentState
from controltower.fulfilment.models import Shipment, ShipmentLine
from controltower.fulfilment.signals import release_cancel_due, shipment_recorded
from controltower.inventory.choices import ReservationStatus
from controltower.inventory.models import Reservation
from controltower.inventory.services import stock_changed
from controltower.orders import events as order_events
from controltower.orders.choices import (
    FulfilmentStatus,
    OrderEventType,
    OrderLineStatus,
    OrderState,
)
from controltower.orders.locks import lock_order
from controltower.orders.models import Order, OrderLine
from controltower.orders.services.lifecycle import (
    LIFECYCLE_FIELDS,
    announce,
    derive,
    progress,
    set_aspect,
)
from controltower.orders.signals import order_cancelled, order_lines_cancelled

logger = logging.getLogger(__name__)

F = FulfilmentStatus
CENT = Decimal("0.01")
SHIPPABLE = frozenset({F.RELEASED, F.PICKING, F.PARTIALLY_SHIPPED})
ENDED = frozenset({OrderState.CANCELLED, OrderState.FAILED, OrderState.REFUNDED})


@dataclass(frozen=True)
class ShipmentLineData:
    line_number: int
    sku_code: str
    quantity: int


@dataclass(frozen=True)
class ShipmentData:
    source_system: str  # the WMS connection's slug
    external_id: str  # the WMS shipment id
    release_reference: str
    carrier: str
    tracking_number: str
    shipped_at: datetime
    lines: list[ShipmentLineData] = field(default_factory=list)


def _open_to_ship(line: OrderLine) -> int:
    return line.quantity - line.quantity_cancelled - line.quantity_shipped


def _all_shipped(lines: list[OrderLine]) -> bool:
    return all(line.quantity_shipped + line.quantity_cancelled >= line.quantity for line in lines)


@domain_service
def record_release(order: Order, *, reference: str, connection: str) -> Order:
    """The warehouse accepted the release: its reference, and every open line released."""
    with transaction.atomic(savepoint=False), correlated(order.correlation_id):
        order = lock_order(order.pk)
        if order.wms_reference == reference and order.fulfilment_status != F.RELEASE_REQUESTED:
            return order
        if not set_aspect(order, "fulfilment_status", F.RELEASED, reason=f"WMS {reference}"):
            return order
        order.wms_reference = reference
        order.released_at = timezone.now()
        lines = list(order.lines.all())
        for line in lines:
            line.quantity_released = line.quantity - line.quantity_cancelled
            stamp(line, f"released to WMS {reference}")
        bulk_update(OrderLine, lines, ["quantity_released"])
        order_events.step_recorded(
            order, OrderEventType.RELEASED, wms_reference=reference, connection=connection
        )
        progress(order, reason=f"released to WMS as {reference}", aspect="fulfilment_status")
        return order


@domain_service
def record_warehouse_progress(order: Order, *, status: str, reference: str) -> Order:
    """Picking started (or packed: recorded only)."""
    with transaction.atomic(savepoint=False), correlated(order.correlation_id):
        order = lock_order(order.pk)
        order_events.step_recorded(
            order, OrderEventType.WAREHOUSE_PROGRESS, status=status, wms_reference=reference
        )
        if status == "picking" and order.fulfilment_status == F.RELEASED:
            set_aspect(order, "fulfilment_status", F.PICKING, reason=f"WMS {reference} picking")
            progress(order, reason="picking in the warehouse", aspect="fulfilment_status")
        return order


@domain_service
def record_warehouse_progress_many(steps: list[tuple[int, str, str]]) -> dict[int, Order]:
    """:func:`record_warehouse_progress` for many ``(order pk, status, reference)`` steps at once,
    each order's in the given order: the orders locked in one statement (in pk order), the ones
    whose picking started updated in one and their history in one. Returns the orders found, by
    pk; a step naming an order that is gone is skipped."""
    with transaction.atomic(savepoint=False):
        orders = {
            order.pk: order
            for order in Order.objects.select_for_update(of=("self",))
            .select_related("channel")
            .filter(pk__in={pk for pk, _, _ in steps})
            .order_by("pk")
        }
        moved: dict[int, tuple[str, bool, str]] = {}  # lifecycle.derive per order, and why
        for pk, status, reference in steps:
            order = orders.get(pk)
            if order is None:
                continue
            with correlated(order.correlation_id):
                order_events.step_recorded(
                    order, OrderEventType.WAREHOUSE_PROGRESS, status=status, wms_reference=reference
                )
                if status != "picking" or order.fulfilment_status != F.RELEASED:
                    continue
                set_aspect(order, "fulfilment_status", F.PICKING, reason=f"WMS {reference} picking")
                reason = "picking in the warehouse"  # (saved even when refused, as one by one)
                old_stage, release = derive(order, reason=reason)
                stamp(order, reason)
                moved[pk] = (old_stage, release, reason)
        changed = [orders[pk] for pk in moved]
        # One statement for the orders and one for their history rows, as save() would write.
        bulk_update(Order, changed, list(LIFECYCLE_FIELDS))
        for order in changed:
            old_stage, release, reason = moved[order.pk]
            with correlated(order.correlation_id):
                announce(
                    order,
                    old_stage=old_stage,
                    release=release,
                    aspect="fulfilment_status",
                    reason=reason,
                )
        return orders


@domain_service
def record_release_cancelled(order: Order, *, reference: str, reason: str) -> Order:
    """The warehouse withdrew the release (or it was never made: ``reference`` blank)."""
    with transaction.atomic(savepoint=False), correlated(order.correlation_id):
        order = lock_order(order.pk)
        if order.fulfilment_status == F.RELEASE_CANCELLED:
            return order
        if set_aspect(order, "fulfilment_status", F.RELEASE_CANCELLED, reason=reason):
            order_events.step_recorded(
                order, OrderEventType.RELEASE_CANCELLED, wms_reference=reference, reason=reason
            )
            progress(order, reason=f"release withdrawn: {reason}", aspect="fulfilment_status")
        return order


@domain_service
def record_backorder(order: Order, *, lines: list[ShipmentLineData], reference: str) -> Order:
    """The warehouse cannot ship some quantities now (short pick): they wait on the lines as
    backordered until they ship or a person cancels them."""
    with transaction.atomic(savepoint=False), correlated(order.correlation_id):
        order = lock_order(order.pk)
        held = {line.line_number: line for line in order.lines.all()}
        changed = []
        for item in lines:
            line = held.get(item.line_number)
            if line is None:
                continue
            quantity = min(item.quantity, _open_to_ship(line))
            if quantity <= 0 or line.quantity_backordered == quantity:
                continue
            line.quantity_backordered = quantity
            line.status = OrderLineStatus.BACKORDERED
            stamp(line, f"backordered in WMS {reference}")
            changed.append(line)
        if changed:
            bulk_update(OrderLine, changed, ["quantity_backordered", "status"])
            order_events.step_recorded(
                order,
                OrderEventType.BACKORDERED,
                wms_reference=reference,
                lines={line.line_number: line.quantity_backordered for line in changed},
            )
            progress(order, reason="backordered in the warehouse", aspect="lines")
        return order


def _shipment_problem(order: Order, data: ShipmentData, held: dict[int, OrderLine]) -> str:
    if order.state in ENDED:
        return f"the order is {order.state}: a shipment for it cannot be applied"
    if order.fulfilment_status not in SHIPPABLE:
        return (
            "the order was never released to the warehouse "
            f"(fulfilment is {order.fulfilment_status})"
        )
    if not data.lines:
        return "the shipment has no lines"
    wanted: dict[int, int] = {}
    for item in data.lines:
        wanted[item.line_number] = wanted.get(item.line_number, 0) + item.quantity
    for number, quantity in wanted.items():
        line = held.get(number)
        if line is None or line.quantity_released == 0:
            return f"line {number} was never released to the warehouse"
        if quantity <= 0:
            return f"line {number}: quantity must be positive"
        if quantity > _open_to_ship(line):
            return (
                f"line {number} ({line.sku_code}) ships {quantity}, but only "
                f"{_open_to_ship(line)} of {line.quantity} is left to ship"
            )
    return ""


@domain_service
def record_shipment(order: Order, data: ShipmentData) -> Shipment | None:
    """Apply a shipment (idempotent by its WMS id); None when it was refused."""
    with transaction.atomic(savepoint=False), correlated(order.correlation_id):
        order = lock_order(order.pk)
        existing = Shipment.objects.filter(
            source_system=data.source_system, external_id=data.external_id
        ).first()
        if existing is not None:
            return existing
        held = {line.line_number: line for line in order.lines.all()}
        problem = _shipment_problem(order, data, held)
        if problem:
            order_events.step_recorded(
                order,
                OrderEventType.STEP_REFUSED,
                step="shipment",
                target=data.external_id,
                reason=problem,
                current=order.fulfilment_status,
            )
            open_exception(
                type=ExceptionType.SHIPMENT_REFUSED,
                dedupe_key=f"shipment:{data.source_system}:{data.external_id}",
                title=f"{order}: shipment {data.external_id} refused",
                detail=problem,
                severity=Severity.HIGH,
                correlation_id=order.correlation_id,
                money_at_risk=order.total_amount,
                currency=order.currency,
                subject_type="orders.order",
                subject_id=str(order.pk),
                context={
                    "shipment": data.external_id,
                    "carrier": data.carrier,
                    "tracking_number": data.tracking_number,
                },
            )
            return None
        shipment = Shipment(
            order=order,
            correlation_id=order.correlation_id,
            source_system=data.source_system,
            external_id=data.external_id,
            state=ShipmentState.SHIPPED,
            carrier=data.carrier,
            tracking_number=data.tracking_number,
            shipped_at=data.shipped_at,
            release_reference=data.release_reference,
        )
        stamp(shipment, "shipped by the warehouse")
        shipment.save(force_insert=True)
        rows, changed = [], {}
        for item in data.lines:
            line = held[item.line_number]
            rows.append(
                ShipmentLine(
                    shipment=shipment,
                    order_line=line,
                    correlation_id=order.correlation_id,
                    quantity=item.quantity,
                )
            )
            line.quantity_shipped += item.quantity
            line.quantity_backordered = max(0, min(line.quantity_backordered, _open_to_ship(line)))
            line.status = (
                OrderLineStatus.SHIPPED
                if _open_to_ship(line) == 0
                else OrderLineStatus.PARTIALLY_SHIPPED
            )
            stamp(line, f"shipped in {data.external_id}")
            changed[line.pk] = line
        bulk_create(ShipmentLine, rows, reason="shipped by the warehouse")
        bulk_update(
            OrderLine,
            list(changed.values()),
            ["quantity_shipped", "quantity_backordered", "status"],
        )
        _consume_reservations(list(changed.values()))
        lines = list(held.values())
        target = F.SHIPPED if _all_shipped(lines) else F.PARTIALLY_SHIPPED
        set_aspect(order, "fulfilment_status", target, reason=f"shipment {data.external_id}")
        order.shipped_at = data.shipped_at if target == F.SHIPPED else order.shipped_at
        order_events.step_recorded(
            order,
            OrderEventType.SHIPPED,
            shipment=data.external_id,
            carrier=data.carrier,
            tracking_number=data.tracking_number,
            lines={item.line_number: item.quantity for item in data.lines},
            complete=target == F.SHIPPED,
        )
        progress(order, reason=f"shipment {data.external_id}", aspect="fulfilment_status")
        shipment_recorded.send(sender=Shipment, order=order, shipment=shipment)
        return shipment


def _consume_reservations(lines: list[OrderLine]) -> None:
    """A shipped line's reservation is used: the stock left the building."""
    done = [line for line in lines if _open_to_ship(line) == 0]
    reservations = list(
        Reservation.objects.select_for_update().filter(
            order_line__in=done, status=ReservationStatus.OPEN
        )
    )
    for reservation in reservations:
        reservation.status = ReservationStatus.CONSUMED
        stamp(reservation, "shipped")
    # Two statements (the update and its history rows) however many lines shipped.
    bulk_update(Reservation, reservations, ["status"])
    stock_changed(r.sku_id for r in reservations if r.location_id is not None)


@domain_service
def record_shipment_confirmed(shipment: Shipment, *, reference: str) -> None:
    """The ERP confirmed the shipment (its delivery note)."""
    shipment.erp_confirmed_at = timezone.now()
    stamp(shipment, f"confirmed in ERP as {reference}"[:100])
    shipment.save(update_fields=["erp_confirmed_at", "updated_at"])


def cancelled_value(line: OrderLine, quantity: int) -> Decimal:
    """What ``quantity`` units of a line are worth to the customer: its total and tax pro rata."""
    return ((line.total_amount + line.tax_amount) * quantity / line.quantity).quantize(CENT)


@domain_service
def cancel_order_lines(
    order: Order, quantities: dict[int, int], *, actor: Any, reason: str
) -> Order:
    """A person cancels quantities not yet shipped (a backorder that will not come): the lines
    shrink, the order may now count as fully shipped, and the money for them goes back."""
    from controltower.core.context import acting_as

    with acting_as(actor), transaction.atomic(savepoint=False), correlated(order.correlation_id):
        order = lock_order(order.pk)
        lines = {line.line_number: line for line in order.lines.all()}
        for number, quantity in quantities.items():
            line = lines.get(number)
            if line is None:
                raise ValueError(f"the order has no line {number}")
            if quantity <= 0 or quantity > _open_to_ship(line):
                raise ValueError(
                    f"line {number}: can cancel 1 to {_open_to_ship(line)}, not {quantity}"
                )
        changed = []
        value = Decimal(0)
        for number, quantity in quantities.items():
            line = lines[number]
            value += cancelled_value(line, quantity)
            line.quantity_cancelled += quantity
            line.quantity_backordered = max(0, min(line.quantity_backordered, _open_to_ship(line)))
            if _open_to_ship(line) == 0:
                line.status = (
                    OrderLineStatus.CANCELLED
                    if line.quantity_shipped == 0
                    else OrderLineStatus.SHIPPED
                )
            stamp(line, f"cancelled {quantity}: {reason}"[:100])
            changed.append(line)
        bulk_update(OrderLine, changed, ["quantity_cancelled", "quantity_backordered", "status"])
        order_events.step_recorded(
            order, OrderEventType.LINES_CANCELLED, lines=quantities, reason=reason
        )
        all_lines = list(lines.values())
        if order.fulfilment_status in (F.PARTIALLY_SHIPPED,) and _all_shipped(all_lines):
            set_aspect(order, "fulfilment_status", F.SHIPPED, reason="rest cancelled")
            order.shipped_at = timezone.now()
        key = ",".join(
            f"{n}x{q}@{lines[n].quantity_cancelled}" for n, q in sorted(quantities.items())
        )
        order_lines_cancelled.send(sender=Order, order=order, value=value, key=key, reason=reason)
        progress(order, reason=f"lines cancelled: {reason}", aspect="fulfilment_status")
        return order


@receiver(order_cancelled, dispatch_uid="fulfilment.withdraw_release")
def withdraw_release(sender: Any, *, order: Order, reason: str = "", **_: Any) -> None:
    """A cancelled order's warehouse release: withdrawn while not yet picked; once picking or
    shipping started, an exception says what remains to be done by hand."""
    status = order.fulfilment_status
    if status in (F.RELEASE_REQUESTED, F.RELEASED):
        release_cancel_due.send(sender=Order, order=order, reason=reason or "order cancelled")
        order_events.step_recorded(
            order, OrderEventType.RELEASE_CANCEL_REQUESTED, wms_reference=order.wms_reference
        )
        return
    if status in (F.PICKING, F.PARTIALLY_SHIPPED, F.SHIPPED):
        shipped = sum(line.quantity_shipped for line in order.lines.all())
        remains = (
            "stop the pick at the warehouse"
            if status == F.PICKING
            else f"{shipped} unit(s) already shipped: a return and refund must follow"
        )
        order_events.step_recorded(
            order, OrderEventType.COMPENSATION_IMPOSSIBLE, fulfilment=status, remains=remains
        )
        open_exception(
            type=ExceptionType.COMPENSATION,
            dedupe_key=f"order:{order.pk}:cancel-after-{status}",
            title=f"{order}: cancelled after the warehouse started ({status})",
            detail=f"The release can no longer be withdrawn. What remains: {remains}.",
            severity=Severity.HIGH,
            correlation_id=order.correlation_id,
            money_at_risk=order.total_amount,
            currency=order.currency,
            subject_type="orders.order",
            subject_id=str(order.pk),
            context={"fulfilment": status},
        )
