"""Timestamped webhook signatures (``t=<unix>,v1=<hex>``) and the receiver every generic-contract
kind (gateway, WMS, ERP, ledger) uses for its event envelopes.

The scheme is Stripe's: the sender signs ``"<t>.<raw body>"`` with HMAC-SHA256 under the
endpoint's secret and sends ``<Header>: t=<unix seconds>,v1=<hex>``; while a secret rotates it
sends one ``v1`` per secret. A delivery is genuine when any ``v1`` matches any secret we hold,
and fresh when ``t`` is within the tolerance (5 minutes) of our clock: an old delivery replayed
later is refused even with a valid signature.

The envelope (docs/contracts/*.md): ``{"id": "evt_…", "type": "<object>.<verb>", "created":
<unix>, "data": {"object": {"id": …, "object": …, "updated": <unix>?}}}``. The event id is the
delivery id; the dedupe key is built from the object's id, the event id and the body, so a
redelivered event is one event and two events about one object are two.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import time
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

from integrations.runtime.registry import (
    Accept,
    Answer,
    Outcome,
    Reject,
    Unverified,
    WebhookConnection,
    WebhookRequest,
)

TOLERANCE_S = 300
MAX_BODY_DEPTH = 32


class SignatureError(ValueError):
    """The header is missing, malformed, stale or matches no secret; the message says which."""


def sign(secret: str, body: bytes, timestamp: int) -> str:
    return hmac.new(secret.encode(), f"{timestamp}.".encode() + body, hashlib.sha256).hexdigest()


def signature_header(secrets: list[str], body: bytes, timestamp: int | None = None) -> str:
    moment = int(time.time()) if timestamp is None else timestamp
    return ",".join([f"t={moment}", *(f"v1={sign(s, body, moment)}" for s in secrets)])


def verify(
    header: str,
    body: bytes,
    secrets: list[str],
    *,
    tolerance_s: int = TOLERANCE_S,
    now: float | None = None,
) -> int:
    """The signed timestamp, or :class:`SignatureError`."""
    if not header:
        raise SignatureError("missing signature header")
    timestamp: int | None = None
    candidates: list[str] = []
    for part in header.split(","):
        name, _, value = part.strip().partition("=")
        if name == "t":
            if not value.isdigit() or len(value) > 12:
                raise SignatureError("malformed signature header: t must be unix seconds")
            timestamp = int(value)
        elif name == "v1":
            candidates.append(value)
    if timestamp is None or not candidates:
        raise SignatureError("malformed signature header: expected t=<unix>,v1=<hex>")
    usable = [s for s in secrets if s]
    if not usable:
        raise SignatureError("no webhook secret is configured for this connection")
    expected = [sign(secret, body, timestamp) for secret in usable]
    if not any(
        hmac.compare_digest(e.encode(), c.encode("utf-8", "replace"))
        for e in expected
        for c in candidates
    ):
        raise SignatureError("signature does not match")
    age = (time.time() if now is None else now) - timestamp
    if abs(age) > tolerance_s:
        raise SignatureError(
            f"timestamp outside the tolerance ({int(age)} s old, at most {tolerance_s} s)"
        )
    return timestamp


def connection_secrets(connection: WebhookConnection) -> list[str]:
    """``webhook_secrets`` (a list, while one rotates) and/or ``webhook_secret``."""
    credentials = connection.credentials
    secrets = credentials.get("webhook_secrets") or []
    if isinstance(secrets, str):
        secrets = [secrets]
    single = credentials.get("webhook_secret")
    return [str(s) for s in [*secrets, *([single] if single else [])] if s]


def _depth(value: Any, level: int = 1) -> int:
    if level > MAX_BODY_DEPTH:
        return level
    children = value.values() if isinstance(value, dict) else value
    if not isinstance(value, dict | list):
        return level - 1
    return max([level, *(_depth(child, level + 1) for child in children)])


def parse_event(body: bytes) -> dict[str, Any]:
    """The envelope, or ValueError saying what is wrong with it."""
    try:
        payload = json.loads(body.decode("utf-8"))
    except UnicodeDecodeError:
        raise ValueError("the body is not UTF-8") from None
    except (ValueError, RecursionError) as exc:
        raise ValueError(f"malformed JSON: {exc}") from None
    if not isinstance(payload, dict):
        raise ValueError("the body must be a JSON object")
    if _depth(payload) > MAX_BODY_DEPTH:
        raise ValueError(f"nested deeper than {MAX_BODY_DEPTH} levels")
    for name in ("id", "type"):
        if not isinstance(payload.get(name), str) or not payload[name].strip():
            raise ValueError(f"{name}: must be a non-empty string")
        if len(payload[name]) > 64:
            raise ValueError(f"{name}: longer than 64 characters")
    created = payload.get("created")
    if isinstance(created, bool) or not isinstance(created, int) or created < 0:
        raise ValueError("created: must be unix seconds")
    data = payload.get("data")
    if not isinstance(data, dict) or not isinstance(data.get("object"), dict):
        raise ValueError("data.object: must be an object")
    obj_id = data["object"].get("id")
    if not isinstance(obj_id, str | int) or isinstance(obj_id, bool) or not str(obj_id).strip():
        raise ValueError("data.object.id: required")
    if len(str(obj_id)) > 64:
        raise ValueError("data.object.id: longer than 64 characters")
    return payload


def event_receiver(
    *, header: str, known_types: frozenset[str] | None = None
) -> Callable[[WebhookRequest, WebhookConnection], Outcome]:
    """A webhook receiver for a kind whose system sends signed event envelopes."""

    def receive(request: WebhookRequest, connection: WebhookConnection) -> Outcome:
        signature = request.header(header)
        if not signature:
            return Answer(401, {"detail": f"missing {header}"})
        try:
            verify(signature, request.body, connection_secrets(connection))
        except SignatureError as exc:
            return Unverified(401, {"detail": f"invalid {header}: {exc}"})
        try:
            event = parse_event(request.body)
        except ValueError as exc:
            return Reject(detail=str(exc), topic="", resource="", delivery_id="", headers={})
        obj = event["data"]["object"]
        if known_types is not None and event["type"] not in known_types:
            return Reject(
                detail=f"unknown event type {event['type'][:64]!r}",
                topic="",
                resource=str(obj.get("object", ""))[:32],
                delivery_id=event["id"],
                headers={},
            )
        created = datetime.fromtimestamp(min(event["created"], 2**33), UTC)
        return Accept(
            topic=event["type"],
            resource=str(obj.get("object", ""))[:32],
            resource_id=str(obj["id"]),
            modified=event["id"],
            source_modified_at=created,
            delivery_id=event["id"],
            headers={header: signature[:512]},
        )

    return receive
