"""Celery tasks of the runtime. Rows are the idempotency keys; re-running any task is harmless."""

from __future__ import annotations

import logging
import time

from celery import shared_task
from django.conf import settings

from controltower.core import live
from controltower.core.context import acting_as
from integrations.runtime import inbox, kick, outbox, sweeper

logger = logging.getLogger(__name__)

DRAIN_BUDGET_S = 20.0


def _drain(queue: str, slot: int, claim: object, handle: object, batch: int, task_id: str) -> int:
    done = 0
    deadline = time.monotonic() + DRAIN_BUDGET_S
    try:
        while time.monotonic() < deadline:
            kick.refresh(queue, slot)
            ids = claim(batch)  # type: ignore[operator]
            if not ids:
                # Release the slot, then look once more: an item committed between our empty
                # claim and the release would otherwise wait for the sweeper.
                kick.release(queue, slot)
                ids = claim(batch)  # type: ignore[operator]
                if not ids:
                    return done
                kick.refresh(queue, slot)
            with kick.deferred(), live.batched():
                for item_id in ids:
                    handle(item_id, task_id)  # type: ignore[operator]
                    done += 1
    except BaseException:
        kick.release(queue, slot)
        raise
    # Budget spent with work left: hand over to a fresh task so others get the worker too.
    kick.release(queue, slot)
    kick.kick(queue)
    return done


def _task_id(task: object) -> str:
    return getattr(getattr(task, "request", None), "id", "") or ""


@shared_task(name="integrations.drain_inbox", bind=True)
def drain_inbox(self: object, slot: int = 0) -> int:
    with acting_as("system.runtime"):
        return _drain(
            "inbox",
            slot,
            inbox.claim_inbound,
            lambda item_id, _task: inbox.process_inbound_event(item_id),
            settings.CT_INBOX_BATCH,
            _task_id(self),
        )


@shared_task(name="integrations.drain_outbox", bind=True)
def drain_outbox(self: object, slot: int = 0) -> int:
    with acting_as("system.runtime"):
        return _drain(
            "outbox",
            slot,
            outbox.claim_outbound,
            lambda item_id, task: outbox.deliver_outbound_message(item_id, task_id=task),
            settings.CT_OUTBOX_BATCH,
            _task_id(self),
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
