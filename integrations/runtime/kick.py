"""Wake the drain tasks without one Celery message per event.

A producer sets a short-lived Redis key with ``SET NX``; only the producer that set it enqueues a
drain task. The drain loops until the queue is empty, so bursts cost one task, not thousands.
Anything a lost kick leaves behind is found by the sweeper on beat.
"""

from __future__ import annotations

import logging
from functools import cache

import redis
from django.conf import settings

logger = logging.getLogger(__name__)

KICK_TTL_MS = 10_000  # a drain refreshes it per batch; a dead one's kick lapses fast


@cache
def redis_client() -> redis.Redis:
    return redis.Redis.from_url(settings.REDIS_URL)


def kick_key(queue: str) -> str:
    return f"ct:kick:{settings.CELERY_TASK_DEFAULT_QUEUE}:{queue}"


def kick(queue: str) -> bool:
    """Enqueue the drain task for ``queue`` unless one is already pending or running."""
    from integrations.runtime import tasks

    try:
        if not redis_client().set(kick_key(queue), "1", nx=True, px=KICK_TTL_MS):
            return False
    except redis.RedisError:
        logger.warning("kick %s: redis unavailable; the sweeper will pick the work up", queue)
        return False
    task = {"inbox": tasks.drain_inbox, "outbox": tasks.drain_outbox}[queue]
    try:
        task.apply_async()
    except Exception:  # broker down: the sweeper re-kicks once it is back
        logger.exception("kick %s: could not enqueue", queue)
        redis_client().delete(kick_key(queue))
        return False
    return True


def release(queue: str) -> None:
    try:
        redis_client().delete(kick_key(queue))
    except redis.RedisError:
        logger.warning("release %s: redis unavailable", queue)
