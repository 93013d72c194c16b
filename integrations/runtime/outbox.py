"""The outbox: messages to other systems, written in the transaction of the change that causes
them, claimed in batches and delivered one HTTP call at a time outside any transaction, with
attempts on record, backoff with jitter, the endpoint's circuit breaker and the connection's
shared rate limit; after the last attempt, a dead letter in the work queue."""

from __future__ import annotations

import logging
import random
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from django.conf import settings
from django.db import transaction
from django.db.models.constants import OnConflict
from django.utils import timezone

from controltower.core.context import acting_as, correlated
from controltower.core.models import deferred_records, update_rows
from controltower.exceptions.choices import ExceptionType, Severity
from controltower.exceptions.services import close_exceptions_for, open_exception
from integrations.runtime import breaker, kick, ratelimit, registry
from integrations.runtime.choices import OutboundStatus
from integrations.runtime.messages import body_text, money_in, replay_ancestors, service_username
from integrations.runtime.models import Connection, DeliveryAttempt, OutboundMessage

logger = logging.getLogger(__name__)

MAX_INLINE_WAIT_S = 0.5
RECORD_WITHIN_S = 0.25  # a batch's answers wait at most this long to be recorded together
# What recording any outcome writes; a delivery adds delivered_at, a retry next_attempt_at.
OUTCOME_FIELDS = (
    "attempts",
    "claimed_until",
    "claim_token",
    "status",
    "last_error",
    "response",
    "last_status_code",
)
SETTLED_FIELDS = (*OUTCOME_FIELDS, "delivered_at", "next_attempt_at")


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
    also_for: list[Any] | None = None,
) -> bool:
    """Add a message to the outbox in the caller's transaction; False if the key exists already.
    ``also_for``: the other transactions' correlation ids it serves (a batch), for the trace."""
    message = OutboundMessage(
        connection=connection,
        kind=kind,
        idempotency_key=idempotency_key,
        payload=payload,
        correlation_id=correlation_id,
        also_for=list(also_for or []),
        subject_type=subject_type,
        subject_id=subject_id,
        max_attempts=max_attempts or registry.policy_for(kind).max_attempts,
    )
    if not _insert_new(message):
        return False
    transaction.on_commit(lambda: kick.kick("outbox"))
    return True


def _insert_new(message: OutboundMessage) -> bool:
    """``INSERT … ON CONFLICT DO NOTHING RETURNING id``: one statement, where a savepoint
    around a plain insert (to survive the duplicate key's error) costs three. False when a
    message with the key exists already (nothing written); any other error raises."""
    meta = OutboundMessage._meta
    fields = [f for f in meta.local_concrete_fields if f is not meta.auto_field]
    rows = OutboundMessage._base_manager._insert(  # what Model.save(force_insert=True) runs
        [message], fields=fields, returning_fields=[meta.pk], on_conflict=OnConflict.IGNORE
    )
    if not rows:
        return False
    message.pk = rows[0][0]
    message._state.adding = False
    return True


WITHDRAWN = (
    "withdrawn"  # a create's deliverer that found nothing to create answers {WITHDRAWN: True}
)
CREATE_SETTLE_WAIT_S = 2.0


def created_reference(
    create_key: str, *, skipped: str, waiting: str
) -> str | registry.DeliveryResult:
    """For a message that undoes what a create made (a cancel): the id the create's delivered
    answer names; or the result to record meanwhile — ``skipped`` (ok: the create was never
    asked, is dead, or withdrew itself, so nothing exists to undo), or ``waiting`` (retried
    shortly: the create is still pending or in flight)."""
    create = (
        OutboundMessage.objects.filter(idempotency_key=create_key)
        .values("status", "response")
        .first()
    )
    response = (create or {}).get("response") or {}
    if create is None or create["status"] == OutboundStatus.DEAD or response.get(WITHDRAWN):
        return registry.DeliveryResult(ok=True, body={"skipped": skipped})
    if create["status"] == OutboundStatus.DELIVERED and response.get("id"):
        return str(response["id"])
    return registry.DeliveryResult(
        ok=False, error=waiting, retryable=True, retry_after_s=CREATE_SETTLE_WAIT_S
    )


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


def load_claimed(ids: list[int]) -> dict[int, OutboundMessage]:
    """The claimed messages of a batch with their connections, in one query."""
    return OutboundMessage.objects.select_related("connection").in_bulk(ids)


