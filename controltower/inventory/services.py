from __future__ import annotations

from typing import Any

from django.db import transaction

from controltower.core.models import bulk_create, stamp
from controltower.core.writepath import domain_service
from controltower.inventory.choices import ReservationStatus
from controltower.inventory.models import Reservation


@domain_service
@transaction.atomic(savepoint=False)
def reserve_order_lines(order: Any, *, lines: list[Any] | None = None) -> list[Reservation]:
    """Take a reservation per open line with a known SKU (idempotent: one per line).

    ``lines``: all of the order's lines, when the caller holds them (just created); otherwise
    they are read. Two statements for the reservations and their history, however many lines."""
    if lines is None:
        lines = list(order.lines.all())
    reserved = set(
        Reservation.objects.filter(order_line__in=[line.pk for line in lines]).values_list(
            "order_line_id", flat=True
        )
    )
    return _reserve([line for line in lines if line.pk not in reserved])


@domain_service
@transaction.atomic(savepoint=False)
def reserve_new_lines(lines: list[Any]) -> list[Reservation]:
    """Reservations for lines just created (of one order or many), which cannot hold any yet:
    two statements for them all."""
    return _reserve(lines)


def _reserve(lines: list[Any]) -> list[Reservation]:
    rows = []
    for line in lines:
        if line.sku_id is None:
            continue
        quantity = line.quantity - line.quantity_cancelled
        if quantity <= 0:
            continue
        rows.append(
            Reservation(
                order_line=line,
                sku_id=line.sku_id,
                location=line.fulfilment_location,
                quantity=quantity,
                correlation_id=line.correlation_id,
            )
        )
    return bulk_create(Reservation, rows, reason="reserved on order acceptance")


@domain_service
@transaction.atomic(savepoint=False)
def release_order_reservations(order: object, *, reason: str) -> int:
    released = 0
    for reservation in Reservation.objects.select_for_update().filter(
        order_line__order=order, status=ReservationStatus.OPEN
    ):
        reservation.status = ReservationStatus.RELEASED
        stamp(reservation, reason[:100])
        reservation.save(update_fields=["status", "updated_at"])
        released += 1
    return released
