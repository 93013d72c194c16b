"""The inbox's hot path: store a webhook in one statement, and serve signed hooks lean.

Three pieces, each measured by ``make bench-ingest`` (see docs/benchmarks.md):

- :func:`insert_inbound_event` stores a raw event with a single
  ``INSERT … ON CONFLICT (dedupe_key) DO NOTHING RETURNING id``. Outside a transaction it runs in
  autocommit, so when it returns the row is committed (durable) — one round trip instead of
  BEGIN / INSERT / COMMIT, and a redelivery costs no exception and no savepoint.
- :func:`receiver_for` keeps each connection's decrypted credentials per process for a few
  seconds (saves a query and a decryption per webhook). It is bypassed inside a transaction (so
  tests and other transactions always read the database), cleared when a Connection is saved or
  deleted in this process, and callers re-read it before refusing a signature (so a rotated
  secret works at once).
- :func:`with_fast_webhooks` wraps the WSGI application: a ``POST`` under ``/hooks/`` whose view
  has a lean twin (``view.fast_path``) is answered by the twin without the middleware stack, the
  per-request connection health check and ``JsonResponse``. The twin answers only the plain,
  successful case and returns ``None`` for anything else (pings, bad or missing signatures,
  unknown connections, malformed bodies, disallowed hosts), which Django then handles exactly as
  before. The test client and ASGI never pass through it: they use the view.
"""

from __future__ import annotations

import io
import json
import logging
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import psycopg
from django.conf import settings
from django.core.handlers.wsgi import WSGIRequest
from django.db import DatabaseError, InterfaceError, OperationalError, connections, transaction
from django.db.models.signals import post_delete, post_save
from django.http import HttpResponse

from integrations.runtime import kick
from integrations.runtime.choices import InboundStatus
from integrations.runtime.models import Connection, InboundEvent

logger = logging.getLogger(__name__)

RECEIVER_CACHE_S = 5.0
HOOKS_PREFIX = "/hooks/"


