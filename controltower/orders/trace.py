"""The orders' contribution to a transaction trace: typed events and history diffs."""

from __future__ import annotations

from controltower.core.trace import TraceEntry, history_entries, register_source
from controltower.orders.models import Order, OrderEvent


def order_entries(correlation_id: str) -> list[TraceEntry]:
    entries = [
        TraceEntry(
            at=event.created_at,
            system="Control Tower",
            kind="event",
            title=f"Order {event.order.number}: {event.get_type_display()}",
            status=event.type,
            actor=getattr(event.actor, "username", "") or "",
            detail=event.parameters,
        )
        for event in OrderEvent.objects.filter(correlation_id=correlation_id).select_related(
            "order", "actor"
        )
    ]
    return entries + history_entries(Order, correlation_id, label="order")


register_source("orders", order_entries)
