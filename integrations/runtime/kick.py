"""Wake the drain tasks without one Celery message per event.

A producer sets a short-lived Redis key with ``SET NX``; only the producer that set it enqueues a
drain task. The drain loops until the queue is empty, so bursts cost one task, not thousands.
Anything a lost kick leaves behind is found by the sweeper on beat.
"""

from __future__ import annotations

import contextlib
import logging
import threading
from collections.abc import Iterator

import redis
from django.conf import settings

from integrations.runtime.redis_store import redis_client

logger = logging.getLogger(__name__)

KICK_TTL_MS = 10_000  # a drain refreshes it per batch; a dead one's kick lapses fast

# The drain task of each queue, by its stable Celery name (``integrations/runtime/tasks.py``):
# sent by name, so waking a drain never imports the task module.
DRAIN_TASKS = {"inbox": "integrations.drain_inbox", "outbox": "integrations.drain_outbox"}


def kick_key(queue: str, slot: int = 0) -> str:
    return f"ct:kick:{settings.CELERY_TASK_DEFAULT_QUEUE}:{queue}:{slot}"


def slots(queue: str) -> int:
    """How many drains of ``queue`` may run at once (claims with SKIP LOCKED keep them apart)."""
    return max(
        1, {"inbox": settings.CT_INBOX_DRAINERS, "outbox": settings.CT_OUTBOX_DRAINERS}[queue]
    )


_local = threading.local()


@contextlib.contextmanager
def deferred() -> Iterator[None]:
    """Collect kicks made while a worker handles a batch and send each queue's once at the end."""
    if getattr(_local, "queues", None) is not None:
        yield
        return
    _local.queues = set()
    try:
        yield
    finally:
        queues, _local.queues = _local.queues, None
        for queue in sorted(queues):
            kick(queue)


def kick(queue: str) -> bool:
    """Enqueue a drain task for ``queue`` in the first free slot; False if all are taken."""
    pending = getattr(_local, "queues", None)
    if pending is not None:
        pending.add(queue)
        return True

    from celery import current_app

    task_name = DRAIN_TASKS[queue]
    for slot in range(slots(queue)):
        try:
            if not redis_client().set(kick_key(queue, slot), "1", nx=True, px=KICK_TTL_MS):
                continue
        except redis.RedisError:
            logger.warning("kick %s: redis unavailable; the sweeper will pick the work up", queue)
            return False
        try:
            current_app.send_task(
                task_name, kwargs={"slot": slot}, queue=settings.CELERY_TASK_DEFAULT_QUEUE
            )
        except Exception:  # broker down: the sweeper re-kicks once it is back
            logger.exception("kick %s: could not enqueue", queue)
            release(queue, slot)
            return False
        return True
    return False


def refresh(queue: str, slot: int) -> None:
    """A running drain says it is alive, so its slot outlives KICK_TTL_MS."""
    redis_client().set(kick_key(queue, slot), "1", px=KICK_TTL_MS)


def release(queue: str, slot: int = 0) -> None:
    try:
        redis_client().delete(kick_key(queue, slot))
    except redis.RedisError:
        logger.warning("release %s: redis unavailable", queue)
