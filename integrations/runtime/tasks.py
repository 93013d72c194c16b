"""Celery tasks of the runtime. Rows are the idempotency keys; re-running any task is harmless."""

from __future__ import annotations

import logging
import time
import uuid
from collections.abc import Callable
from typing import Any

from celery import shared_task
from django.conf import settings
from django.db.models import F

from controltower.core import live, memo
from controltower.core.context import acting_as
from integrations.runtime import inbox, kick, outbox, sweeper
from integrations.runtime.choices import InboundStatus, OutboundStatus
from integrations.runtime.models import InboundEvent, OutboundMessage

logger = logging.getLogger(__name__)

DRAIN_BUDGET_S = 20.0


def _unclaim_inbound(ids: list[int]) -> None:
    """Hand claimed events back untouched (the attempt the claim counted is given back)."""
    InboundEvent.objects.filter(id__in=ids, status=InboundStatus.PROCESSING).update(
        status=InboundStatus.PENDING, claimed_until=None, attempts=F("attempts") - 1
    )


def _unclaim_outbound(ids: list[int]) -> None:
    """Hand claimed messages back untouched (a claim spends no attempt)."""
    OutboundMessage.objects.filter(id__in=ids, status=OutboundStatus.IN_FLIGHT).update(
        status=OutboundStatus.PENDING, claimed_until=None, claim_token=None
    )


def _drain(
    queue: str,
    slot: int,
    claim: Callable[[int], list[int]],
    load: Callable[[list[int]], dict[int, Any]],
    handle: Callable[[list[Any], str, Callable[[], bool]], list[Any]],
    batch: int,
    task_id: str,
    *,
    token: str = "",
    unclaim: Callable[[list[int]], None],
) -> int:
    """Claim and handle batches while holding ``slot`` (a lease renewed by a heartbeat, so a
    slow call never makes it look free), until the queue is empty or the budget is spent.

    ``handle(items, task_id, held)`` handles a loaded batch, stops when ``held()`` turns false
    and returns the items it did not reach; they are handed back (``unclaim``)."""
    lease = kick.SlotLease(queue, slot, token or uuid.uuid4().hex)
    if not lease.start():
        logger.info("drain %s slot %s: another drain holds the slot; nothing to do", queue, slot)
        return 0
    done = 0
    deadline = time.monotonic() + DRAIN_BUDGET_S
    try:
        while time.monotonic() < deadline:
            if not lease.held:
                return done  # another drain owns the slot now: it drains the rest
            ids = claim(batch)
            if not ids:
                # Release the slot, then look once more: an item committed between our empty
                # claim and the release would otherwise wait for the sweeper.
                lease.release()
                ids = claim(batch)
                if not ids:
                    return done
                if not lease.retake():
                    # A kick took the slot in between: its drain takes these too.
                    unclaim(ids)
                    kick.kick(queue)
                    return done
            # One read for the batch's rows; lookups every item repeats made once (memo); kicks
            # and pushes sent once at the end.
            with kick.deferred(), live.batched(), memo.batch():
                loaded = load(ids)
                items = [loaded[i] for i in ids if i in loaded]
                left = handle(items, task_id, lambda: lease.held)
                unclaim([item.pk for item in left])
                done += len(items) - len(left)
    finally:
        lease.release()
    # Budget spent with work left: hand over to a fresh task so others get the worker too.
    kick.kick(queue)
    return done


def _task_id(task: object) -> str:
    return getattr(getattr(task, "request", None), "id", "") or ""


@shared_task(name="integrations.drain_inbox", bind=True)
def drain_inbox(self: object, slot: int = 0, token: str = "") -> int:
    with acting_as("system.runtime"):
        return _drain(
            "inbox",
            slot,
            inbox.claim_inbound,
            inbox.load_claimed,
            lambda items, _task, held: inbox.process_inbound_batch(items, held=held),
            settings.CT_INBOX_BATCH,
            _task_id(self),
            token=token,
            unclaim=_unclaim_inbound,
        )


@shared_task(name="integrations.drain_outbox", bind=True)
def drain_outbox(self: object, slot: int = 0, token: str = "") -> int:
    with acting_as("system.runtime"):
        return _drain(
            "outbox",
            slot,
            outbox.claim_outbound,
            outbox.load_claimed,
            lambda items, task, held: outbox.deliver_outbound_batch(items, task_id=task, held=held),
            settings.CT_OUTBOX_BATCH,
            _task_id(self),
            token=token,
            unclaim=_unclaim_outbound,
        )


@shared_task(name="integrations.sweep")
def sweep() -> dict[str, int]:
    with acting_as("system.runtime"):
        return sweeper.sweep()


# --- the webhook spool (integrations/runtime/spool.py) -------------------------------------------
@shared_task(name="integrations.drain_spool")
def drain_spool() -> dict[str, int]:
    """Store deliveries spooled while the database was unreachable, on this host: the files of
    processes that got no more traffic or died. Nothing spooled: one directory listing."""
    from integrations.runtime import spool

    if not spool.spool_files():
        return {"files": 0}
    return spool.replay()
