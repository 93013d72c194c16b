"""People acting on messages: retry one as it is, or replay it (edited or not) through the same
path as the original. Each action is a ``MessageAction`` row naming the person and the reason,
with the diff of an edited payload.

A message kind that creates something on the other side (``registry.Creates``) is sent at most
once per subject: once one create of it was delivered, a replay is refused with the reference it
created (:class:`ReplayRefused`), or sent as the kind's declared update instead; and while one is
still on its way, no second one is queued beside it."""

from __future__ import annotations

import difflib
import json
import uuid
from typing import Any

from django.db import transaction
from django.db.models import Q, QuerySet
from django.utils import timezone

from controltower.core.context import current_actor
from controltower.core.models import stamp
from integrations.runtime import kick, registry
from integrations.runtime.choices import InboundStatus, OutboundStatus
from integrations.runtime.models import InboundEvent, MessageAction, OutboundMessage


class MessageActionError(ValueError):
    pass


class ReplayRefused(MessageActionError):
    """Sending this again would create a second one of what the message creates."""


_ON_ITS_WAY = (OutboundStatus.PENDING, OutboundStatus.IN_FLIGHT)


def _root(message: OutboundMessage) -> OutboundMessage:
    """The original a replay (of a replay …) descends from; the message itself if none."""
    root, seen = message, {message.pk}
    while root.replay_of_id is not None and root.replay_of_id not in seen:
        seen.add(root.replay_of_id)
        root = OutboundMessage.objects.get(pk=root.replay_of_id)
    return root


def create_family(message: OutboundMessage) -> QuerySet[OutboundMessage]:
    """Every message that creates the same thing as ``message``: the same kind to the same
    connection, for the same subject or in the same replay tree (keys ``<original>:…``)."""
    root = _root(message)
    same = Q(pk=root.pk) | Q(idempotency_key__startswith=f"{root.idempotency_key}:")
    if message.subject_id:
        same |= Q(subject_type=message.subject_type, subject_id=message.subject_id)
    return OutboundMessage.objects.filter(
        same, connection_id=message.connection_id, kind=message.kind
    )


def delivered_create(message: OutboundMessage) -> OutboundMessage | None:
    """The delivered create of ``message``'s family (the first), if its kind creates anything."""
    if registry.creates_for(message.kind) is None:
        return None
    return (
        create_family(message)
        .filter(status=OutboundStatus.DELIVERED)
        .order_by("delivered_at", "pk")
        .first()
    )


def create_refusal(message: OutboundMessage, *, again: bool = True) -> str:
    """Why ``message`` may not be sent again (a replay; with ``again=False`` a retry of itself),
    or "" when it may. Only kinds that create something are ever refused."""
    creates = registry.creates_for(message.kind)
    if creates is None:
        return ""
    system = message.connection.name
    delivered = delivered_create(message)
    if delivered is not None:
        reference = creates.reference_in(delivered.response)
        when = timezone.localtime(delivered.delivered_at).strftime("%Y-%m-%d %H:%M:%S")
        held = (
            f"{system} already holds {creates.what} {reference}, created by message "
            f"{delivered.pk} ({when})"
            if reference
            else f"message {delivered.pk} was already delivered to {system} ({when})"
        )
        return (
            f"Not sent again: {held}. {message.kind_label} is a create; sending it again "
            f"would create a second {creates.what}. Change "
            f"{creates.what + ' ' + reference if reference else 'it'} in {system} itself."
        )
    family = create_family(message)
    if not again:
        family = family.exclude(pk=message.pk)
    waiting = family.filter(status__in=_ON_ITS_WAY).order_by("pk").first()
    if waiting is not None:
        return (
            f"Not sent again: message {waiting.pk} ({message.kind_label}) is still "
            f"{waiting.get_status_display().lower()}; a second create beside it could create a "
            f"second {creates.what} in {system}. Wait for it, or retry it if it is stuck."
        )
    return ""


def replay_offer(message: OutboundMessage) -> tuple[str, str]:
    """What a replay of ``message`` would do now, for the page: (kind it would send, refusal)."""
    creates = registry.creates_for(message.kind)
    if creates is not None and creates.update_kind and delivered_create(message) is not None:
        return creates.update_kind, ""
    return message.kind, create_refusal(message)


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
        refusal = create_refusal(message, again=False)
        if refusal:
            raise ReplayRefused(refusal)
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
    """A new message through the same path: the original payload, or an edited one.

    A create already delivered is never sent as a create again: it goes as the kind's declared
    update (``Creates.update_kind``, key ``<original>:update:<n>``), or is refused
    (:class:`ReplayRefused`, naming what it created)."""
    if payload is not None and not isinstance(payload, dict):
        raise MessageActionError("payload must be a JSON object")
    with transaction.atomic():
        message = OutboundMessage.objects.select_related("connection").get(pk=message.pk)
        # One create family at a time: two people replaying at once queue one create, not two.
        OutboundMessage.objects.select_for_update().filter(pk=_root(message).pk).first()
        message = (
            OutboundMessage.objects.select_for_update(of=("self",))
            .select_related("connection")
            .get(pk=message.pk)
        )
        kind, refusal = replay_offer(message)
        if refusal:
            raise ReplayRefused(refusal)
        body = payload if payload is not None else message.payload
        diff = _diff(_json_text(message.payload), _json_text(body)) if payload is not None else ""
        number = message.replays.count() + 1
        suffix = "replay" if kind == message.kind else "update"
        replay = OutboundMessage.objects.create(
            connection=message.connection,
            correlation_id=message.correlation_id,
            kind=kind,
            idempotency_key=f"{message.idempotency_key}:{suffix}:{number}",
            subject_type=message.subject_type,
            subject_id=message.subject_id,
            payload=body,
            max_attempts=registry.policy_for(kind).max_attempts,
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