# --- one statement per event ---------------------------------------------------------------------
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
    values = {
        "connection_id": connection_id,
        "topic": topic,
        "resource": resource,
        "resource_id": resource_id,
        "delivery_id": delivery_id,
        "dedupe_key": dedupe_key,
        "source_modified_at": source_modified_at,
        "headers": headers,
        "body": body.decode("utf-8", errors="replace"),
        "status": status,
        "error": error,
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


# --- connections, per process, for a few seconds -------------------------------------------------
@dataclass(frozen=True)
class Receiver:
    """What receiving needs of a Connection: identity and decrypted credentials."""

    pk: int
    slug: str
    name: str
    kind: str
    credentials: dict[str, Any]


_receivers: dict[tuple[str, str], tuple[float, Receiver]] = {}


def receiver_for(slug: str, kind: str, *, fresh: bool = False) -> Receiver | None:
    """The connection ``slug`` of ``kind``, or None; cached a few seconds outside transactions."""
    key = (slug, kind)
    cacheable = not transaction.get_connection().in_atomic_block
    now = time.monotonic()
    if cacheable and not fresh:
        hit = _receivers.get(key)
        if hit is not None and hit[0] > now:
            return hit[1]
    connection = Connection.objects.filter(slug=slug, kind=kind).first()
    if connection is None:
        _receivers.pop(key, None)
        return None
    receiver = Receiver(
        pk=connection.pk,
        slug=connection.slug,
        name=connection.name,
        kind=connection.kind,
        credentials=connection.credentials,
    )
    if cacheable:
        if len(_receivers) > 256:
            _receivers.clear()
        _receivers[key] = (now + RECEIVER_CACHE_S, receiver)
    return receiver


def forget_receivers(**_: Any) -> None:
    _receivers.clear()


post_save.connect(forget_receivers, sender=Connection, dispatch_uid="ingest-forget-save")
post_delete.connect(forget_receivers, sender=Connection, dispatch_uid="ingest-forget-delete")


# --- the lean WSGI route -------------------------------------------------------------------------
FastPath = Callable[..., HttpResponse | None]

_SECURITY_HEADERS: list[tuple[str, str]] | None = None


def _security_headers() -> list[tuple[str, str]]:
    """The headers SecurityMiddleware and XFrameOptionsMiddleware would add to a JSON answer."""
    global _SECURITY_HEADERS
    if _SECURITY_HEADERS is None:
        headers = []
        if settings.SECURE_CONTENT_TYPE_NOSNIFF:
            headers.append(("X-Content-Type-Options", "nosniff"))
        if settings.SECURE_REFERRER_POLICY:
            policy = settings.SECURE_REFERRER_POLICY
            if not isinstance(policy, str):
                policy = ",".join(policy)
            headers.append(("Referrer-Policy", policy))
        if settings.SECURE_CROSS_ORIGIN_OPENER_POLICY:
            headers.append(
                ("Cross-Origin-Opener-Policy", settings.SECURE_CROSS_ORIGIN_OPENER_POLICY)
            )
        headers.append(("X-Frame-Options", getattr(settings, "X_FRAME_OPTIONS", "DENY").upper()))
        _SECURITY_HEADERS = headers
    return _SECURITY_HEADERS


def json_answer(status: int, data: dict[str, Any]) -> HttpResponse:
    return HttpResponse(json.dumps(data), status=status, content_type="application/json")


def _lean_request(environ: dict[str, Any]) -> WSGIRequest | None:
    """A request the twin may answer: allowed host, a body within limits, plain http(s)."""
    try:
        length = int(environ.get("CONTENT_LENGTH") or "")
    except ValueError:
        return None
    if length <= 0 or (
        settings.DATA_UPLOAD_MAX_MEMORY_SIZE is not None
        and length > settings.DATA_UPLOAD_MAX_MEMORY_SIZE
    ):
        return None
    request = WSGIRequest(environ)
    if settings.SECURE_SSL_REDIRECT and not request.is_secure():
        return None
    try:
        request.get_host()  # ALLOWED_HOSTS, exactly as CommonMiddleware checks it
    except Exception:
        return None
    return request


def _serve(response: HttpResponse, start_response: Callable[..., Any]) -> list[bytes]:
    content = response.content
    headers = [*response.items(), ("Content-Length", str(len(content))), *_security_headers()]
    start_response(f"{response.status_code} {response.reason_phrase}", headers)
    return [content]


def _run_twin(fast: FastPath, request: WSGIRequest, kwargs: dict[str, Any]) -> HttpResponse | None:
    """Run the twin in autocommit on this process's connection, without the per-request ping.

    Durability: the twin's insert is a single autocommitted statement, so it has committed before
    the twin returns its answer. A connection that is not in autocommit (``AUTOCOMMIT: False``,
    or a transaction left open) never runs the twin: Django answers instead.

    Django pings a reused connection (``SELECT 1``) before each request when health checks are
    on; here a dead connection instead fails the statement, is closed, and the twin runs once more
    on a new one. That is safe because the store is idempotent: a retry of an insert that did
    commit finds its dedupe key and answers "duplicate". Around the twin the connection gets the
    checks Django's request signals give it (max age, errors, autocommit).
    """
    db = connections["default"]
    if not db.settings_dict.get("AUTOCOMMIT", True) or db.in_atomic_block:
        return None
    db.close_if_unusable_or_obsolete()  # max age, autocommit, errors from earlier requests
    db.health_check_done = True
    try:
        for attempt in (1, 2):
            try:
                return fast(request, **kwargs)
            except (OperationalError, InterfaceError):
                db.close()
                if attempt == 2:
                    raise
        return None
    finally:
        db.close_if_unusable_or_obsolete()


def with_fast_webhooks(django_app: Callable[..., Any]) -> Callable[..., Any]:
    """Wrap Django's WSGI application so that webhook views with a lean twin skip the stack."""
    from django.urls import Resolver404, get_resolver

    routes: dict[str, tuple[Any, FastPath | None, dict[str, Any]]] = {}  # path → resolved twin

    def application(environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
        path = environ.get("PATH_INFO", "")
        if environ.get("REQUEST_METHOD") != "POST" or not path.startswith(HOOKS_PREFIX):
            return django_app(environ, start_response)
        resolver = get_resolver()
        route = routes.get(path)
        if route is None or route[0] is not resolver:
            try:
                match = resolver.resolve(path)
            except Resolver404:
                return django_app(environ, start_response)
            if len(routes) > 1024:
                routes.clear()
            route = routes[path] = (resolver, getattr(match.func, "fast_path", None), match.kwargs)
        _, fast, kwargs = route
        request = _lean_request(environ) if fast is not None else None
        if fast is None or request is None:
            return django_app(environ, start_response)
        try:
            response = _run_twin(fast, request, kwargs)
        except DatabaseError:
            logger.exception("webhook %s: database error", path)
            response = json_answer(503, {"detail": "temporarily unavailable, please retry"})
        except Exception:
            logger.exception("webhook %s failed", path)
            response = json_answer(500, {"detail": "internal error"})
        if response is None:  # not the plain case: Django answers it, with the body we read
            if request._read_started:
                environ["wsgi.input"] = io.BytesIO(request.body)
            return django_app(environ, start_response)
        return _serve(response, start_response)

    return application
