"""Wake the drain tasks without one Celery message per event.

A producer sets a short-lived Redis key with ``SET NX``; only the producer that set it enqueues a
drain task. The drain loops until the queue is empty, so bursts cost one task, not thousands.
Anything a lost kick leaves behind is found by the sweeper on beat.

Each of a queue's ``slots`` is a lease: the key holds the token of the one drain that owns it.
The drain holds it (:class:`SlotLease`) for as long as it runs — a heartbeat thread renews it
every third of ``KICK_TTL_MS``, also while one delivery waits out a 10-second (or 30-second) HTTP
call — and only its owner may renew or release it. So a slot never looks free while its drain is
alive, a late release never frees another drain's slot, and a drain whose Celery message waited
longer than the TTL finds its slot taken and leaves: never more drains than slots. A killed
worker's heartbeat dies with it, and its slot lapses within ``KICK_TTL_MS``.
"""

from __future__ import annotations

import contextlib
import logging
import threading
import uuid
from collections.abc import Iterator

import redis
from django.conf import settings

from integrations.runtime.redis_store import redis_client

logger = logging.getLogger(__name__)

KICK_TTL_MS = 10_000  # a live drain's heartbeat renews it; a dead one's slot lapses fast
HEARTBEAT_S = KICK_TTL_MS / 3000

# Renew the lease if it is ours; take it back if it lapsed (a Redis restart); 0 if another
# drain holds it now.
_RENEW = """
local holder = redis.call('GET', KEYS[1])
if holder == ARGV[1] then
  redis.call('PEXPIRE', KEYS[1], ARGV[2])
  return 1
end
if not holder then
  redis.call('SET', KEYS[1], ARGV[1], 'PX', ARGV[2])
  return 1
end
return 0
"""
_RELEASE = """
if redis.call('GET', KEYS[1]) == ARGV[1] then
  return redis.call('DEL', KEYS[1])
end
return 0
"""

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
        token = uuid.uuid4().hex
        try:
            if not redis_client().set(kick_key(queue, slot), token, nx=True, px=KICK_TTL_MS):
                continue
        except redis.RedisError:
            logger.warning("kick %s: redis unavailable; the sweeper will pick the work up", queue)
            return False
        try:
            current_app.send_task(
                task_name,
                kwargs={"slot": slot, "token": token},
                queue=settings.CELERY_TASK_DEFAULT_QUEUE,
            )
        except Exception:  # broker down: the sweeper re-kicks once it is back
            logger.exception("kick %s: could not enqueue", queue)
            release(queue, slot, token)
            return False
        return True
    return False


def renew(queue: str, slot: int, token: str) -> bool:
    """Renew (or take back, if it lapsed) the slot for its owner; False if another drain holds
    it. Redis unreachable: True (we cannot know; the drain goes on)."""
    try:
        return bool(redis_client().eval(_RENEW, 1, kick_key(queue, slot), token, KICK_TTL_MS))
    except redis.RedisError:
        logger.warning("renew %s slot %s: redis unavailable", queue, slot)
        return True


def take(queue: str, slot: int, token: str) -> bool:
    """Take a free slot for a drain that holds none (or its own back); False if it is taken."""
    try:
        return bool(redis_client().set(kick_key(queue, slot), token, nx=True, px=KICK_TTL_MS))
    except redis.RedisError:
        logger.warning("take %s slot %s: redis unavailable", queue, slot)
        return True


def release(queue: str, slot: int = 0, token: str = "") -> None:
    """Free the slot if ``token`` still owns it (a lapsed lease another drain took stays its)."""
    try:
        redis_client().eval(_RELEASE, 1, kick_key(queue, slot), token)
    except redis.RedisError:
        logger.warning("release %s: redis unavailable", queue)


class SlotLease:
    """One drain's hold on one slot, renewed by a heartbeat thread while the drain runs.

    ``held`` says whether the drain may go on claiming work; it turns False when another drain
    owns the slot (this one's lease lapsed, e.g. a stalled process), and the drain stops after
    the item at hand."""

    def __init__(self, queue: str, slot: int, token: str) -> None:
        self.queue, self.slot, self.token = queue, slot, token
        self._held = threading.Event()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    @property
    def held(self) -> bool:
        return self._held.is_set()

    def start(self) -> bool:
        """Begin holding the slot: ours (the kick set our token) or free. False if taken."""
        if not renew(self.queue, self.slot, self.token):
            return False
        self._held.set()
        self._stop.clear()
        self._thread = threading.Thread(
            target=self._beat, name=f"slot-{self.queue}-{self.slot}", daemon=True
        )
        self._thread.start()
        return True

    def retake(self) -> bool:
        """After :meth:`release`, hold the slot again if it is still free."""
        if not take(self.queue, self.slot, self.token):
            return False
        return self.start()

    def _beat(self) -> None:
        while not self._stop.wait(HEARTBEAT_S):
            if not renew(self.queue, self.slot, self.token):
                logger.warning("%s slot %s: taken by another drain", self.queue, self.slot)
                self._held.clear()
                return

    def release(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=5)
            self._thread = None
        if self._held.is_set():
            self._held.clear()
            release(self.queue, self.slot, self.token)
