"""The integration runtime's write path: inbox, outbox, claims, attempts, dead letters."""

from __future__ import annotations

import difflib
import hashlib
import json
import logging
import random
import time
import traceback
import uuid
from datetime import datetime, timedelta
from decimal import Decimal
from typing import Any

from django.conf import settings
from django.db import DatabaseError, IntegrityError, transaction
from django.utils import timezone
from psycopg.errors import CheckViolation, NotNullViolation

from controltower.core.context import SERVICE_USERS, acting_as, correlated, current_actor
from controltower.core.models import stamp
from controltower.exceptions.choices import ExceptionType, Severity
from controltower.exceptions.models import OpsException
from controltower.exceptions.services import close_exceptions_for, open_exception
from integrations.runtime import breaker, kick, ratelimit, registry
from integrations.runtime.choices import InboundStatus, OutboundStatus
from integrations.runtime.ingest import insert_inbound_event
from integrations.runtime.models import (
    Connection,
    DeliveryAttempt,
    InboundEvent,
    MessageAction,
    OutboundMessage,
)

logger = logging.getLogger(__name__)

INBOUND_MAX_ATTEMPTS = 5
MAX_INLINE_WAIT_S = 0.5


def service_username(kind: str) -> str:
    """The service user that names a connector's sync in history: ``sync.<kind>``."""
    name = f"sync.{kind}"
    return name if name in SERVICE_USERS else "system.runtime"


# --- inbox ---------------------------------------------------------------------------------------
def body_hash(body: bytes | str) -> str:
    raw = body.encode() if isinstance(body, str) else body
    return hashlib.sha256(raw).hexdigest()


def inbound_dedupe_key(
    connection: Connection, *, resource: str, resource_id: str, modified: str, body: bytes
) -> str:
    """Same resource, same source modification time, same body: the same event."""
    material = f"{connection.slug}|{resource}|{resource_id}|{modified}|{body_hash(body)}"
    return hashlib.sha256(material.encode()).hexdigest()


def record_inbound_event(
    connection: Connection,
    *,
    body: bytes,
    headers: dict[str, str],
    topic: str = "",
    resource: str = "",
    resource_id: str = "",
    delivery_id: str = "",
    source_modified_at: datetime | None = None,
    dedupe_key: str,
    status: InboundStatus = InboundStatus.PENDING,
    error: str = "",
) -> int | None:
    """Commit a raw inbound event; its id, or None when it was a duplicate (already held).

    Called before answering the sender: when this returns, the event is durable. Every inbound
    path (webhooks, backfill, rejected bodies) stores through ``ingest.insert_inbound_event``.
    """
    return insert_inbound_event(
        connection_id=connection.pk,
        body=body,
        headers=headers,
        topic=topic,
        resource=resource,
        resource_id=resource_id,
        delivery_id=delivery_id,
        source_modified_at=source_modified_at,
        dedupe_key=dedupe_key,
        status=status,
        error=error,
    )


def claim_inbound(limit: int) -> list[int]:
    now = timezone.now()
    with transaction.atomic():
        ids = list(
            InboundEvent.objects.filter(status=InboundStatus.PENDING)
            .order_by("id")
            .select_for_update(skip_locked=True)
            .values_list("id", flat=True)[:limit]
        )
        if ids:
            for event in InboundEvent.objects.filter(id__in=ids):
                event.status = InboundStatus.PROCESSING
                event.claimed_until = now + timedelta(seconds=settings.CT_LEASE_S)
                event.attempts += 1
                event.save(update_fields=["status", "claimed_until", "attempts"])
    return ids


