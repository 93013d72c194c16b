"""The availability read's lean route: a checkout asking ``GET /api/v1/availability/?sku=…
&channel=…`` with its API token is answered past the middleware and DRF, reading the figure in one
indexed statement.

Who a token is, and that it may read stock, is remembered per process for ``AUTH_TTL_S`` (30 s).
Only the plain success is answered here — an active user holding
``inventory.view_stockposition`` (directly, through a group, or as a superuser) and a figure held
for that SKU and channel — with the same body the DRF view (``views.availability``) gives.
Everything else (no token or a session, a bad token, no permission, a missing parameter, an
unknown SKU or channel, a channel that is not stock-controlled, a database error) goes to
Django, which answers it as always: one source of truth for every refusal.
"""

from __future__ import annotations

import json
import re
import time
from collections.abc import Callable, Iterable
from datetime import datetime
from typing import Any
from urllib.parse import parse_qs

from django.conf import settings
from django.core.handlers.wsgi import WSGIRequest
from django.db import DatabaseError, connections

from controltower.core.headers import security_headers

PATH = "/api/v1/availability/"
TOKEN = re.compile(r"[0-9a-f]{40}")  # rest_framework.authtoken keys
PERMISSION = ("inventory", "view_stockposition")

# Who a token is and whether they may read stock: remembered per process for AUTH_TTL_S, so a
# checkout's reads cost one indexed statement each (a revoked token or permission stops
# working here within that time; everywhere else at once).
AUTH_TTL_S = 30.0
_AUTH_SQL = """
SELECT
    u.is_superuser
    OR EXISTS (
        SELECT 1 FROM auth_user_user_permissions up
        JOIN auth_permission p ON p.id = up.permission_id
        JOIN django_content_type ct ON ct.id = p.content_type_id
        WHERE up.user_id = u.id AND p.codename = %(codename)s AND ct.app_label = %(app)s
    )
    OR EXISTS (
        SELECT 1 FROM auth_user_groups ug
        JOIN auth_group_permissions gp ON gp.group_id = ug.group_id
        JOIN auth_permission p ON p.id = gp.permission_id
        JOIN django_content_type ct ON ct.id = p.content_type_id
        WHERE ug.user_id = u.id AND p.codename = %(codename)s AND ct.app_label = %(app)s
    )
FROM authtoken_token t
JOIN auth_user u ON u.id = t.user_id AND u.is_active
WHERE t.key = %(key)s
"""
_ATS_SQL = """
SELECT a.quantity, a.computed_at
FROM inventory_availabletosell a
JOIN catalog_sku s ON s.id = a.sku_id AND s.code = %(sku)s
JOIN catalog_channel c ON c.id = a.channel_id AND c.code = %(channel)s
"""
_allowed: dict[str, float] = {}  # token → until when it may read (only allowed ones are kept)


def _may_read(cursor: Any, key: str) -> bool:
    now = time.monotonic()
    if _allowed.get(key, 0.0) > now:
        return True
    cursor.execute(_AUTH_SQL, {"key": key, "app": PERMISSION[0], "codename": PERMISSION[1]})
    row = cursor.fetchone()
    if row is None or not row[0]:
        _allowed.pop(key, None)
        return False
    if len(_allowed) > 10_000:  # a bound: tokens are few, this never holds many
        _allowed.clear()
    _allowed[key] = now + AUTH_TTL_S
    return True


def _iso(moment: datetime) -> str:
    """As DRF renders a datetime."""
    text = moment.isoformat()
    return text[:-6] + "Z" if text.endswith("+00:00") else text


def _checked(environ: dict[str, Any]) -> bool:
    """The host is allowed (as CommonMiddleware checks it) and no HTTPS redirect is due."""
    request = WSGIRequest(environ)
    if settings.SECURE_SSL_REDIRECT and not request.is_secure():
        return False
    try:
        request.get_host()
    except Exception:
        return False
    return True


def _answer(environ: dict[str, Any]) -> bytes | None:
    """The success body, or None when Django should answer."""
    if not _checked(environ):
        return None
    auth = environ.get("HTTP_AUTHORIZATION", "")
    scheme, _, key = auth.partition(" ")
    key = key.strip()
    if scheme.lower() != "token" or not TOKEN.fullmatch(key):
        return None  # not a DRF token's shape: Django says why
    query = parse_qs(environ.get("QUERY_STRING", ""), keep_blank_values=True)
    sku = (query.get("sku") or [""])[-1].strip()
    channel = (query.get("channel") or [""])[-1].strip()
    if not sku or not channel or "\x00" in sku + channel:
        return None
    db = connections["default"]
    try:
        with db.cursor() as cursor:
            if not _may_read(cursor, key):
                return None
            cursor.execute(_ATS_SQL, {"sku": sku, "channel": channel})
            row = cursor.fetchone()
    except DatabaseError:  # autocommit: nothing is left half-done; Django answers it
        return None
    if row is None:
        return None
    body = {
        "sku": sku,
        "channel": channel,
        "available": row[0],
        "stock_controlled": True,
        "as_of": _iso(row[1]),
    }
    return json.dumps(body, ensure_ascii=False, separators=(",", ":")).encode()


def with_fast_availability(django_app: Callable[..., Any]) -> Callable[..., Any]:
    """Wrap the WSGI application: a token's plain availability read is answered here."""

    def application(environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
        if environ.get("REQUEST_METHOD") != "GET" or environ.get("PATH_INFO") != PATH:
            return django_app(environ, start_response)
        db = connections["default"]
        if not db.settings_dict.get("AUTOCOMMIT", True) or db.in_atomic_block:
            return django_app(environ, start_response)  # (a test's transaction): Django's
        db.close_if_unusable_or_obsolete()
        try:
            body = _answer(environ)
        finally:
            db.close_if_unusable_or_obsolete()
        if body is None:
            return django_app(environ, start_response)
        headers = [
            ("Content-Type", "application/json"),
            ("Content-Length", str(len(body))),
            ("Vary", "Accept, Authorization"),
            *security_headers(),
        ]
        start_response("200 OK", headers)
        return [body]

    return application
