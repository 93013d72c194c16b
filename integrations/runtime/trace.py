"""The runtime's contribution to a transaction trace: raw inbound events, outbound messages and
each delivery attempt with its response, and people's retries and replays."""

from __future__ import annotations

import json

from django.db.models import Q

from controltower.core.trace import TraceEntry, register_source
from integrations.runtime.models import InboundEvent, MessageAction, OutboundMessage


def runtime_entries(correlation_id: str) -> list[TraceEntry]:
    entries: list[TraceEntry] = []
    inbound = InboundEvent.objects.filter(correlation_id=correlation_id).select_related(
        "connection"
    )
    for event in inbound:
        entries.append(
            TraceEntry(
                at=event.received_at,
                system=event.connection.name,
                kind="inbound",
                title=f"{event.topic or 'event'} received"
                + (f" (replay of {event.replay_of_id})" if event.replay_of_id else ""),
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
        OutboundMessage.objects.filter(
            Q(correlation_id=correlation_id) | Q(also_for__contains=[correlation_id])
        )
        .select_related("connection")
        .prefetch_related("attempt_log")
    )
    for message in messages:
        entries.append(
            TraceEntry(
                at=message.created_at,
                system=message.connection.name,
                kind="outbound",
                title=message.kind_label
                + (f" (replay of {message.replay_of_id})" if message.replay_of_id else ""),
                status=message.status,
                detail={
                    "id": message.pk,
                    "idempotency_key": message.idempotency_key,
                    "attempts": message.attempts,
                    "last_error": message.last_error,
                },
                payload=json.dumps(message.payload, indent=2, sort_keys=True),
            )
        )
        for attempt in message.attempt_log.all():
            entries.append(
                TraceEntry(
                    at=attempt.started_at,
                    system=message.connection.name,
                    kind="attempt",
                    title=f"attempt {attempt.number}: {message.kind_label}",
                    status=str(attempt.status_code or "no answer"),
                    detail={
                        "message": message.pk,
                        "duration_ms": attempt.duration_ms,
                        "error": attempt.error,
                    },
                    payload=attempt.response_body,
                )
            )
    for act in MessageAction.objects.filter(correlation_id=correlation_id).select_related("actor"):
        entries.append(
            TraceEntry(
                at=act.created_at,
                system="Control Tower",
                kind="action",
                title=f"{act.get_action_display()} of {act.get_direction_display().lower()} "
                f"{act.original_id}",
                status="edited" if act.edited else "as it was",
                actor=getattr(act.actor, "username", "") or "",
                detail={"reason": act.reason, "result_id": act.result_id},
                payload=act.payload_diff,
            )
        )
    return entries


register_source("integrations", runtime_entries)
