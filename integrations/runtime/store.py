"""The inbox's one insert: a raw event stored by a single statement, durable when it returns.

:func:`insert_inbound_event` runs ``INSERT … ON CONFLICT (dedupe_key) DO NOTHING RETURNING id``.
Outside a transaction it autocommits, so when it returns the row is committed — one round trip
instead of BEGIN / INSERT / COMMIT — and a redelivery costs no exception and no savepoint. A new
pending event wakes the inbox drain (debounced per process). Measured by ``make bench-ingest``.

What it stores always fits (``docs/runtime.md``, "Hostile input"): the body is kept byte-exact —
as text when it is UTF-8 without NUL (every accepted delivery is), else base64 with the header
``ct:body-encoding: base64`` (a name no HTTP header can have; :func:`raw_body` reads either back);
text PostgreSQL refuses (NUL, lone surrogates) is replaced in headers, ids and errors, and values
are cut to their column. The receivers refuse over-long values with a 4xx before they get here;
the cut is the backstop that keeps a rejected delivery storable for ops.
"""

from __future__ import annotations

import base64
import logging
import re
import time
from datetime import datetime
from typing import Any

import psycopg
from django.db import connections, transaction

from integrations.runtime import kick
from integrations.runtime.choices import InboundStatus
from integrations.runtime.models import InboundEvent

logger = logging.getLogger(__name__)


BODY_ENCODING = "ct:body-encoding"
HEADER_VALUE_MAX = 1024  # a stored header value is cut here (a real one is far shorter)
HEADERS_MAX = 64


_SURROGATE = re.compile("[\ud800-\udfff]")


def storable_text(value: str, *, limit: int | None = None) -> str:
    """``value`` as PostgreSQL text holds it: NUL becomes U+FFFD, a lone surrogate too; cut at
    ``limit`` characters."""
    if "\x00" in value:
        value = value.replace("\x00", "\ufffd")
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        value = _SURROGATE.sub("\ufffd", value)
    return value if limit is None else value[:limit]


def storable_body(body: bytes) -> tuple[str, bool]:
    """The body as stored text, and whether it is base64 (not UTF-8, or holding NUL)."""
    try:
        text = body.decode("utf-8")
    except UnicodeDecodeError:
        return base64.b64encode(body).decode("ascii"), True
    if "\x00" in text:
        return base64.b64encode(body).decode("ascii"), True
    return text, False


def raw_body(body: str, headers: dict[str, str]) -> bytes:
    """The exact bytes received, from a stored body and its headers."""
    if headers.get(BODY_ENCODING) == "base64":
        return base64.b64decode(body)
    return body.encode("utf-8")


def storable_headers(headers: dict[str, str]) -> dict[str, str]:
    return {
        storable_text(str(name), limit=128): storable_text(str(value), limit=HEADER_VALUE_MAX)
        for name, value in list(headers.items())[:HEADERS_MAX]
    }


def _limit(field: str) -> int | None:
    return InboundEvent._meta.get_field(field).max_length


_statements: dict[str, tuple[str, list[tuple[Any, bool]]]] = {}
# Values of these field types go to the driver as they are (what their get_db_prep_save returns
# on PostgreSQL anyway); any other field, e.g. JSON, is prepared by the field.
_PLAIN_TYPES = {
    "BigIntegerField",
    "BooleanField",
    "CharField",
    "DateTimeField",
    "ForeignKey",
    "IntegerField",
    "PositiveIntegerField",
    "TextField",
}


def _insert_statement(using: str) -> tuple[str, list[tuple[Any, bool]]]:
    """``INSERT … ON CONFLICT DO NOTHING RETURNING id`` over every column, built from the model."""
    cached = _statements.get(using)
    if cached is None:
        qn = connections[using].ops.quote_name
        meta = InboundEvent._meta
        fields = [f for f in meta.concrete_fields if not f.primary_key]
        dedupe = meta.get_field("dedupe_key")
        sql = (
            f"INSERT INTO {qn(meta.db_table)} ({', '.join(qn(f.column) for f in fields)}) "
            f"VALUES ({', '.join(['%s'] * len(fields))}) "
            f"ON CONFLICT ({qn(dedupe.column)}) DO NOTHING RETURNING {qn(meta.pk.column)}"
        )
        plan = [(f, f.get_internal_type() not in _PLAIN_TYPES) for f in fields]
        cached = _statements[using] = (sql, plan)
    return cached