def process_inbound_event(event_id: int) -> str:
    """Translate one claimed event into domain changes (and outbox rows), in one transaction."""
    event = InboundEvent.objects.select_related("connection").get(pk=event_id)
    if event.status != InboundStatus.PROCESSING:
        return event.status
    handler = registry.INBOUND.get(event.connection.kind)
    try:
        if handler is None:
            raise registry.PoisonMessage(f"no inbound handler for kind {event.connection.kind}")
        with transaction.atomic(), acting_as(service_username(event.connection.kind)):
            outcome = handler(event)
            event.status = InboundStatus.PROCESSED if outcome is not None else InboundStatus.IGNORED
            if outcome is not None:
                event.correlation_id = outcome
            event.processed_at = timezone.now()
            event.claimed_until = None
            event.error = ""
            event.save(
                update_fields=["status", "correlation_id", "processed_at", "claimed_until", "error"]
            )
            if event.attempts > 1:  # it failed before: its dead letter (if any) clears now
                close_exceptions_for(f"inbound:{event.pk}", reason="processed")
            if event.replay_of_id:
                _settle_inbound_chain(event)
        return event.status
    except registry.PoisonMessage as exc:
        _fail_inbound(event, str(exc))
    except IntegrityError as exc:
        if isinstance(exc.__cause__, CheckViolation | NotNullViolation):
            # The data breaks a rule of the canonical model: retrying cannot help.
            _fail_inbound(event, f"refused by the canonical model: {exc}")
        else:
            _retry_or_fail_inbound(event, exc)
    except DatabaseError as exc:
        _retry_or_fail_inbound(event, exc)
    except Exception as exc:
        logger.exception("inbound event %s failed", event.pk)
        _fail_inbound(event, f"{type(exc).__name__}: {exc}\n{traceback.format_exc(limit=5)}")
    return InboundEvent.objects.values_list("status", flat=True).get(pk=event.pk)


def _replay_ancestors(model: Any, row: Any) -> list[int]:
    """The ids a replay descends from: its original, the original's original, …"""
    ids: list[int] = []
    parent_id = row.replay_of_id
    while parent_id is not None and parent_id not in ids:
        ids.append(parent_id)
        parent_id = (
            model.objects.filter(pk=parent_id).values_list("replay_of_id", flat=True).first()
        )
    return ids


def _settle_inbound_chain(event: InboundEvent) -> None:
    """A replay succeeded: close every dead letter of its chain and file the failed originals
    (and the people's actions on them) under the transaction's correlation id for the trace."""
    ancestors = _replay_ancestors(InboundEvent, event)
    for ancestor_id in ancestors:
        close_exceptions_for(f"inbound:{ancestor_id}", reason=f"replay {event.pk} processed")
    if event.correlation_id is None:
        return
    InboundEvent.objects.filter(pk__in=ancestors, correlation_id__isnull=True).update(
        correlation_id=event.correlation_id
    )
    actions = MessageAction.objects.filter(
        direction=MessageAction.Direction.INBOUND, original_id__in=ancestors
    ).exclude(correlation_id=event.correlation_id)
    for action in actions:
        action.correlation_id = event.correlation_id
        stamp(action, f"filed under transaction {event.correlation_id}"[:100])
        action.save(update_fields=["correlation_id", "updated_at"])
    for exception in OpsException.objects.filter(
        subject_type="integrations.inboundevent", subject_id__in=[str(a) for a in ancestors]
    ).exclude(correlation_id=event.correlation_id):
        exception.correlation_id = event.correlation_id
        stamp(exception, f"filed under transaction {event.correlation_id}"[:100])
        exception.save(update_fields=["correlation_id", "updated_at"])


def _retry_or_fail_inbound(event: InboundEvent, exc: Exception) -> None:
    """A concurrent worker created the same order, a deadlock, a lost connection: retry."""
    if event.attempts >= INBOUND_MAX_ATTEMPTS:
        _fail_inbound(event, f"gave up after {event.attempts} attempts: {exc}")
        return
    InboundEvent.objects.filter(pk=event.pk).update(
        status=InboundStatus.PENDING, claimed_until=None, error=str(exc)[:2000]
    )
    transaction.on_commit(lambda: kick.kick("inbox"))