def _lease_fresh(message: OutboundMessage) -> bool:
    """Claimed so recently that more than half the lease is left: no renewal needed yet."""
    left = (message.claimed_until - timezone.now()).total_seconds() if message.claimed_until else 0
    return left > settings.CT_LEASE_S / 2


@dataclass
class Attempt:
    """One HTTP call made, waiting to be recorded."""

    message: OutboundMessage
    result: registry.DeliveryResult
    started: datetime
    duration_ms: int
    task_id: str
    policy: registry.MessagePolicy
    finished: float = field(default_factory=time.monotonic)  # when the answer came


def deliver_outbound_message(message_id: int | OutboundMessage, *, task_id: str = "") -> str:
    """Deliver one claimed message: one HTTP call outside any transaction, then record it.

    Takes the message's id, or the message as :func:`load_claimed` read it for its batch."""
    if isinstance(message_id, OutboundMessage):
        message = message_id
    else:
        message = OutboundMessage.objects.select_related("connection").get(pk=message_id)
    attempt = _call(message, task_id)
    if not isinstance(attempt, Attempt):
        return attempt
    return _record_delivery(attempt)


def deliver_outbound_batch(
    messages: list[OutboundMessage],
    *,
    task_id: str = "",
    held: Callable[[], bool] = lambda: True,
) -> list[OutboundMessage]:
    """Deliver a claimed batch: the calls one after another, outside any transaction, and their
    outcomes recorded together — one transaction, one row lock statement, one insert of the
    attempts — as soon as a call has waited ``RECORD_WITHIN_S`` for its record, and at the end.
    Stops calling when ``held()`` turns false (the drain lost its slot); returns the messages it
    did not call, still claimed, for the caller to hand back."""
    waiting: list[Attempt] = []
    for index, message in enumerate(messages):
        if not held():
            _record_deliveries(waiting)
            return messages[index:]
        attempt = _call(message, task_id)
        if isinstance(attempt, Attempt):
            waiting.append(attempt)
        if waiting and time.monotonic() - waiting[0].finished >= RECORD_WITHIN_S:
            _record_deliveries(waiting)
            waiting = []
    _record_deliveries(waiting)
    return []


def _call(message: OutboundMessage, task_id: str) -> Attempt | str:
    """The HTTP call of a claimed message (breaker and rate limit first); or, when none was made,
    the message's status (not ours any more, or put back to wait)."""
    if message.status != OutboundStatus.IN_FLIGHT:
        return message.status
    # Renew our lease once half of it is spent (earlier deliveries of the batch were slow); if
    # the sweeper handed the message to someone else meanwhile, let it go. Recording the outcome
    # checks the claim token again, under the row lock.
    if not _lease_fresh(message):
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
    return Attempt(message, result, started, duration_ms, task_id, policy)


def _lock(pks: list[int]) -> dict[int, OutboundMessage]:
    """Row locks on the messages, taken in id order (two drains never wait on each other in a
    circle), with their connections."""
    rows = (
        OutboundMessage.objects.select_related("connection")
        .select_for_update(of=("self",))
        .filter(pk__in=pks)
        .order_by("pk")
    )
    return {row.pk: row for row in rows}


def _record_delivery(attempt: Attempt) -> str:
    """Record one call's outcome in its own transaction."""
    with transaction.atomic(), deferred_records():
        message = _lock([attempt.message.pk])[attempt.message.pk]
        status, row = _settle(message, attempt)
        row.save(force_insert=True)
    return status


def _record_deliveries(attempts: list[Attempt]) -> dict[int, str]:
    """Record a batch of outcomes in one transaction; if anything in it fails (a hook raised, a
    conflict), nothing of it is kept and each outcome is recorded alone instead, so one bad
    outcome cannot hold up the others and none is recorded twice."""
    if not attempts:
        return {}
    if len(attempts) == 1:
        return {attempts[0].message.pk: _record_delivery(attempts[0])}
    try:
        with transaction.atomic(), deferred_records():
            locked = _lock([a.message.pk for a in attempts])
            statuses, rows = {}, []
            delivered: dict[str, list[tuple[OutboundMessage, registry.DeliveryResult]]] = {}
            for attempt in attempts:
                message = locked[attempt.message.pk]
                statuses[message.pk], row = _settle(message, attempt, hooks=delivered)
                rows.append(row)
            for kind, outcomes in delivered.items():  # kinds with a batch hook: once each
                with acting_as(service_username(outcomes[0][0].connection.kind)):
                    registry.ON_DELIVERED_BATCH[kind](outcomes)
            DeliveryAttempt.objects.bulk_create(rows)
            # Every field an outcome may set, for all: each row holds its locked values for
            # the fields its own outcome left alone.
            update_rows(OutboundMessage, list(locked.values()), list(SETTLED_FIELDS))
        return statuses
    except Exception:
        logger.warning("recording %s deliveries together failed; one by one", len(attempts))
    statuses = {}
    for attempt in attempts:
        try:
            statuses[attempt.message.pk] = _record_delivery(attempt)
        except Exception:  # left in flight: its lease lapses and the sweeper hands it back
            logger.exception("recording the delivery of message %s failed", attempt.message.pk)
            statuses[attempt.message.pk] = OutboundStatus.IN_FLIGHT
    return statuses


