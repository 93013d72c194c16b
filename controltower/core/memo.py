"""Per-batch memory for a worker: what every item of a batch looks up the same way.

A drain handles up to a hundred events in a row; each would otherwise read the same service
user, the same status mappings and the same list of connections once per item. Inside
:func:`batch` those reads are made once per batch and then shared; outside one, :func:`remember`
just computes. The memory lives no longer than the batch (a few seconds), so an admin's change
to configuration reaches the very next batch.

Only rows that already existed before the batch belong here: a row created inside an item's
transaction may be rolled back with it, and must not be remembered for the next item.
"""

from __future__ import annotations

import contextlib
import logging
import threading
from collections.abc import Callable, Hashable, Iterable, Iterator
from typing import Any

_local = threading.local()
logger = logging.getLogger(__name__)


@contextlib.contextmanager
def batch() -> Iterator[None]:
    """Remember lookups until the block ends (nested: the outermost block owns the memory)."""
    if getattr(_local, "memory", None) is not None:
        yield
        return
    _local.memory = {}
    _local.later = {}
    try:
        yield
    finally:
        later, _local.later = _local.later, None
        _local.memory = None
        for flush, items in later.values():
            try:
                flush(items)
            except Exception:  # one follow-up failing must not lose the others
                name = getattr(flush, "__name__", flush)
                logger.exception("a batch's follow-up (%s) failed", name)


def remember[T](key: Hashable, compute: Callable[[], T]) -> T:
    """``compute()``, once per batch for ``key``; every call outside a batch computes."""
    memory: dict[Hashable, Any] | None = getattr(_local, "memory", None)
    if memory is None:
        return compute()
    if key not in memory:
        memory[key] = compute()
    return memory[key]


def recall(key: Hashable) -> Any:
    """What the current batch remembers for ``key``, or None."""
    memory: dict[Hashable, Any] | None = getattr(_local, "memory", None)
    return None if memory is None else memory.get(key)


def after_batch(key: Hashable, items: Iterable[Any], flush: Callable[[set[Any]], None]) -> None:
    """Gather ``items`` under ``key``; ``flush(all of them)`` runs once when the batch ends,
    after every item's own transaction (outside one: at once). For follow-ups that are cheaper
    once for many items and may lag them by the batch's length: they must be idempotent (an
    item whose transaction rolled back may still be flushed) and open their own transaction."""
    later: dict[Hashable, tuple[Callable[[set[Any]], None], set[Any]]] | None = getattr(
        _local, "later", None
    )
    if later is None:
        flush(set(items))
        return
    _, gathered = later.setdefault(key, (flush, set()))
    gathered.update(items)


def keep(key: Hashable, value: Any) -> None:
    """Remember ``value`` for ``key`` in the current batch (nothing outside one)."""
    memory: dict[Hashable, Any] | None = getattr(_local, "memory", None)
    if memory is not None:
        memory[key] = value
