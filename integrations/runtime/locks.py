"""Singleton guards for periodic jobs: a PostgreSQL session advisory lock per job name."""

from __future__ import annotations

import contextlib
import hashlib
from collections.abc import Iterator

from django.db import connection


def _lock_id(name: str) -> int:
    return int.from_bytes(hashlib.sha256(name.encode()).digest()[:8], "big", signed=True)


@contextlib.contextmanager
def singleton(name: str) -> Iterator[bool]:
    """Yields True if this process holds the job's lock (others yield False and should skip)."""
    lock_id = _lock_id(name)
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_try_advisory_lock(%s)", [lock_id])
        held = bool(cursor.fetchone()[0])
    try:
        yield held
    finally:
        if held:
            with connection.cursor() as cursor:
                cursor.execute("SELECT pg_advisory_unlock(%s)", [lock_id])