def _money_in(payload: Any) -> tuple[Decimal, str]:
    """The amount a message is about (its ``total`` and ``currency``), for money at risk."""
    if not isinstance(payload, dict):
        return Decimal(0), "EUR"
    currency = str(payload.get("currency") or "EUR")[:3].upper()
    try:
        amount = Decimal(str(payload.get("total", "0")))
    except ArithmeticError:
        return Decimal(0), currency
    return (amount if amount.is_finite() and amount > 0 else Decimal(0)), currency


def _fail_inbound(event: InboundEvent, error: str) -> None:
    try:
        at_risk, currency = _money_in(json.loads(event.body))
    except ValueError:
        at_risk, currency = Decimal(0), "EUR"
    with transaction.atomic():
        InboundEvent.objects.filter(pk=event.pk).update(
            status=InboundStatus.FAILED, claimed_until=None, error=error[:4000]
        )
        open_exception(
            type=ExceptionType.DEAD_LETTER,
            dedupe_key=f"inbound:{event.pk}",
            title=f"Inbound {event.topic or 'event'} {event.resource_id} could not be processed",
            detail=error,
            severity=Severity.HIGH,
            correlation_id=event.correlation_id,
            money_at_risk=at_risk,
            currency=currency,
            subject_type="integrations.inboundevent",
            subject_id=str(event.pk),
            context={"connection": event.connection.slug, "topic": event.topic},
        )
    logger.warning("inbound event %s dead-lettered: %s", event.pk, error.splitlines()[0])


# --- outbox --------------------------------------------------------------------------------------
def enqueue_outbound(
    connection: Connection,
    *,
    kind: str,
    idempotency_key: str,
    payload: dict[str, Any],
    correlation_id: Any,
    subject_type: str = "",
    subject_id: str = "",
    max_attempts: int | None = None,
) -> bool:
    """Add a message to the outbox in the caller's transaction; False if the key exists already."""
    message = OutboundMessage(
        connection=connection,
        kind=kind,
        idempotency_key=idempotency_key,
        payload=payload,
        correlation_id=correlation_id,
        subject_type=subject_type,
        subject_id=subject_id,
        max_attempts=max_attempts or registry.policy_for(kind).max_attempts,
    )
    try:
        with transaction.atomic():
            message.save(force_insert=True)
    except IntegrityError:
        return False
    transaction.on_commit(lambda: kick.kick("outbox"))
    return True


def claim_outbound(limit: int) -> list[int]:
    now = timezone.now()
    with transaction.atomic():
        ids = list(
            OutboundMessage.objects.filter(
                status=OutboundStatus.PENDING, next_attempt_at__lte=now, connection__enabled=True
            )
            .order_by("next_attempt_at", "id")
            .select_for_update(skip_locked=True, of=("self",))
            .values_list("id", flat=True)[:limit]
        )
        if ids:
            OutboundMessage.objects.filter(id__in=ids).update(
                status=OutboundStatus.IN_FLIGHT,
                claimed_until=now + timedelta(seconds=settings.CT_LEASE_S),
                claim_token=uuid.uuid4(),
            )
    return ids


def backoff_seconds(attempt: int, policy: registry.MessagePolicy) -> float:
    """Exponential backoff with full jitter: random in [base, min(cap, base·2^(attempt-1))]."""
    base = policy.backoff_base_s
    ceiling = min(policy.backoff_cap_s, base * (2 ** max(attempt - 1, 0)))
    return random.uniform(base, max(base, ceiling))


def endpoint_key(message: OutboundMessage) -> str:
    """The circuit breaker's unit: one endpoint (message kind) of one connection."""
    return f"{message.connection.slug}:{message.kind}"


def _defer(message: OutboundMessage, delay_s: float, *, why: str) -> str:
    """Put a claimed message back without spending an attempt (breaker open, rate limited)."""
    OutboundMessage.objects.filter(
        pk=message.pk, status=OutboundStatus.IN_FLIGHT, claim_token=message.claim_token
    ).update(
        status=OutboundStatus.PENDING,
        claimed_until=None,
        claim_token=None,
        next_attempt_at=timezone.now() + timedelta(seconds=max(delay_s, 0.05)),
        last_error=why,
    )
    return OutboundStatus.PENDING


