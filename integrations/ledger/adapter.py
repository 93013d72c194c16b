"""Ledger connector (generic journal-batch contract, docs/contracts/ledger.md): queued journal
entries go to the general ledger in batches; each entry's answer marks it posted or rejected.

Why batches: a ledger books entries one import at a time and counts calls (ERP GL APIs are
rate-limited per call, not per entry), and a day's sales arrive in bursts. So nothing is sent
per entry: ``journal_entry_queued`` only wakes ``ledger.post_batches`` (``tasks.py``) once the
queuing transaction commits, and beat runs it every few seconds as the safety net.

``ledger.post_batches`` takes up to 100 queued entries (``FOR UPDATE SKIP LOCKED``), writes ONE
outbox message ``ledger.journal_batch.post`` (idempotency key = the batch ref) and marks the
entries sent (``record_entries_sent``) in the same transaction. The runtime delivers it:
``POST {base_url}/api/v1/journal-batches`` with ``Authorization: Bearer <token>``,
``Idempotency-Key`` and ``X-Correlation-ID``; 5xx, 429 and timeouts are retried with the same
key and batch ref, so a batch the ledger booked before the answer was lost is answered again,
never booked twice. On delivery each entry's result goes through ``record_posting_result``:
accepted → posted with the ledger's id; rejected → rejected, with the ledger's code and reason
on the posting exception (for a closed period: which period, and what to do).

A re-post (``finance.services.retry_posting``) queues the entry again under the same
``external_ref``: the next batch gets it accepted, or accepted as a duplicate of what was
booked. A whole batch refused (any 4xx but 408/429: bad token, too large, unreadable) is a dead
letter naming the batch; its entries stay *sent* until a person replays the message.
"""

from __future__ import annotations

import logging
from typing import Any

import httpx
import redis
from django.conf import settings
from django.db import transaction
from django.dispatch import receiver

from controltower.finance.choices import JournalState
from controltower.finance.models import JournalEntry
from controltower.finance.services import record_posting_result
from controltower.finance.signals import journal_entry_queued
from integrations.ledger import translate
from integrations.runtime.http import (
    client_for,
    correlation_headers,
    result_from_error,
    result_from_response,
)
from integrations.runtime.models import OutboundMessage
from integrations.runtime.redis_store import redis_client
from integrations.runtime.registry import DeliveryResult, deliverer, on_delivered

logger = logging.getLogger(__name__)

BATCHES_PATH = "/api/v1/journal-batches"
JOURNAL_BATCH_POST = "ledger.journal_batch.post"  # outbound message kind
SUBJECT_TYPE = "finance.journalbatch"
POST_BATCHES = "ledger.post_batches"  # the batcher task (tasks.py), sent by name
KICK_TTL_MS = 2_000
KICK_DELAY_S = 0.3  # lets a burst of queued entries gather into one batch


def kick_key() -> str:
    return f"ct:kick:{settings.CELERY_TASK_DEFAULT_QUEUE}:ledger.post_batches"


def kick_post_batches() -> bool:
    """Enqueue one ``ledger.post_batches`` unless one was asked for moments ago."""
    from celery import current_app

    try:
        if not redis_client().set(kick_key(), "1", nx=True, px=KICK_TTL_MS):
            return False
    except redis.RedisError:
        logger.warning("ledger kick: redis unavailable; beat will post the batch")
        return False
    try:
        current_app.send_task(
            POST_BATCHES, queue=settings.CELERY_TASK_DEFAULT_QUEUE, countdown=KICK_DELAY_S
        )
    except Exception:  # broker down: beat posts it
        logger.exception("ledger kick: could not enqueue")
        return False
    return True


@receiver(journal_entry_queued, dispatch_uid="ledger.kick_post_batches")
def kick_on_queued(sender: Any, *, entry: JournalEntry, **_: Any) -> None:
    """Nothing is sent per entry: wake the batcher once the queuing transaction commits."""
    transaction.on_commit(kick_post_batches)


def _refused(message: OutboundMessage, result: DeliveryResult) -> DeliveryResult:
    """A whole-batch refusal, worded so the dead letter names the batch and says why."""
    ref = message.payload.get("batch_ref", message.subject_id)
    count = len(message.payload.get("entries", []))
    body = result.body if isinstance(result.body, dict) else {}
    said = body.get("error") or (result.body if isinstance(result.body, str) else "")
    if result.status_code == 413:
        why = (
            "too large for the ledger (this connector sends at most 100; check the ledger's limit)"
        )
    else:
        why = "refused whole by the ledger"
    return DeliveryResult(
        ok=False,
        status_code=result.status_code,
        body=result.body,
        error=f"HTTP {result.status_code}: journal batch {ref} ({count} entries) {why}: "
        f"{str(said)[:300]}",
        retryable=False,
    )


@deliverer(JOURNAL_BATCH_POST, label="Ledger: post journal batch")
def deliver_journal_batch(message: OutboundMessage) -> DeliveryResult:
    headers = {
        "Authorization": f"Bearer {message.connection.credentials.get('token', '')}",
        "Idempotency-Key": message.idempotency_key,
        **correlation_headers(),
    }
    try:
        with client_for(message.connection) as client:
            response = client.post(
                BATCHES_PATH, json=translate.request_body(message.payload), headers=headers
            )
    except httpx.HTTPError as exc:
        return result_from_error(exc)
    result = result_from_response(response)
    if not result.ok and not result.retryable:
        return _refused(message, result)
    if result.ok:
        try:
            translate.batch_results(result.body)
        except translate.TranslationError as exc:
            # Booked or not, we cannot tell: ask again (same batch ref → the stored answer).
            return DeliveryResult(
                ok=False, status_code=result.status_code, body=result.body, error=str(exc)
            )
    return result


@on_delivered(JOURNAL_BATCH_POST)
def record_batch_results(message: OutboundMessage, result: DeliveryResult) -> None:
    """Each entry's answer through the domain; an entry the answer leaves out is rejected (so a
    person sees it and can re-post) rather than left *sent* for ever."""
    ref = message.payload.get("batch_ref", message.subject_id)
    results = {r.external_ref: r for r in translate.batch_results(result.body)}
    entries = (
        JournalEntry.objects.filter(batch_reference=ref, state=JournalState.SENT)
        .order_by("pk")
        .select_related("order")
    )
    for entry in entries:
        answer = results.get(translate.external_ref(entry))
        if answer is None:
            record_posting_result(
                entry,
                accepted=False,
                reason=f"the ledger's answer to batch {ref} did not mention this entry",
            )
        elif answer.accepted:
            record_posting_result(entry, accepted=True, ledger_id=answer.ledger_id)
        else:
            record_posting_result(
                entry, accepted=False, reason=translate.rejection_reason(answer, entry)
            )
    logger.info("journal batch %s answered: %d result(s)", ref, len(results))
