"""The one webhook receive path: ``POST /hooks/<kind>/<slug>/``.

A delivery travels it once:

1. find the Connection ``slug`` of ``kind`` (its decrypted credentials kept per process for a few
   seconds, :func:`connection_for`) and the kind's receiver (``registry.WEBHOOKS``);
2. the kind's receiver (``integrations/<kind>/webhooks.py``) verifies it and reads what it is
   about through its ``translate.py``, returning an outcome (``registry.Accept`` / ``Reject`` /
   ``Answer``); a signature that does not match is asked once more with freshly read credentials,
   so a rotated secret works at once;
3. :func:`handle_webhook` stores an accepted delivery with one statement
   (``inbox.store_accepted``; committed before the answer is written) and answers the sender.

Two entrances, one implementation: Django's view :func:`receive_webhook` (the test client, ASGI)
and :func:`with_fast_webhooks`, which wraps the WSGI application so that the same
:func:`handle_webhook` answers without the middleware stack (measured by ``make bench-ingest``).
Both add the same security headers (:func:`security_headers`); the fast entrance hands a request
to Django instead only when Django would answer it differently before any view runs (a host not
in ``ALLOWED_HOSTS``, an http request under ``SECURE_SSL_REDIRECT``, a body over the upload limit).
"""

from __future__ import annotations

import json
import logging
import re
import time
from collections.abc import Callable, Iterable
from typing import Any

from django.conf import settings
from django.core.exceptions import RequestDataTooBig
from django.core.handlers.wsgi import WSGIRequest
from django.db import DatabaseError, InterfaceError, OperationalError, connections, transaction
from django.db.models.signals import post_delete, post_save
from django.http import HttpRequest, HttpResponse
from django.http.request import HttpHeaders
from django.views.decorators.csrf import csrf_exempt

from controltower.core.headers import security_headers
from integrations.runtime import inbox, registry, spool
from integrations.runtime.models import Connection

logger = logging.getLogger(__name__)

CONNECTION_CACHE_S = 5.0
HOOK_PATH = re.compile(r"^/hooks/(?P<kind>[a-z0-9_-]+)/(?P<slug>[-a-zA-Z0-9_]+)/$")
UNAVAILABLE = registry.Answer(503, {"detail": "temporarily unavailable, please retry"})
SPOOLED = registry.Answer(202, {"status": "spooled"})


# --- connections, per process, for a few seconds -------------------------------------------------
_connections: dict[tuple[str, str], tuple[float, registry.WebhookConnection]] = {}


def connection_for(
    slug: str, kind: str, *, fresh: bool = False
) -> registry.WebhookConnection | None:
    """The connection ``slug`` of ``kind``, or None; cached a few seconds outside transactions
    (so tests and other transactions always read the database), forgotten when a Connection is
    saved or deleted in this process."""
    key = (slug, kind)
    cacheable = not transaction.get_connection().in_atomic_block
    now = time.monotonic()
    if cacheable and not fresh:
        hit = _connections.get(key)
        if hit is not None and hit[0] > now:
            return hit[1]
    row = Connection.objects.filter(slug=slug, kind=kind).first()
    if row is None:
        _connections.pop(key, None)
        return None
    found = registry.WebhookConnection(
        pk=row.pk, slug=row.slug, name=row.name, kind=row.kind, credentials=row.credentials
    )
    if cacheable:
        if len(_connections) > 256:
            _connections.clear()
        _connections[key] = (now + CONNECTION_CACHE_S, found)
    return found


def forget_connections(**_: Any) -> None:
    _connections.clear()


post_save.connect(forget_connections, sender=Connection, dispatch_uid="receive-forget-save")
post_delete.connect(forget_connections, sender=Connection, dispatch_uid="receive-forget-delete")


# --- the path ------------------------------------------------------------------------------------
def handle_webhook(kind: str, slug: str, request: registry.WebhookRequest) -> registry.Answer:
    """Verify, store (durably, before answering) and answer one delivery. Database errors
    propagate: each entrance maps them with :func:`unavailable`."""
    receive = registry.WEBHOOKS.get(kind)
    connection = connection_for(slug, kind) if receive is not None else None
    if receive is None or connection is None:
        return registry.Answer(404, {"detail": "No Connection matches the given query."})
    outcome = receive(request, connection)
    if isinstance(outcome, registry.Unverified):
        reread = connection_for(slug, kind, fresh=True)
        if reread is not None and reread != connection:
            connection, outcome = reread, receive(request, reread)
    if isinstance(outcome, registry.Accept):
        stored = inbox.store_accepted(connection, request.body, outcome)
        return registry.Answer(200, {"status": "accepted" if stored else "duplicate"})
    if isinstance(outcome, registry.Reject):
        inbox.store_rejected(connection, request.body, outcome)
        return registry.Answer(400, {"detail": outcome.detail})
    if outcome.status == 401:
        logger.warning("%s webhook on %s refused: %s", kind, slug, outcome.data.get("detail"))
    return outcome


def unavailable(path: str) -> registry.Answer:
    logger.exception("webhook %s: database error", path)
    return UNAVAILABLE


