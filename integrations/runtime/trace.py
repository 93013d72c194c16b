"""The runtime's contribution to a transaction's trace: raw inbound events, outbound messages."""

from __future__ import annotations

from controltower.core.trace import TraceEntry, register_source
from integrations.runtime.models import InboundEvent, OutboundMessage


def runtime_entries(correlation_id: str) -> list[TraceEntry]:
    entries: list[TraceEntry] = []
    for event in InboundEvent.objects.filter(correlation_id=correlation_id).select_related(
        "connection"
    ):
        entries.append(
            TraceEntry(
                at=event.received_at,
                system=event.connection.name,
                kind="inbound",
                title=f"{event.topic or 'event'} received",
                status=event.status,
                detail={
                    "id": event.pk,
                    "delivery_id": event.delivery_id,
                    "attempts": event.attempts,
                    "error": event.error,
                    "headers": event.headers,
                },
                payload=event.body,
            )
        )
    messages = (
        OutboundMessage.objects.filter(correlation_id=correlation_id)
        .select_related("connection")
        .prefetch_related("attempt_log")
    )
    for message in messages:
        entries.append(
            TraceEntry(
                at=message.created_at,
                system=message.connection.name,
                kind="outbound",
                title=message.get_kind_display(),
                status=message.status,
                detail={
                    "id": message.pk,
                    "idempotency_key": message.idempotency_key,
                    "attempts": [
                        {
                            "number": a.number,
                            "at": a.started_at.isoformat(),
                            "status_code": a.status_code,
                            "duration_ms": a.duration_ms,
                            "error": a.error,
                        }
                        for a in message.attempt_log.all()
                    ],
                    "response": message.response,
                    "last_error": message.last_error,
                },
                payload=str(message.payload),
            )
        )
    return entries


register_source("integrations", runtime_entries)
