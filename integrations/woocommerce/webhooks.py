"""Where WooCommerce sends to us: verify a webhook delivery and say what it is about.

WooCommerce signs the raw body: ``X-WC-Webhook-Signature = base64(HMAC-SHA256(secret, body))``.
When a webhook is created it sends an unsigned form-encoded ``webhook_id=<n>`` ping that must get
a 200, or WooCommerce refuses to save the webhook. ``X-WC-Webhook-Delivery-ID`` is a hash of the
webhook id and the current second, so it is recorded but never the dedupe key on its own: the
runtime dedupes on the resource, its ``date_modified_gmt`` and the body (``translate.py`` reads
them). The runtime (``integrations/runtime/receive.py``) calls :func:`receive` once per delivery
and stores what it accepts before answering.

Only the body is signed, so only the body decides what a delivery is (``docs/runtime.md``,
"Hostile input"): the resource comes from the payload's shape (:func:`translate.body_resource`),
the id from its ``id``, the version from its ``date_modified_gmt``. ``X-WC-Webhook-Topic`` /
``-Resource`` are read only where the body cannot tell (which resource an ``{"id": N}`` deletion
is about, whether a full body is ``restored`` rather than ``updated``); when they disagree with the
body they are ignored (and kept in the stored headers for ops). None of them is in the dedupe key,
so a captured body replayed with other headers is always a duplicate. A signed body we cannot
read — not UTF-8, not JSON (a raw NUL, NaN), nested deeper than :data:`MAX_DEPTH`, without a
positive integer id — or a WooCommerce header longer than its column is refused with a 400 that
names the problem and kept as a rejected event for ops.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import logging
import re
from typing import Any

from controltower.catalog.choices import SystemKind
from integrations.runtime import inbox
from integrations.runtime.registry import (
    Accept,
    Answer,
    Outcome,
    Reject,
    Unverified,
    WebhookConnection,
    WebhookRequest,
    webhook,
)
from integrations.woocommerce.translate import (
    EVENTS,
    FULL_BODY_EVENTS,
    RESOURCES,
    TranslationError,
    WebhookSubject,
    webhook_subject,
)

logger = logging.getLogger(__name__)

_PING = re.compile(rb"^webhook_id=\d+$")
_KEPT_HEADERS = ("content-type", "user-agent")
MAX_DEPTH = 64  # WooCommerce's order JSON is 4 deep; plugins' meta_data adds a few
# The WooCommerce headers we store in columns, and those columns' lengths.
HEADER_LIMITS = {
    "X-WC-Webhook-Topic": 64,
    "X-WC-Webhook-Resource": 32,
    "X-WC-Webhook-Event": 32,
    "X-WC-Webhook-Delivery-ID": 128,
}


KNOWN_TOPICS = frozenset(f"{r}.{e}" for r in RESOURCES for e in EVENTS)


class Unreadable(ValueError):
    """A signed body we cannot read; the message is the answer's ``detail``."""


def signature_for(secret: bytes, body: bytes) -> str:
    return base64.b64encode(hmac.new(secret, body, hashlib.sha256).digest()).decode()


def _kept_headers(request: WebhookRequest) -> dict[str, str]:
    return {
        name: value
        for name, value in request.headers.items()
        if name.lower().startswith("x-wc-") or name.lower() in _KEPT_HEADERS
    }


def _no_constant(name: str) -> Any:
    raise Unreadable(f"malformed JSON: {name} is not a JSON value")


# One decoder, built once: ``json.loads`` with a keyword builds a new one (and scanner) per call.
_DECODER = json.JSONDecoder(parse_constant=_no_constant)


_CONTAINERS = (dict, list)


def _too_deep(value: Any, body: bytes) -> bool:
    """Nested deeper than :data:`MAX_DEPTH`? (Level by level; a body with fewer brackets than
    that cannot be, which is most of them.)"""
    if body.count(b"[") + body.count(b"{") <= MAX_DEPTH:
        return False
    level, depth = [value], 1
    while level:
        if depth > MAX_DEPTH:
            return True
        below = []
        for node in level:
            for child in node.values() if isinstance(node, dict) else node:
                if isinstance(child, _CONTAINERS):
                    below.append(child)
        level, depth = below, depth + 1
    return False