def insert_inbound_event(
    *,
    connection_id: int,
    dedupe_key: str,
    body: bytes,
    headers: dict[str, str],
    topic: str = "",
    resource: str = "",
    resource_id: str = "",
    delivery_id: str = "",
    source_modified_at: datetime | None = None,
    status: str = InboundStatus.PENDING,
    error: str = "",
    using: str = "default",
) -> int | None:
    """Store a raw event; its id, or None when the dedupe key is already held (a redelivery).

    Outside a transaction the statement autocommits: when this returns, the event is durable.
    Inside one it commits with it. A new pending event wakes the inbox drain after the commit.
    """
    text, encoded = storable_body(body)
    headers = storable_headers(headers)
    if encoded:
        headers[BODY_ENCODING] = "base64"
    values = {
        "connection_id": connection_id,
        "topic": storable_text(topic, limit=_limit("topic")),
        "resource": storable_text(resource, limit=_limit("resource")),
        "resource_id": storable_text(resource_id, limit=_limit("resource_id")),
        "delivery_id": storable_text(delivery_id, limit=_limit("delivery_id")),
        "dedupe_key": dedupe_key,
        "source_modified_at": source_modified_at,
        "headers": headers,
        "body": text,
        "status": status,
        "error": storable_text(error),
    }
    db = connections[using]
    sql, plan = _insert_statement(using)
    params = []
    for f, prepare in plan:
        value = values[f.attname] if f.attname in values else f.get_default()
        params.append(f.get_db_prep_save(value, db) if prepare else value)
    row = _execute_returning(db, sql, params)
    if row is None:
        return None
    if status == InboundStatus.PENDING:
        transaction.on_commit(wake_inbox, using=using)
    return row[0]


def _execute_returning(db: Any, sql: str, params: list[Any]) -> tuple[Any, ...] | None:
    """Run one statement with its values bound by the server (no quoting of the body here).

    Django's cursors bind client-side: psycopg would escape the whole body into the SQL text.
    A plain psycopg cursor on the same connection sends it as a parameter instead, in the
    connection's own transaction state, with Django's error translation; it prepares the
    statement only if the database OPTIONS ask for that (``prepare_threshold``), so it stays
    safe behind a transaction-pooling proxy. When queries are being logged (DEBUG,
    assertNumQueries) Django's cursor is used so that the statement shows.
    """
    if db.queries_logged:
        with db.cursor() as cursor:
            cursor.execute(sql, params)
            return cursor.fetchone()
    db.ensure_connection()
    db.validate_no_broken_transaction()
    with db.wrap_database_errors, psycopg.Cursor(db.connection) as cursor:
        cursor.execute(sql, params)
        return cursor.fetchone()


KICK_DEBOUNCE_S = 0.05
_last_kick = 0.0


def wake_inbox() -> None:
    """Kick the inbox drain, at most once per ``KICK_DEBOUNCE_S`` from this process.

    A kick is a Redis round trip (SET NX); at hundreds of webhooks per second per process it is
    the dearest part of the request after the insert. Skipping repeats within 50 ms loses no
    event: the kick only wakes a drain, the drain takes every pending event it finds, and an
    event committed just after a drain gave up is found by the next kick from any process or,
    at the latest, by the sweeper on beat (``CT_SWEEP_INTERVAL_S``).
    """
    global _last_kick
    now = time.monotonic()
    if now - _last_kick < KICK_DEBOUNCE_S:
        return
    _last_kick = now
    try:
        kick.kick("inbox")
    except Exception:  # the event is committed; the sweeper will wake the drain
        logger.exception("could not kick the inbox drain")