def _settle(
    message: OutboundMessage,
    attempt: Attempt,
    *,
    hooks: dict[str, list[tuple[OutboundMessage, registry.DeliveryResult]]] | None = None,
) -> tuple[str, DeliveryAttempt]:
    """Apply one call's outcome to its locked message (and run its kind's hook, or, with
    ``hooks``, collect it there for the kind's batch hook): its new status and the attempt row to
    insert. Runs inside the recording transaction."""
    result, token = attempt.result, attempt.message.claim_token
    owned = message.status == OutboundStatus.IN_FLIGHT and message.claim_token == token
    message.attempts += 1
    row = DeliveryAttempt(
        message=message,
        number=message.attempts,
        task_id=attempt.task_id,
        started_at=attempt.started,
        duration_ms=attempt.duration_ms,
        status_code=result.status_code,
        error=result.error[:4000],
        response_body=body_text(result.body)[:8000],
    )
    if not owned:
        # Our lease ran out mid-call and another worker holds the message now: keep the
        # attempt on record, leave the outcome to the owner (same idempotency key).
        if hooks is None:  # in a batch, the caller saves every message at once
            message.save(update_fields=["attempts"])
        logger.warning("outbound message %s: claim lost during delivery", message.pk)
        return message.status, row
    message.claimed_until = None
    message.claim_token = None
    message.last_status_code = result.status_code
    fields = list(OUTCOME_FIELDS)
    message.response = result.body if isinstance(result.body, dict | list) else None
    with correlated(message.correlation_id), acting_as(service_username(message.connection.kind)):
        if result.ok:
            message.status = OutboundStatus.DELIVERED
            message.delivered_at = timezone.now()
            message.last_error = ""
            fields.append("delivered_at")
            if hooks is not None and message.kind in registry.ON_DELIVERED_BATCH:
                hooks.setdefault(message.kind, []).append((message, result))
            elif (hook := registry.ON_DELIVERED.get(message.kind)) is not None:
                hook(message, result)
            if message.attempts > 1:  # it failed before: its dead letter (if any) clears now
                close_exceptions_for(f"outbound:{message.pk}", reason="delivered")
            for ancestor_id in replay_ancestors(OutboundMessage, message):
                close_exceptions_for(
                    f"outbound:{ancestor_id}", reason=f"replay {message.pk} delivered"
                )
        elif result.retryable and message.attempts < message.max_attempts:
            delay = result.retry_after_s or backoff_seconds(message.attempts, attempt.policy)
            message.status = OutboundStatus.PENDING
            message.next_attempt_at = timezone.now() + timedelta(seconds=delay)
            message.last_error = result.error
            fields.append("next_attempt_at")
        else:
            message.status = OutboundStatus.DEAD
            message.last_error = result.error
            _dead_letter(message, result)
    if hooks is None:  # in a batch, the caller saves every message at once
        message.save(update_fields=fields)
    return message.status, row


def _dead_letter(message: OutboundMessage, result: registry.DeliveryResult) -> None:
    at_risk, currency = money_in(message.payload)
    open_exception(
        type=ExceptionType.DEAD_LETTER,
        dedupe_key=f"outbound:{message.pk}",
        title=f"{message.kind_label} to {message.connection.name} dead-lettered",
        detail=f"after {message.attempts} attempt(s): {result.error}\n"
        f"last response ({result.status_code}): {body_text(result.body)[:2000]}",
        severity=Severity.HIGH,
        correlation_id=message.correlation_id,
        money_at_risk=at_risk,
        currency=currency,
        subject_type="integrations.outboundmessage",
        subject_id=str(message.pk),
        context={"connection": message.connection.slug, "kind": message.kind},
    )
    logger.warning("outbound message %s dead-lettered: %s", message.pk, result.error)
