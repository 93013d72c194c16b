"""The inbox: raw inbound events stored durably, claimed in batches, translated by their kind.

Every inbound path (webhooks, backfill polls, rejected bodies, replays) stores through
:func:`store_inbound_event`; drains claim pending events with ``SKIP LOCKED`` and hand each to the
kind's registered handler inside one transaction with the domain change and its outbox rows.
"""

from __future__ import annotations

import hashlib
import json
import logging
import traceback
from collections.abc import Callable
from datetime import datetime, timedelta
from decimal import Decimal

from django.conf import settings
from django.db import DatabaseError, DataError, IntegrityError, transaction
from django.db.models import F, Q
from django.utils import timezone
from psycopg.errors import CheckViolation, NotNullViolation

from controltower.core.context import acting_as
from controltower.core.errors import NotYet
from controltower.core.models import deferred_records, update_rows
from controltower.exceptions.choices import ExceptionType, Severity
from controltower.exceptions.services import (
    close_exceptions_for,
    file_exceptions_under,
    open_exception,
)
from integrations.runtime import kick, registry, store
from integrations.runtime.choices import InboundStatus
from integrations.runtime.messages import money_in, replay_ancestors, service_username
from integrations.runtime.models import Connection, InboundEvent, MessageAction
from integrations.runtime.store import insert_inbound_event

logger = logging.getLogger(__name__)

INBOUND_MAX_ATTEMPTS = 5
MONEY_AT_RISK_MAX = Decimal(10) ** 16  # DecimalField(max_digits=20, decimal_places=4)


def body_hash(body: bytes | str) -> str:
    raw = body.encode() if isinstance(body, str) else body
    return hashlib.sha256(raw).hexdigest()


def inbound_dedupe_key(
    connection: Connection | registry.WebhookConnection,
    *,
    resource: str,
    resource_id: str,
    modified: str,
    body: bytes,
) -> str:
    """Same resource, same source modification time, same body: the same event."""
    material = f"{connection.slug}|{resource}|{resource_id}|{modified}|{body_hash(body)}"
    return hashlib.sha256(material.encode()).hexdigest()


