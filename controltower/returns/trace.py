"""The refunds' contribution to a transaction trace: typed events and history diffs."""

from __future__ import annotations

from controltower.core.trace import TraceEntry, history_entries, register_source
from controltower.returns.models import Refund, RefundEvent


def refund_entries(correlation_id: str) -> list[TraceEntry]:
    entries = [
        TraceEntry(
            at=event.created_at,
            system="Control Tower",
            kind="event",
            title=f"Refund {event.refund.external_id or event.refund_id}: "
            f"{event.get_type_display()}",
            status=event.type,
            actor=getattr(event.actor, "username", "") or "",
            detail=event.parameters,
        )
        for event in RefundEvent.objects.filter(correlation_id=correlation_id).select_related(
            "refund", "actor"
        )
    ]
    return entries + history_entries(Refund, correlation_id, label="refund")


register_source("returns", refund_entries)