def _take_token(connection: Connection) -> float:
    """A token from the connection's shared bucket; waits here only for short gaps."""
    wait = ratelimit.acquire(connection.slug, rate_per_s=connection.rate_limit_per_s)
    while 0 < wait <= MAX_INLINE_WAIT_S:
        time.sleep(wait)
        wait = ratelimit.acquire(connection.slug, rate_per_s=connection.rate_limit_per_s)
    return wait


def deliver_outbound_message(message_id: int, *, task_id: str = "") -> str:
    """Deliver one claimed message: one HTTP call outside any transaction, then record it."""
    message = OutboundMessage.objects.select_related("connection").get(pk=message_id)
    if message.status != OutboundStatus.IN_FLIGHT:
        return message.status
    # Renew our lease; if the sweeper handed the message to someone else meanwhile, let it go.
    renewed = OutboundMessage.objects.filter(
        pk=message.pk, status=OutboundStatus.IN_FLIGHT, claim_token=message.claim_token
    ).update(claimed_until=timezone.now() + timedelta(seconds=settings.CT_LEASE_S))
    if not renewed:
        logger.info("outbound message %s: claim lost before delivery; skipped", message.pk)
        return OutboundStatus.IN_FLIGHT
    deliver = registry.DELIVERERS.get(message.kind)
    policy = registry.policy_for(message.kind)
    endpoint = endpoint_key(message)
    decision = breaker.before_call(endpoint)
    if not decision.allowed:
        return _defer(
            message,
            decision.retry_after_s,
            why=f"waiting: circuit {decision.state} for {endpoint}",
        )
    wait = _take_token(message.connection)
    if wait > 0:
        return _defer(message, wait, why=f"waiting: rate limit of {message.connection.slug}")
    started = timezone.now()
    clock = time.monotonic()
    with correlated(message.correlation_id), acting_as(service_username(message.connection.kind)):
        if deliver is None:
            result = registry.DeliveryResult(
                ok=False, error=f"no deliverer for {message.kind}", retryable=False
            )
        else:
            try:
                result = deliver(message)
            except registry.PoisonMessage as exc:
                result = registry.DeliveryResult(ok=False, error=str(exc), retryable=False)
            except Exception as exc:
                logger.exception("deliverer for %s raised", message.kind)
                result = registry.DeliveryResult(ok=False, error=f"{type(exc).__name__}: {exc}")
        duration_ms = int((time.monotonic() - clock) * 1000)
        if result.ok or (not result.retryable and result.status_code is not None):
            breaker.record_success(endpoint)  # it answered: the endpoint is up
        elif result.status_code != 429:  # a 429 is back-pressure, not an outage
            breaker.record_failure(
                endpoint,
                failure_threshold=policy.breaker_threshold,
                cooldown_s=policy.breaker_cooldown_s,
            )
        return _record_delivery(message, result, started, duration_ms, task_id, policy)


