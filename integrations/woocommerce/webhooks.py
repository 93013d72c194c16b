"""Receive WooCommerce webhooks: verify, store raw, answer 2xx only once durable.

WooCommerce signs the raw body: ``X-WC-Webhook-Signature = base64(HMAC-SHA256(secret, body))``.
When a webhook is created it sends an unsigned form-encoded ``webhook_id=<n>`` ping that must get
a 200, or WooCommerce refuses to save the webhook. ``X-WC-Webhook-Delivery-ID`` is a hash of the
webhook id and the current second, so it is recorded but never the dedupe key on its own.

Two entry points share one code path: the Django view :func:`receive_webhook` (test client,
ASGI, and every case that is not plain) and its lean twin :func:`fast_receive`, which
``controltower/wsgi.py`` runs for a signed JSON webhook to a known connection without the
middleware stack (see ``integrations/runtime/ingest.py``). Either way the event is committed by
one ``INSERT … ON CONFLICT DO NOTHING`` before the answer is written.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import logging
import re
from collections.abc import Callable
from typing import Any, cast

from django.http import Http404, HttpRequest, HttpResponse, JsonResponse
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_POST

from controltower.catalog.choices import SystemKind
from controltower.exceptions.choices import ExceptionType, Severity
from controltower.exceptions.services import open_exception
from integrations.runtime.choices import InboundStatus
from integrations.runtime.ingest import Receiver, insert_inbound_event, json_answer, receiver_for
from integrations.runtime.models import Connection, InboundEvent
from integrations.runtime.services import body_hash, inbound_dedupe_key, record_inbound_event
from integrations.woocommerce.translate import TranslationError, order_modified_at

logger = logging.getLogger(__name__)

_PING = re.compile(rb"^webhook_id=\d+$")
_KEPT_HEADERS = ("content-type", "user-agent")


def webhook_secret(receiver: Receiver) -> bytes:
    """The connection's webhook secret (decrypted once per process, see ``receiver_for``)."""
    return str(receiver.credentials.get("webhook_secret", "")).encode()


def signature_for(secret: bytes, body: bytes) -> str:
    return base64.b64encode(hmac.new(secret, body, hashlib.sha256).digest()).decode()


def _signed(receiver: Receiver, body: bytes, signature: str) -> Receiver | None:
    """The receiver whose secret signed ``body``; re-read once, so a rotated secret works."""
    for fresh in (False, True):
        if fresh:
            reread = receiver_for(receiver.slug, receiver.kind, fresh=True)
            if reread is None or reread == receiver:
                return None
            receiver = reread
        secret = webhook_secret(receiver)
        if secret and hmac.compare_digest(signature_for(secret, body), signature):
            return receiver
    return None


def _kept_headers(request: HttpRequest) -> dict[str, str]:
    return {
        name: value
        for name, value in request.headers.items()
        if name.lower().startswith("x-wc-") or name.lower() in _KEPT_HEADERS
    }


def _kept_meta(meta: dict[str, Any]) -> dict[str, str]:
    """``_kept_headers`` read straight from the WSGI environ: same names, same order."""
    kept = {}
    for key, value in meta.items():
        if key.startswith("HTTP_X_WC_") or key in ("HTTP_USER_AGENT", "CONTENT_TYPE"):
            kept[key.removeprefix("HTTP_").replace("_", "-").title()] = value
    return kept


def _error(status: int, detail: str) -> JsonResponse:
    return JsonResponse({"detail": detail}, status=status)


def _parse(body: bytes) -> dict[str, Any]:
    payload = json.loads(body)
    if not isinstance(payload, dict):
        raise ValueError("the body must be a JSON object")
    return payload


