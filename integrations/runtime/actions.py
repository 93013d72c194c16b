"""People acting on messages: retry one as it is, or replay it (edited or not) through the same
path as the original. Each action is a ``MessageAction`` row naming the person and the reason,
with the diff of an edited payload."""

from __future__ import annotations

import difflib
import json
import uuid
from typing import Any

from django.db import transaction
from django.utils import timezone

from controltower.core.context import current_actor
from controltower.core.models import stamp
from integrations.runtime import kick, registry
from integrations.runtime.choices import InboundStatus, OutboundStatus
from integrations.runtime.models import InboundEvent, MessageAction, OutboundMessage


class MessageActionError(ValueError):
    pass


def _json_text(value: Any) -> str:
    return json.dumps(value, indent=2, sort_keys=True, ensure_ascii=False, default=str)


def _diff(before: str, after: str) -> str:
    return "".join(
        difflib.unified_diff(
            before.splitlines(keepends=True),
            after.splitlines(keepends=True),
            fromfile="original",
            tofile="replayed",
        )
    )


def _record_action(
    *,
    action: str,
    direction: str,
    original: Any,
    result_id: int,
    reason: str,
    diff: str = "",
) -> MessageAction:
    if not reason or not reason.strip():
        raise MessageActionError("a reason is required")
    actor = current_actor()
    record = MessageAction(
        action=action,
        direction=direction,
        original_id=original.pk,
        result_id=result_id,
        reason=reason.strip(),
        edited=bool(diff),
        payload_diff=diff,
        actor=actor if actor is not None and actor.pk else None,
        correlation_id=original.correlation_id or uuid.uuid4(),
    )
    stamp(record, f"{action} of {direction} {original.pk}: {reason.strip()}"[:100])
    record.save()
    return record


def retry_outbound_message(message: OutboundMessage, *, reason: str) -> OutboundMessage:
    """Send a dead (or waiting) message again as it is, with a fresh set of attempts."""
    with transaction.atomic():
        message = OutboundMessage.objects.select_for_update().get(pk=message.pk)
        if message.status in (OutboundStatus.DELIVERED, OutboundStatus.IN_FLIGHT):
            raise MessageActionError(f"message {message.pk} is {message.status}; nothing to retry")
        _record_action(
            action=MessageAction.Action.RETRY,
            direction=MessageAction.Direction.OUTBOUND,
            original=message,
            result_id=message.pk,
            reason=reason,
        )
        message.status = OutboundStatus.PENDING
        message.next_attempt_at = timezone.now()
        message.max_attempts = message.attempts + registry.policy_for(message.kind).max_attempts
        message.save(update_fields=["status", "next_attempt_at", "max_attempts"])
        transaction.on_commit(lambda: kick.kick("outbox"))
    return message


def replay_outbound_message(
    message: OutboundMessage, *, reason: str, payload: Any = None
) -> OutboundMessage:
    """A new message through the same path: the original payload, or an edited one."""
    if payload is not None and not isinstance(payload, dict):
        raise MessageActionError("payload must be a JSON object")
    with transaction.atomic():
        message = OutboundMessage.objects.select_for_update().get(pk=message.pk)
        body = payload if payload is not None else message.payload
        diff = _diff(_json_text(message.payload), _json_text(body)) if payload is not None else ""
        number = message.replays.count() + 1
        replay = OutboundMessage.objects.create(
            connection=message.connection,
            correlation_id=message.correlation_id,
            kind=message.kind,
            idempotency_key=f"{message.idempotency_key}:replay:{number}",
            subject_type=message.subject_type,
            subject_id=message.subject_id,
            payload=body,
            max_attempts=registry.policy_for(message.kind).max_attempts,
            replay_of=message,
        )
        _record_action(
            action=MessageAction.Action.REPLAY,
            direction=MessageAction.Direction.OUTBOUND,
            original=message,
            result_id=replay.pk,
            reason=reason,
            diff=diff,
        )
        transaction.on_commit(lambda: kick.kick("outbox"))
    return replay


def retry_inbound_event(event: InboundEvent, *, reason: str) -> InboundEvent:
    with transaction.atomic():
        event = InboundEvent.objects.select_for_update().get(pk=event.pk)
        if event.status not in (InboundStatus.FAILED, InboundStatus.REJECTED):
            raise MessageActionError(f"event {event.pk} is {event.status}; nothing to retry")
        if event.status == InboundStatus.REJECTED:
            raise MessageActionError(
                "a rejected event cannot be retried as it is; replay it edited"
            )
        _record_action(
            action=MessageAction.Action.RETRY,
            direction=MessageAction.Direction.INBOUND,
            original=event,
            result_id=event.pk,
            reason=reason,
        )
        event.status = InboundStatus.PENDING
        event.attempts = 0
        event.save(update_fields=["status", "attempts"])
        transaction.on_commit(lambda: kick.kick("inbox"))
    return event


def replay_inbound_event(event: InboundEvent, *, reason: str, body: Any = None) -> InboundEvent:
    """Feed the event (or an edited body) through the same inbox path as the original."""
    if body is not None and not isinstance(body, dict | list | str):
        raise MessageActionError("body must be JSON")
    original_text = event.body
    if body is None:
        new_text, diff = original_text, ""
    else:
        new_text = body if isinstance(body, str) else json.dumps(body)
        try:
            before = _json_text(json.loads(original_text))
        except ValueError:
            before = original_text
        try:
            after = _json_text(json.loads(new_text))
        except ValueError:
            after = new_text
        diff = _diff(before, after)
    with transaction.atomic():
        replay = InboundEvent.objects.create(
            connection=event.connection,
            correlation_id=event.correlation_id,
            topic=event.topic,
            resource=event.resource,
            resource_id=event.resource_id,
            delivery_id=event.delivery_id,
            dedupe_key=f"replay:{event.pk}:{uuid.uuid4().hex}",
            source_modified_at=event.source_modified_at,
            headers=event.headers,
            body=new_text,
            replay_of=event,
        )
        _record_action(
            action=MessageAction.Action.REPLAY,
            direction=MessageAction.Direction.INBOUND,
            original=event,
            result_id=replay.pk,
            reason=reason,
            diff=diff,
        )
        transaction.on_commit(lambda: kick.kick("inbox"))
    return replay


def retry_message(obj: InboundEvent | OutboundMessage, *, reason: str) -> Any:
    """Retry an inbound event or an outbound message, whichever ``obj`` is."""
    if isinstance(obj, OutboundMessage):
        return retry_outbound_message(obj, reason=reason)
    return retry_inbound_event(obj, reason=reason)


def replay_message(obj: InboundEvent | OutboundMessage, *, reason: str, payload: Any = None) -> Any:
    """Replay an inbound event or an outbound message (optionally edited), whichever it is."""
    if isinstance(obj, OutboundMessage):
        return replay_outbound_message(obj, reason=reason, payload=payload)
    return replay_inbound_event(obj, reason=reason, body=payload)