def spool_or_unavailable(
    kind: str, slug: str, request: registry.WebhookRequest, path: str
) -> registry.Answer:
    """The database is unreachable: keep a verified delivery in the local spool (``spool.py``)
    and answer ``202 {"status": "spooled"}`` — WooCommerce counts any 2xx as delivered and would
    disable the webhook after a few 503s.

    It is verified with the credentials this process last read for ``slug``, if they are at most
    ``CT_SPOOL_CREDENTIALS_S`` old (the database that could say otherwise is down; a secret
    rotated meanwhile is seen once it is back). Answered 503 as before: a process that never read
    the connection, a signature those credentials do not match, a verified body we cannot read
    (kept as a rejected event only in the database), or a full spool.
    """
    receive = registry.WEBHOOKS.get(kind)
    hit = _connections.get((slug, kind))
    if receive is None or hit is None:
        return unavailable(path)
    expires_at, connection = hit
    if time.monotonic() - (expires_at - CONNECTION_CACHE_S) > settings.CT_SPOOL_CREDENTIALS_S:
        return unavailable(path)
    outcome = receive(request, connection)
    if isinstance(outcome, registry.Accept):
        if spool.append(kind, connection, request.body, outcome):
            logger.warning("webhook %s: database unreachable, delivery spooled", path)
            return SPOOLED
        return unavailable(path)
    if isinstance(outcome, (registry.Reject, registry.Unverified)):
        return unavailable(path)
    return outcome  # a ping, a missing signature: answered as always


# --- answers -------------------------------------------------------------------------------------
def _response(answer: registry.Answer) -> HttpResponse:
    response = HttpResponse(
        json.dumps(answer.data), status=answer.status, content_type="application/json"
    )
    for name, value in security_headers():
        response.headers.setdefault(name, value)
    return response


# --- entrance 1: the Django view -----------------------------------------------------------------
@csrf_exempt
def receive_webhook(request: HttpRequest, kind: str, slug: str) -> HttpResponse:
    if request.method != "POST":
        response = _response(registry.Answer(405, {"detail": f"{request.method} not allowed"}))
        response["Allow"] = "POST"
        return response
    try:
        body = request.body
    except RequestDataTooBig:
        limit = settings.DATA_UPLOAD_MAX_MEMORY_SIZE
        return _response(registry.Answer(413, {"detail": f"the body is over {limit} bytes"}))
    hook = registry.WebhookRequest(
        body=body, headers=request.headers, content_type=request.content_type or ""
    )
    try:
        answer = handle_webhook(kind, slug, hook)
    except (OperationalError, InterfaceError):
        answer = spool_or_unavailable(kind, slug, hook, request.path)
    except DatabaseError:
        answer = unavailable(request.path)
    else:
        spool.nudge()
    return _response(answer)


# --- entrance 2: the lean WSGI route -------------------------------------------------------------
def _lean_request(environ: dict[str, Any]) -> WSGIRequest | None:
    """A request the lean route may answer itself (else Django answers it, the same way)."""
    try:
        length = int(environ.get("CONTENT_LENGTH") or "0")
    except ValueError:
        return None
    limit = settings.DATA_UPLOAD_MAX_MEMORY_SIZE
    if length < 0 or (limit is not None and length > limit):
        return None
    request = WSGIRequest(environ)
    if settings.SECURE_SSL_REDIRECT and not request.is_secure():
        return None
    try:
        request.get_host()  # ALLOWED_HOSTS, exactly as CommonMiddleware checks it
    except Exception:
        return None
    return request


def _run_lean(kind: str, slug: str, hook: registry.WebhookRequest, path: str) -> registry.Answer:
    """Run the path in autocommit on this process's connection, without the per-request ping.

    Django pings a reused connection (``SELECT 1``) before each request when health checks are
    on; here a dead connection instead fails the statement, is closed, and the delivery is
    handled once more on a new one. That is safe because the store is idempotent: a retry of an
    insert that did commit finds its dedupe key and answers "duplicate". Around it the connection
    gets the checks Django's request signals give it (max age, errors, autocommit).
    """
    db = connections["default"]
    db.close_if_unusable_or_obsolete()
    db.health_check_done = True
    try:
        for attempt in (1, 2):
            try:
                answer = handle_webhook(kind, slug, hook)
                spool.nudge()
                return answer
            except (OperationalError, InterfaceError):
                db.close()
                if attempt == 2:
                    return spool_or_unavailable(kind, slug, hook, path)
            except DatabaseError:
                return unavailable(path)
        return UNAVAILABLE
    finally:
        db.close_if_unusable_or_obsolete()


def with_fast_webhooks(django_app: Callable[..., Any]) -> Callable[..., Any]:
    """Wrap Django's WSGI application: webhook POSTs go straight to :func:`handle_webhook`."""

    def application(environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
        match = HOOK_PATH.match(environ.get("PATH_INFO", ""))
        if environ.get("REQUEST_METHOD") != "POST" or match is None:
            return django_app(environ, start_response)
        db = connections["default"]
        if not db.settings_dict.get("AUTOCOMMIT", True) or db.in_atomic_block:
            return django_app(environ, start_response)  # durability needs autocommit here
        request = _lean_request(environ)
        if request is None:
            return django_app(environ, start_response)
        hook = registry.WebhookRequest(
            body=request.body,
            headers=HttpHeaders(environ),
            content_type=request.content_type or "",
        )
        answer = _run_lean(match["kind"], match["slug"], hook, request.path)
        response = _response(answer)
        content = response.content
        headers = [*response.items(), ("Content-Length", str(len(content)))]
        start_response(f"{response.status_code} {response.reason_phrase}", headers)
        return [content]

    return application
