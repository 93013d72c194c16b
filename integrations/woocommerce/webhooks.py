"""Receive WooCommerce webhooks: verify, store raw, answer 2xx only once durable.

WooCommerce signs the raw body: ``X-WC-Webhook-Signature = base64(HMAC-SHA256(secret, body))``.
When a webhook is created it sends an unsigned form-encoded ``webhook_id=<n>`` ping that must get
a 200, or WooCommerce refuses to save the webhook. ``X-WC-Webhook-Delivery-ID`` is a hash of the
webhook id and the current second, so it is recorded but never the dedupe key on its own.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import logging
import re
from typing import Any

from django.http import HttpRequest, JsonResponse
from django.shortcuts import get_object_or_404
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_POST

from controltower.catalog.choices import SystemKind
from controltower.exceptions.choices import ExceptionType, Severity
from controltower.exceptions.services import open_exception
from integrations.runtime.choices import InboundStatus
from integrations.runtime.models import Connection
from integrations.runtime.services import body_hash, inbound_dedupe_key, record_inbound_event

logger = logging.getLogger(__name__)

_PING = re.compile(rb"^webhook_id=\d+$")
_KEPT_HEADERS = ("content-type", "user-agent")
_secrets: dict[tuple[int, Any], bytes] = {}


def webhook_secret(connection: Connection) -> bytes:
    """The connection's webhook secret, decrypted once per process per connection version."""
    key = (connection.pk, connection.updated_at)
    secret = _secrets.get(key)
    if secret is None:
        secret = str(connection.credentials.get("webhook_secret", "")).encode()
        _secrets.clear() if len(_secrets) > 256 else None
        _secrets[key] = secret
    return secret


def signature_for(secret: bytes, body: bytes) -> str:
    return base64.b64encode(hmac.new(secret, body, hashlib.sha256).digest()).decode()


def _kept_headers(request: HttpRequest) -> dict[str, str]:
    return {
        name: value
        for name, value in request.headers.items()
        if name.lower().startswith("x-wc-") or name.lower() in _KEPT_HEADERS
    }


def _error(status: int, detail: str) -> JsonResponse:
    return JsonResponse({"detail": detail}, status=status)


@csrf_exempt
@require_POST
def receive_webhook(request: HttpRequest, slug: str) -> JsonResponse:
    connection = get_object_or_404(Connection, slug=slug, kind=SystemKind.WOOCOMMERCE)
    body = request.body
    signature = request.headers.get("X-WC-Webhook-Signature", "")

    if not signature:
        if request.content_type == "application/x-www-form-urlencoded" and _PING.match(body):
            logger.info("woocommerce webhook ping on %s: %s", slug, body.decode())
            return JsonResponse({"status": "pong"}, status=200)
        return _error(401, "missing X-WC-Webhook-Signature")

    secret = webhook_secret(connection)
    if not secret or not hmac.compare_digest(signature_for(secret, body), signature):
        logger.warning("woocommerce webhook on %s: bad signature", slug)
        return _error(401, "invalid X-WC-Webhook-Signature")

    topic = request.headers.get("X-WC-Webhook-Topic", "")
    resource = request.headers.get("X-WC-Webhook-Resource") or topic.partition(".")[0]
    delivery_id = request.headers.get("X-WC-Webhook-Delivery-ID", "")
    headers = _kept_headers(request)

    try:
        payload = json.loads(body)
        if not isinstance(payload, dict):
            raise ValueError("the body must be a JSON object")
    except (ValueError, UnicodeDecodeError) as exc:
        # Signed by the store but unreadable: keep the raw body for inspection, tell the sender.
        detail = f"malformed JSON: {exc}"
        key = f"rejected:{body_hash(body)}"
        record_inbound_event(
            connection,
            body=body,
            headers=headers,
            topic=topic,
            resource=resource,
            delivery_id=delivery_id,
            dedupe_key=key,
            status=InboundStatus.REJECTED,
            error=detail,
        )
        open_exception(
            type=ExceptionType.REJECTED_INBOUND,
            dedupe_key=key,
            title=f"Malformed {topic or 'webhook'} from {connection.name}",
            detail=detail,
            severity=Severity.MEDIUM,
            context={"connection": connection.slug, "topic": topic},
        )
        return _error(400, detail)

    resource_id = str(payload.get("id", ""))
    modified = str(payload.get("date_modified_gmt", ""))
    from integrations.woocommerce.translate import TranslationError, order_modified_at

    try:
        source_modified_at = order_modified_at(payload) if modified else None
    except TranslationError:
        source_modified_at = None
    created = record_inbound_event(
        connection,
        body=body,
        headers=headers,
        topic=topic,
        resource=resource,
        resource_id=resource_id,
        delivery_id=delivery_id,
        source_modified_at=source_modified_at,
        dedupe_key=inbound_dedupe_key(
            connection, resource=resource, resource_id=resource_id, modified=modified, body=body
        ),
    )
    return JsonResponse({"status": "accepted" if created else "duplicate"}, status=200)
