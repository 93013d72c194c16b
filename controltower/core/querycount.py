"""Every SQL statement a process runs, counted for the benchmarks (``CT_COUNT_QUERIES=1``).

``make bench-e2e``'s lifecycle mode reports queries per order across *every* process that works
on an order (the web tier receiving webhooks, the Celery worker draining inbox and outbox, beat).
Each process counts its statements in memory (a lock and an integer per statement: nothing
measurable beside a round trip to PostgreSQL) and adds them to one Redis counter when a request
or a task ends, so a reader sees the sum over all processes at any quiet moment.
Off by default; the product never reads it.
"""

from __future__ import annotations

import threading
from functools import cache
from typing import Any

from django.conf import settings

REDIS_KEY = "ct:bench:queries"

_lock = threading.Lock()
_pending = 0


def _count(execute: Any, sql: str, params: Any, many: bool, context: Any) -> Any:
    global _pending
    with _lock:
        _pending += 1
    return execute(sql, params, many, context)


def _on_connection(sender: Any, connection: Any, **_: Any) -> None:
    if _count not in connection.execute_wrappers:
        connection.execute_wrappers.append(_count)


@cache
def _redis() -> Any:
    import redis

    return redis.Redis.from_url(settings.REDIS_URL)


def flush(*_: Any, **__: Any) -> None:
    """Add what this process counted since the last flush to the shared counter."""
    global _pending
    with _lock:
        counted, _pending = _pending, 0
    if counted:
        _redis().incrby(REDIS_KEY, counted)


def total() -> int:
    return int(_redis().get(REDIS_KEY) or 0)


def install() -> None:
    from django.core.signals import request_finished
    from django.db import connections
    from django.db.backends.signals import connection_created

    connection_created.connect(_on_connection, dispatch_uid="ct.querycount")
    request_finished.connect(flush, dispatch_uid="ct.querycount.flush")
    for connection in connections.all(initialized_only=True):
        _on_connection(None, connection)
    try:
        from celery.signals import task_postrun
    except ImportError:  # pragma: no cover - celery is a dependency
        return
    task_postrun.connect(flush, weak=False, dispatch_uid="ct.querycount.task")