def _record_delivery(
    message: OutboundMessage,
    result: registry.DeliveryResult,
    started: datetime,
    duration_ms: int,
    task_id: str,
    policy: registry.MessagePolicy,
) -> str:
    token = message.claim_token
    with transaction.atomic():
        message = OutboundMessage.objects.select_for_update().get(pk=message.pk)
        owned = message.status == OutboundStatus.IN_FLIGHT and message.claim_token == token
        message.attempts += 1
        DeliveryAttempt.objects.create(
            message=message,
            number=message.attempts,
            task_id=task_id,
            started_at=started,
            duration_ms=duration_ms,
            status_code=result.status_code,
            error=result.error[:4000],
            response_body=_body_text(result.body)[:8000],
        )
        if not owned:
            # Our lease ran out mid-call and another worker holds the message now: keep the
            # attempt on record, leave the outcome to the owner (same idempotency key).
            message.save(update_fields=["attempts"])
            logger.warning("outbound message %s: claim lost during delivery", message.pk)
            return message.status
        message.claimed_until = None
        message.claim_token = None
        message.last_status_code = result.status_code
        fields = [
            "attempts",
            "claimed_until",
            "claim_token",
            "status",
            "last_error",
            "response",
            "last_status_code",
        ]
        message.response = result.body if isinstance(result.body, dict | list) else None
        if result.ok:
            message.status = OutboundStatus.DELIVERED
            message.delivered_at = timezone.now()
            message.last_error = ""
            fields.append("delivered_at")
            hook = registry.ON_DELIVERED.get(message.kind)
            if hook is not None:
                hook(message, result)
            if message.attempts > 1:  # it failed before: its dead letter (if any) clears now
                close_exceptions_for(f"outbound:{message.pk}", reason="delivered")
            for ancestor_id in _replay_ancestors(OutboundMessage, message):
                close_exceptions_for(
                    f"outbound:{ancestor_id}", reason=f"replay {message.pk} delivered"
                )
        elif result.retryable and message.attempts < message.max_attempts:
            delay = result.retry_after_s or backoff_seconds(message.attempts, policy)
            message.status = OutboundStatus.PENDING
            message.next_attempt_at = timezone.now() + timedelta(seconds=delay)
            message.last_error = result.error
            fields.append("next_attempt_at")
        else:
            message.status = OutboundStatus.DEAD
            message.last_error = result.error
            _dead_letter(message, result)
        message.save(update_fields=fields)
    return message.status


def _body_text(body: Any) -> str:
    if body is None:
        return ""
    if isinstance(body, str):
        return body
    import json

    return json.dumps(body, default=str)


def _dead_letter(message: OutboundMessage, result: registry.DeliveryResult) -> None:
    at_risk, currency = _money_in(message.payload)
    open_exception(
        type=ExceptionType.DEAD_LETTER,
        dedupe_key=f"outbound:{message.pk}",
        title=f"{message.get_kind_display()} to {message.connection.name} dead-lettered",
        detail=f"after {message.attempts} attempt(s): {result.error}\n"
        f"last response ({result.status_code}): {_body_text(result.body)[:2000]}",
        severity=Severity.HIGH,
        correlation_id=message.correlation_id,
        money_at_risk=at_risk,
        currency=currency,
        subject_type="integrations.outboundmessage",
        subject_id=str(message.pk),
        context={"connection": message.connection.slug, "kind": message.kind},
    )
    logger.warning("outbound message %s dead-lettered: %s", message.pk, result.error)


# --- sweeper -------------------------------------------------------------------------------------
def sweep() -> dict[str, int]:
    """Return abandoned claims to the queue and wake drains for anything waiting."""
    now = timezone.now()
    with transaction.atomic():
        inbound = InboundEvent.objects.filter(
            status=InboundStatus.PROCESSING, claimed_until__lt=now
        ).update(status=InboundStatus.PENDING, claimed_until=None)
        outbound = OutboundMessage.objects.filter(
            status=OutboundStatus.IN_FLIGHT, claimed_until__lt=now
        ).update(status=OutboundStatus.PENDING, claimed_until=None, claim_token=None)
    if InboundEvent.objects.filter(status=InboundStatus.PENDING).exists():
        kick.kick("inbox")
    if OutboundMessage.objects.filter(
        status=OutboundStatus.PENDING, next_attempt_at__lte=now, connection__enabled=True
    ).exists():
        kick.kick("outbox")
    if inbound or outbound:
        logger.info("sweeper re-queued %s inbound and %s outbound", inbound, outbound)
    return {"inbound_requeued": inbound, "outbound_requeued": outbound}


# --- people acting on messages: retry and replay -------------------------------------------------
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