def record_inbound_event(
    connection: Connection | registry.WebhookConnection,
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
    path (webhooks, backfill polls, rejected bodies) stores through here.
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


def store_accepted(
    connection: registry.WebhookConnection, body: bytes, accepted: registry.Accept
) -> bool:
    """Store a verified delivery; False when it was a redelivery (already held).

    The dedupe key is made of what the signed body says — its id, its version (``modified``) and
    its hash — never of the resource or topic, which a kind may have read from unsigned headers:
    the same body is one event however it is announced."""
    event_id = record_inbound_event(
        connection,
        body=body,
        headers=accepted.headers,
        topic=accepted.topic,
        resource=accepted.resource,
        resource_id=accepted.resource_id,
        delivery_id=accepted.delivery_id,
        source_modified_at=accepted.source_modified_at,
        dedupe_key=inbound_dedupe_key(
            connection,
            resource="",
            resource_id=accepted.resource_id,
            modified=accepted.modified,
            body=body,
        ),
    )
    return event_id is not None


def store_rejected(
    connection: registry.WebhookConnection, body: bytes, rejected: registry.Reject
) -> int:
    """Keep a verified but unreadable delivery for ops: a rejected event, and an exception keyed
    and linked like every inbound dead letter, so it can be replayed edited from the work queue
    and closes itself when a replay of it is processed. Returns the event's id."""
    key = f"rejected:{body_hash(body)}"
    topic = store.storable_text(rejected.topic, limit=64)
    detail = store.storable_text(rejected.detail, limit=4000)
    with transaction.atomic():
        event_id = record_inbound_event(
            connection,
            body=body,
            headers=rejected.headers,
            topic=rejected.topic,
            resource=rejected.resource,
            delivery_id=rejected.delivery_id,
            dedupe_key=key,
            status=InboundStatus.REJECTED,
            error=detail,
        ) or InboundEvent.objects.values_list("pk", flat=True).get(dedupe_key=key)
        open_exception(
            type=ExceptionType.REJECTED_INBOUND,
            dedupe_key=f"inbound:{event_id}",
            title=f"Malformed {topic or 'webhook'} from {connection.name}",
            detail=detail,
            severity=Severity.MEDIUM,
            subject_type="integrations.inboundevent",
            subject_id=str(event_id),
            context={"connection": connection.slug, "topic": topic},
        )
    return event_id


def claim_inbound(limit: int) -> list[int]:
    """Claim up to ``limit`` pending events, oldest first: two statements for the batch."""
    now = timezone.now()
    with transaction.atomic():
        ids = list(
            InboundEvent.objects.filter(status=InboundStatus.PENDING)
            .filter(Q(claimed_until__isnull=True) | Q(claimed_until__lte=now))  # not waiting
            .order_by("id")
            .select_for_update(skip_locked=True)
            .values_list("id", flat=True)[:limit]
        )
        if ids:
            InboundEvent.objects.filter(id__in=ids).update(
                status=InboundStatus.PROCESSING,
                claimed_until=now + timedelta(seconds=settings.CT_LEASE_S),
                attempts=F("attempts") + 1,
            )
    return ids


def load_claimed(ids: list[int]) -> dict[int, InboundEvent]:
    """The claimed events of a batch with their connections (and channels), in one query."""
    return InboundEvent.objects.select_related("connection", "connection__channel").in_bulk(ids)


BATCH_FIELDS = ("status", "correlation_id", "processed_at", "claimed_until", "error")


def process_inbound_batch(
    events: list[InboundEvent], *, held: Callable[[], bool] = lambda: True
) -> list[InboundEvent]:
    """Process a drain's claimed batch: the fresh events of each kind that has a batch handler
    (:func:`registry.inbound_batch`) together, in one transaction; the rest — and all of a batch
    that failed, rolled back whole — one by one, in order, each in its own transaction. Stops
    when ``held()`` turns false (the drain lost its slot) and returns the events it did not
    process, still claimed, for the caller to hand back."""
    done = _apply_batches(events)
    for index, event in enumerate(events):
        if event.pk in done:
            continue
        if not held():
            return [e for e in events[index:] if e.pk not in done]
        process_inbound_event(event)
    return []


def _apply_batches(events: list[InboundEvent]) -> set[int]:
    """The ids of the events the kinds' batch handlers applied (and marked processed)."""
    by_kind: dict[str, list[InboundEvent]] = {}
    for event in events:
        # Only a first attempt of an original: retries, replays and their dead letters take
        # the one-by-one path, which settles them.
        fresh = (
            event.status == InboundStatus.PROCESSING
            and event.attempts == 1
            and event.replay_of_id is None
        )
        if fresh and event.connection.kind in registry.INBOUND_BATCH:
            by_kind.setdefault(event.connection.kind, []).append(event)
    done: set[int] = set()
    for kind, group in by_kind.items():
        if len(group) < 2:
            continue
        try:
            with (
                acting_as(service_username(kind)),
                transaction.atomic(),
                deferred_records(),
            ):
                outcomes = registry.INBOUND_BATCH[kind](group)
                applied = [event for event in group if event.pk in outcomes]
                now = timezone.now()
                for event in applied:
                    event.status = InboundStatus.PROCESSED
                    event.correlation_id = outcomes[event.pk]
                    event.processed_at = now
                    event.claimed_until = None
                    event.error = ""
                update_rows(InboundEvent, applied, list(BATCH_FIELDS))
        except Exception:
            logger.warning(
                "a batch of %s %s events failed as a whole; one by one",
                len(group),
                kind,
                exc_info=True,
            )
            for event in group:  # nothing of the batch was kept: as claimed
                event.status = InboundStatus.PROCESSING
                event.correlation_id = None
                event.processed_at = None
            continue
        done.update(event.pk for event in applied)
    return done


def process_inbound_event(event_id: int | InboundEvent) -> str:
    """Translate one claimed event into domain changes (and outbox rows), in one transaction.

    Takes the event's id, or the event as :func:`load_claimed` read it for its batch."""
    if isinstance(event_id, InboundEvent):
        event = event_id
    else:
        event = InboundEvent.objects.select_related("connection").get(pk=event_id)
    if event.status != InboundStatus.PROCESSING:
        return event.status
    handler = registry.INBOUND.get(event.connection.kind)
    try:
        if handler is None:
            raise registry.PoisonMessage(f"no inbound handler for kind {event.connection.kind}")
        with (
            acting_as(service_username(event.connection.kind)),
            transaction.atomic(),
            deferred_records(),
        ):
            outcome = handler(event)
            ignored = outcome is None or isinstance(outcome, registry.Ignored)
            event.status = InboundStatus.IGNORED if ignored else InboundStatus.PROCESSED
            if not ignored:
                event.correlation_id = outcome
            event.processed_at = timezone.now()
            event.claimed_until = None
            # an ignored event keeps why, for ops reading it
            event.error = outcome.reason[:4000] if isinstance(outcome, registry.Ignored) else ""
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
    except NotYet as exc:
        _wait_inbound(event, str(exc))
    except IntegrityError as exc:
        if isinstance(exc.__cause__, CheckViolation | NotNullViolation):
            # The data breaks a rule of the canonical model: retrying cannot help.
            _fail_inbound(event, f"refused by the canonical model: {exc}")
        else:
            _retry_or_fail_inbound(event, exc)
    except DataError as exc:
        # SQLSTATE class 22 (value too long, invalid text, out of range…): the data itself is
        # refused, and the same data is refused every time — a dead letter now, not five retries.
        _fail_inbound(event, f"refused by the database (permanent): {exc}")
    except DatabaseError as exc:
        _retry_or_fail_inbound(event, exc)
    except RecursionError:
        _fail_inbound(event, "the payload is nested too deeply to process")
    except Exception as exc:
        logger.exception("inbound event %s failed", event.pk)
        _fail_inbound(event, f"{type(exc).__name__}: {exc}\n{traceback.format_exc(limit=5)}")
    return InboundEvent.objects.values_list("status", flat=True).get(pk=event.pk)


def _settle_inbound_chain(event: InboundEvent) -> None:
    """A replay succeeded: close every dead letter of its chain and file the failed originals
    (and the people's actions on them) under the transaction's correlation id for the trace."""
    ancestors = replay_ancestors(InboundEvent, event)
    for ancestor_id in ancestors:
        close_exceptions_for(f"inbound:{ancestor_id}", reason=f"replay {event.pk} processed")
    if event.correlation_id is None:
        return
    InboundEvent.objects.filter(pk__in=ancestors, correlation_id__isnull=True).update(
        correlation_id=event.correlation_id
    )
    reason = f"filed under transaction {event.correlation_id}"[:100]
    actions = MessageAction.objects.filter(
        direction=MessageAction.Direction.INBOUND, original_id__in=ancestors
    ).exclude(correlation_id=event.correlation_id)
    for action in actions:  # a runtime row, not a canonical one
        action.correlation_id = event.correlation_id
        action._change_reason = reason  # type: ignore[attr-defined]
        action.save(update_fields=["correlation_id", "updated_at"])
    file_exceptions_under(
        subject_type="integrations.inboundevent",
        subject_ids=[str(a) for a in ancestors],
        correlation_id=event.correlation_id,
        reason=reason,
    )


def _wait_inbound(event: InboundEvent, reason: str) -> None:
    """The event came before what it follows: held (not counted as an attempt) and tried again
    after a growing pause; past CT_INBOUND_WAIT_S since it arrived it is refused for ops."""
    waited = (timezone.now() - event.received_at).total_seconds()
    if waited > settings.CT_INBOUND_WAIT_S:
        _fail_inbound(event, f"refused: {reason} (waited {int(waited)} s for it)")
        return
    pause = min(30.0, 0.5 * 2 ** min(event.attempts, 6))
    InboundEvent.objects.filter(pk=event.pk).update(
        status=InboundStatus.PENDING,
        claimed_until=timezone.now() + timedelta(seconds=pause),
        attempts=F("attempts") - 1,
        error=f"waiting: {reason}"[:2000],
    )


def _retry_or_fail_inbound(event: InboundEvent, exc: Exception) -> None:
    """A concurrent worker created the same order, a deadlock, a lost connection: retry."""
    if event.attempts >= INBOUND_MAX_ATTEMPTS:
        _fail_inbound(event, f"gave up after {event.attempts} attempts: {exc}")
        return
    InboundEvent.objects.filter(pk=event.pk).update(
        status=InboundStatus.PENDING, claimed_until=None, error=str(exc)[:2000]
    )
    transaction.on_commit(lambda: kick.kick("inbox"))


def _fail_inbound(event: InboundEvent, error: str) -> None:
    try:
        at_risk, currency = money_in(json.loads(event.body))
    except (ValueError, TypeError, AttributeError, RecursionError):
        at_risk, currency = Decimal(0), "EUR"
    if at_risk >= MONEY_AT_RISK_MAX:  # not an amount a column holds: an attacker's number
        at_risk = Decimal(0)
    currency = store.storable_text(currency)
    error = store.storable_text(error)
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


def raw_body(event: InboundEvent) -> bytes:
    """The exact bytes received (a body that is not UTF-8 text, or holds NUL, is stored base64
    and flagged in its headers: ``store.BODY_ENCODING``)."""
    return store.raw_body(event.body, event.headers)


def latest_source_version(
    connection: registry.WebhookConnection, *, resource_id: str, resources: tuple[str, ...]
) -> str:
    """The newest source modification time stored for ``resource_id`` (any of ``resources``),
    or "none": what tells a body without its own version (a deletion's ``{"id": N}``) from a
    redelivery of it. Read through the (resource, resource_id) index."""
    latest = (
        InboundEvent.objects.filter(
            connection_id=connection.pk,
            resource__in=resources,
            resource_id=resource_id,
            source_modified_at__isnull=False,
        )
        .order_by("-source_modified_at")
        .values_list("source_modified_at", flat=True)
        .first()
    )
    return latest.isoformat() if latest is not None else "none"
