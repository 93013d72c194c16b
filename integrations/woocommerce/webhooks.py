"""Where WooCommerce sends to us: verify a webhook delivery and say what it is about.

WooCommerce signs the raw body: ``X-WC-Webhook-Signature = base64(HMAC-SHA256(secret, body))``.
When a webhook is created it sends an unsigned form-encoded ``webhook_id=<n>`` ping that must get
a 200, or WooCommerce refuses to save the webhook. ``X-WC-Webhook-Delivery-ID`` is a hash of the
webhook id and the current second, so it is recorded but never the dedupe key on its own: the
runtime dedupes on the resource, its ``date_modified_gmt`` and the body (``translate.py`` reads
them). The runtime (``integrations/runtime/receive.py``) calls :func:`receive` once per delivery
and stores what it accepts before answering.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import re
from typing import Any

from controltower.catalog.choices import SystemKind
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
from integrations.woocommerce.translate import webhook_subject

_PING = re.compile(rb"^webhook_id=\d+$")
_KEPT_HEADERS = ("content-type", "user-agent")


def signature_for(secret: bytes, body: bytes) -> str:
    return base64.b64encode(hmac.new(secret, body, hashlib.sha256).digest()).decode()


def _kept_headers(request: WebhookRequest) -> dict[str, str]:
    return {
        name: value
        for name, value in request.headers.items()
        if name.lower().startswith("x-wc-") or name.lower() in _KEPT_HEADERS
    }


def _parse(body: bytes) -> dict[str, Any]:
    payload = json.loads(body)
    if not isinstance(payload, dict):
        raise ValueError("the body must be a JSON object")
    return payload


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
    if not secret or not hmac.compare_digest(signature_for(secret, request.body), signature):
        return Unverified(401, {"detail": "invalid X-WC-Webhook-Signature"})

    topic = request.header("X-WC-Webhook-Topic")
    resource = request.header("X-WC-Webhook-Resource") or topic.partition(".")[0]
    delivery_id = request.header("X-WC-Webhook-Delivery-ID")
    try:
        payload = _parse(request.body)
    except (ValueError, UnicodeDecodeError) as exc:
        return Reject(
            detail=f"malformed JSON: {exc}",
            topic=topic,
            resource=resource,
            delivery_id=delivery_id,
            headers=_kept_headers(request),
        )
    resource_id, modified, modified_at = webhook_subject(payload)
    if not modified:
        # The {"id": N} of a deletion carries no time: the delivery id (webhook + second) tells a
        # later deletion (after a restore) from a redelivery of the same one.
        modified = f"delivery:{delivery_id}"
    return Accept(
        topic=topic,
        resource=resource,
        resource_id=resource_id,
        modified=modified,
        source_modified_at=modified_at,
        delivery_id=delivery_id,
        headers=_kept_headers(request),
    )