def parse_body(body: bytes) -> dict[str, Any]:
    """The body as a JSON object, or :class:`Unreadable` naming why not."""
    try:
        text = body.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise Unreadable(f"the body is not UTF-8: {exc.reason} at byte {exc.start}") from None
    try:
        payload = _DECODER.decode(text)
    except RecursionError:
        raise Unreadable(f"malformed JSON: nested deeper than {MAX_DEPTH} levels") from None
    except Unreadable:
        raise
    except ValueError as exc:
        raise Unreadable(f"malformed JSON: {exc}") from None
    if not isinstance(payload, dict):
        raise Unreadable("malformed JSON: the body must be a JSON object")
    if _too_deep(payload, body):
        raise Unreadable(f"malformed JSON: nested deeper than {MAX_DEPTH} levels")
    return payload


def _over_long_header(request: WebhookRequest) -> str:
    for name, limit in HEADER_LIMITS.items():
        if len(request.header(name)) > limit:
            return f"{name}: longer than {limit} characters"
    return ""


def _topic(request: WebhookRequest, subject: WebhookSubject) -> tuple[str, str]:
    """(resource, topic) as stored: the body's, with the headers only where it cannot tell."""
    claimed_resource, _, claimed_event = request.header("X-WC-Webhook-Topic").partition(".")
    if claimed_resource not in RESOURCES:
        claimed_resource = request.header("X-WC-Webhook-Resource")
    if subject.resource == "action":
        return "action", "action"
    # {"id": N}, or a shape we do not know: the claim routes it (it is in no dedupe key)
    resource = subject.resource or (claimed_resource if claimed_resource in RESOURCES else "")
    if not resource:
        return "", ""
    if subject.id_only:
        event = claimed_event if claimed_event in EVENTS else "deleted"
    elif claimed_resource == resource and claimed_event in FULL_BODY_EVENTS:
        event = claimed_event
    else:
        event = "updated"
    return resource, f"{resource}.{event}"


@webhook(SystemKind.WOOCOMMERCE)
def receive(request: WebhookRequest, connection: WebhookConnection) -> Outcome:
    signature = request.header("X-WC-Webhook-Signature")
    if not signature:
        if request.content_type == "application/x-www-form-urlencoded" and _PING.match(
            request.body
        ):
            return Answer(200, {"status": "pong"})
        return Answer(401, {"detail": "missing X-WC-Webhook-Signature"})
    secret = str(connection.credentials.get("webhook_secret", "")).encode()
    expected = signature_for(secret, request.body).encode()
    if not secret or not hmac.compare_digest(expected, signature.encode("utf-8", "replace")):
        return Unverified(401, {"detail": "invalid X-WC-Webhook-Signature"})

    headers = _kept_headers(request)
    delivery_id = request.header("X-WC-Webhook-Delivery-ID")
    try:
        if problem := _over_long_header(request):
            raise Unreadable(problem)
        payload = parse_body(request.body)
        subject = webhook_subject(payload)
    except (Unreadable, TranslationError) as exc:  # TranslationError: the id
        # kept for ops; what the unsigned headers claim is recorded only when it is a name
        # WooCommerce uses (an edited replay of the event is routed by it)
        claimed_topic = request.header("X-WC-Webhook-Topic")
        claimed_resource = request.header("X-WC-Webhook-Resource")
        return Reject(
            detail=str(exc),
            topic=claimed_topic if claimed_topic in KNOWN_TOPICS else "",
            resource=claimed_resource if claimed_resource in RESOURCES else "",
            delivery_id=delivery_id,
            headers=headers,
        )
    resource, topic = _topic(request, subject)
    claimed = request.header("X-WC-Webhook-Topic")
    if claimed and claimed != topic:
        logger.warning(
            "woocommerce webhook on %s: X-WC-Webhook-Topic %r disagrees with the signed body; "
            "stored as %r",
            connection.slug,
            claimed[:64],
            topic,
        )
    modified = subject.modified
    if subject.id_only:
        # {"id": N} carries no time: a deletion is new only when something newer about N was
        # stored since the last one (a restore, an update), never because a header changed.
        latest = inbox.latest_source_version(
            connection, resource_id=subject.resource_id, resources=RESOURCES
        )
        modified = f"id-only:after:{latest}"
    return Accept(
        topic=topic,
        resource=resource,
        resource_id=subject.resource_id,
        modified=modified,
        source_modified_at=subject.modified_at,
        delivery_id=delivery_id,
        headers=headers,
    )
