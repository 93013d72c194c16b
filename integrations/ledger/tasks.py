"""Scheduled ledger jobs: batching queued journal entries into the outbox, and reading the
ledger's fiscal periods back.

``ledger.post_batches`` is woken when an entry is queued (``kick_post_batches``, on commit; one
Redis ``SET NX`` per burst, so a burst of entries costs one task) and runs on beat every few
seconds as the safety net for a lost kick. It is a singleton (advisory lock) and works one batch
per transaction: claim ≤100 queued entries with ``SKIP LOCKED``, write the outbox message, mark
them sent. Entries wait (still queued) while no ledger connection is enabled.

``ledger.read_periods`` reads ``GET /api/v1/periods`` into ``FiscalPeriod`` rows (a ``SyncRun``
per run), so a period closed in the ledger blocks postings here with a clear reason instead of
being refused one entry at a time.
"""

from __future__ import annotations

import contextlib
import logging
import uuid
from typing import Any

import httpx
import redis
from celery import shared_task
from django.db import transaction
from django.utils import timezone

from controltower.catalog.choices import SystemKind
from controltower.core import memo
from controltower.core.context import acting_as, correlated
from controltower.finance.choices import JournalState
from controltower.finance.models import JournalEntry
from controltower.finance.services import record_entries_sent, sync_fiscal_periods
from integrations.ledger import translate
from integrations.ledger.adapter import (
    JOURNAL_BATCH_POST,
    POST_BATCHES,
    SUBJECT_TYPE,
    kick_key,
    kick_post_batches,
)
from integrations.runtime.http import client_for
from integrations.runtime.locks import singleton
from integrations.runtime.models import Connection, SyncRun
from integrations.runtime.outbox import enqueue_outbound
from integrations.runtime.redis_store import redis_client

logger = logging.getLogger(__name__)

READ_PERIODS = "ledger.read_periods"
BATCH_SIZE = 100  # the contract's limit per batch
MAX_BATCHES_PER_RUN = 50  # then the next kick or beat tick goes on
PERIODS_PATH = "/api/v1/periods"
SERVICE_USER = "sync.finance"


def ledger_connection() -> Connection | None:
    """The ledger that books every legal entity's entries: the first enabled one by slug."""
    return Connection.objects.filter(kind=SystemKind.FINANCE, enabled=True).order_by("slug").first()


def new_batch_ref(connection: Connection) -> str:
    stamp = timezone.now().strftime("%Y%m%dT%H%M%S")
    return f"LB-{connection.slug[:30]}-{stamp}-{uuid.uuid4().hex[:8]}"


def post_one_batch(connection: Connection, *, size: int = BATCH_SIZE) -> str | None:
    """One batch in one transaction: claim, write the outbox message, mark sent. The batch ref,
    or None when nothing is queued (or all of it is being batched by someone else)."""
    with transaction.atomic():
        entries = list(
            JournalEntry.objects.filter(state=JournalState.DRAFT)
            .order_by("pk")
            .select_for_update(skip_locked=True, of=("self",))
            .select_related("order__channel", "channel")
            .prefetch_related("lines__account", "lines__channel", "lines__location")[:size]
        )
        if not entries:
            return None
        ref = new_batch_ref(connection)
        correlation_id = uuid.uuid5(uuid.NAMESPACE_URL, f"ledger-batch:{ref}")
        with correlated(correlation_id):
            enqueue_outbound(
                connection,
                kind=JOURNAL_BATCH_POST,
                idempotency_key=ref,
                payload=translate.batch_payload(ref, entries),
                correlation_id=correlation_id,
                subject_type=SUBJECT_TYPE,
                subject_id=ref,
                also_for=sorted({str(entry.correlation_id) for entry in entries}),
            )
        record_entries_sent(entries, batch_reference=ref)
    logger.info("journal batch %s: %d entries to %s", ref, len(entries), connection.slug)
    return ref


@shared_task(name=POST_BATCHES)
def post_batches() -> list[str]:
    """Batch what is queued (singleton; one transaction per batch)."""
    with contextlib.suppress(redis.RedisError):  # a kick from now on asks for a fresh run
        redis_client().delete(kick_key())
    refs: list[str] = []
    # memo.batch(): lookups every entry's order repeats (its payment method) made once a run.
    with acting_as(SERVICE_USER), singleton(POST_BATCHES) as held, memo.batch():
        if not held:
            return refs
        connection = ledger_connection()
        if connection is None:
            return refs
        while len(refs) < MAX_BATCHES_PER_RUN:
            ref = post_one_batch(connection)
            if ref is None:
                break
            refs.append(ref)
    if len(refs) >= MAX_BATCHES_PER_RUN:
        kick_post_batches()
    return refs


def read_periods_of(connection: Connection) -> SyncRun:
    """One read of the ledger's periods into ``FiscalPeriod`` rows; the run says what changed."""
    run = SyncRun.objects.create(connection=connection, name="periods.read")
    headers = {"Authorization": f"Bearer {connection.credentials.get('token', '')}"}
    try:
        with client_for(connection) as client:
            response = client.get(PERIODS_PATH, headers=headers)
        if response.status_code != 200:
            raise translate.TranslationError(
                f"GET {PERIODS_PATH} answered HTTP {response.status_code}: {response.text[:300]}"
            )
        periods = translate.periods_from(response.json())
        counts: dict[str, Any] = sync_fiscal_periods(periods, source=f"ledger:{connection.slug}")
        counts["read"] = len(periods)
        run.status = SyncRun.Status.SUCCEEDED
        run.counts = counts
    except (httpx.HTTPError, ValueError, translate.TranslationError) as exc:
        logger.warning("reading the periods of %s failed: %s", connection.slug, exc)
        run.status = SyncRun.Status.FAILED
        run.error = str(exc)[:4000]
    run.finished_at = timezone.now()
    run.save(update_fields=["status", "counts", "error", "finished_at"])
    return run


@shared_task(name=READ_PERIODS)
def read_periods() -> dict[str, dict[str, Any]]:
    results: dict[str, dict[str, Any]] = {}
    with acting_as(SERVICE_USER), singleton(READ_PERIODS) as held:
        if not held:
            return results
        for connection in Connection.objects.filter(kind=SystemKind.FINANCE, enabled=True):
            run = read_periods_of(connection)
            results[connection.slug] = {"status": run.status, **run.counts}
    return results
