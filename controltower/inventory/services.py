from __future__ import annotations

from django.db import transaction

from controltower.core.models import stamp
from controltower.core.writepath import domain_service
from controltower.inventory.choices import ReservationStatus
from controltower.inventory.models import Reservation


@domain_service
@transaction.atomic(savepoint=False)
def reserve_order_lines(order: object) -> list[Reservation]:
    """Take a reservation per open line with a known SKU (idempotent: one per line)."""
    created: list[Reservation] = []
    for line in order.lines.select_related("sku").all():  # type: ignore[attr-defined]
        if line.sku_id is None or line.reservations.exists():
            continue
        quantity = line.quantity - line.quantity_cancelled
        if quantity <= 0:
            continue
        reservation = Reservation(
            order_line=line,
            sku_id=line.sku_id,
            location=line.fulfilment_location,
            quantity=quantity,
            correlation_id=line.correlation_id,
        )
        stamp(reservation, "reserved on order acceptance")
        reservation.save()
        created.append(reservation)
    return created


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