def _store(
    receiver: Receiver,
    body: bytes,
    payload: dict[str, Any],
    header: Callable[[str], str],
    headers: dict[str, str],
) -> str:
    """Commit the event (one statement); "accepted", or "duplicate" for a redelivery."""
    topic = header("X-WC-Webhook-Topic")
    resource = header("X-WC-Webhook-Resource") or topic.partition(".")[0]
    resource_id = str(payload.get("id", ""))
    modified = str(payload.get("date_modified_gmt", ""))
    try:
        source_modified_at = order_modified_at(payload) if modified else None
    except TranslationError:
        source_modified_at = None
    event_id = insert_inbound_event(
        connection_id=receiver.pk,
        body=body,
        headers=headers,
        topic=topic,
        resource=resource,
        resource_id=resource_id,
        delivery_id=header("X-WC-Webhook-Delivery-ID"),
        source_modified_at=source_modified_at,
        dedupe_key=inbound_dedupe_key(
            cast(Connection, receiver),  # only its slug is read
            resource=resource,
            resource_id=resource_id,
            modified=modified,
            body=body,
        ),
    )
    return "accepted" if event_id is not None else "duplicate"


def _reject(receiver: Receiver, request: HttpRequest, body: bytes, exc: Exception) -> JsonResponse:
    """Signed by the store but unreadable: keep the raw body for inspection, tell the sender."""
    connection = Connection.objects.get(pk=receiver.pk)
    topic = request.headers.get("X-WC-Webhook-Topic", "")
    resource = request.headers.get("X-WC-Webhook-Resource") or topic.partition(".")[0]
    detail = f"malformed JSON: {exc}"
    key = f"rejected:{body_hash(body)}"
    event_id = record_inbound_event(
        connection,
        body=body,
        headers=_kept_headers(request),
        topic=topic,
        resource=resource,
        delivery_id=request.headers.get("X-WC-Webhook-Delivery-ID", ""),
        dedupe_key=key,
        status=InboundStatus.REJECTED,
        error=detail,
    ) or InboundEvent.objects.values_list("pk", flat=True).get(dedupe_key=key)
    # Keyed and linked like every inbound dead letter, so it can be replayed edited from the
    # work queue and closes itself when a replay of it is processed.
    open_exception(
        type=ExceptionType.REJECTED_INBOUND,
        dedupe_key=f"inbound:{event_id}",
        title=f"Malformed {topic or 'webhook'} from {connection.name}",
        detail=detail,
        severity=Severity.MEDIUM,
        subject_type="integrations.inboundevent",
        subject_id=str(event_id),
        context={"connection": connection.slug, "topic": topic},
    )
    return _error(400, detail)


def fast_receive(request: HttpRequest, slug: str) -> HttpResponse | None:
    """The lean twin: the plain case only (signed JSON object, known connection), else None."""
    signature = request.META.get("HTTP_X_WC_WEBHOOK_SIGNATURE", "")
    if not signature:
        return None
    receiver = receiver_for(slug, SystemKind.WOOCOMMERCE)
    if receiver is None:
        return None
    body = request.body
    receiver = _signed(receiver, body, signature)
    if receiver is None:
        return None
    try:
        payload = _parse(body)
    except (ValueError, UnicodeDecodeError):
        return None
    meta = request.META

    def header(name: str) -> str:
        return meta.get("HTTP_" + name.upper().replace("-", "_"), "")

    status = _store(receiver, body, payload, header, _kept_meta(meta))
    return json_answer(200, {"status": status})


@csrf_exempt
@require_POST
def receive_webhook(request: HttpRequest, slug: str) -> HttpResponse:
    receiver = receiver_for(slug, SystemKind.WOOCOMMERCE)
    if receiver is None:
        raise Http404("No Connection matches the given query.")
    body = request.body
    signature = request.headers.get("X-WC-Webhook-Signature", "")

    if not signature:
        if request.content_type == "application/x-www-form-urlencoded" and _PING.match(body):
            logger.info("woocommerce webhook ping on %s: %s", slug, body.decode())
            return JsonResponse({"status": "pong"}, status=200)
        return _error(401, "missing X-WC-Webhook-Signature")

    signed = _signed(receiver, body, signature)
    if signed is None:
        logger.warning("woocommerce webhook on %s: bad signature", slug)
        return _error(401, "invalid X-WC-Webhook-Signature")

    try:
        payload = _parse(body)
    except (ValueError, UnicodeDecodeError) as exc:
        return _reject(signed, request, body, exc)

    def header(name: str) -> str:
        return request.headers.get(name, "")

    status = _store(signed, body, payload, header, _kept_headers(request))
    return JsonResponse({"status": status}, status=200)


receive_webhook.fast_path = fast_receive  # type: ignore[attr-defined]
