"""Signed webhooks for the simulators of the generic-contract kinds (gateway, WMS, ERP): the
``t=<unix>,v1=<hex>`` signature and :class:`SignedWebhookSender`, which delivers event envelopes
from a background thread with retries and the fault plan's duplicate / shuffled / stale
deliveries. Stdlib only, like :mod:`integrations.simkit`, which it builds on."""

from __future__ import annotations

import hashlib
import hmac
import json
import logging
import threading
import time
from dataclasses import dataclass
from typing import Any

from integrations.simkit import JsonHTTPServer, Request, Response, json_response, monotonic_ms

logger = logging.getLogger(__name__)


def timestamped_signature(secret: str, body: bytes, timestamp: int) -> str:
    """hex HMAC-SHA256 of ``"<timestamp>.<body>"`` (the ``v1`` of a ``t=…,v1=…`` header)."""
    signed = f"{timestamp}.".encode() + body
    return hmac.new(secret.encode(), signed, hashlib.sha256).hexdigest()


def signature_header(secrets: list[str], body: bytes, timestamp: int) -> str:
    """``t=<unix>,v1=<hex>[,v1=<hex>…]``: one ``v1`` per secret (several while one rotates)."""
    parts = [f"t={timestamp}"]
    parts += [f"v1={timestamped_signature(secret, body, timestamp)}" for secret in secrets]
    return ",".join(parts)


@dataclass
class WebhookEndpoint:
    id: str
    url: str
    secrets: list[str]  # the newest first; all are used to sign while a secret rotates
    events: list[str]  # event types, or ["*"]
    enabled: bool = True


class SignedWebhookSender:
    """A simulator's outgoing webhooks, Stripe-style: an event envelope
    ``{"id": "evt_…", "object": "event", "type": …, "created": <unix>, "data": {"object": …}}``
    POSTed as JSON with ``<header>: t=<unix>,v1=<hex HMAC-SHA256 of "t.body">``.

    Delivered from one background thread, in order, each retried (``max_attempts``, doubling
    backoff) until a 2xx. The fault plan's ``duplicate_webhooks`` (int: extra copies of each
    delivery) and ``shuffle_webhooks`` (bool: deliver what queued within ``shuffle_window_s`` in
    another order) apply, as do ``stale_webhook_s`` (int: sign the next delivery this many seconds
    in the past, so a receiver with a tolerance refuses it).
    """

    def __init__(
        self,
        server: JsonHTTPServer,
        *,
        header: str,
        prefix: str = "evt",
        user_agent: str = "ControlTower-Simulator/1.0",
        max_attempts: int = 5,
        retry_base_s: float = 0.5,
        shuffle_window_s: float = 0.3,
        timeout_s: float = 10.0,
    ) -> None:
        import queue
        import random

        self.server = server
        self.header = header
        self.prefix = prefix
        self.user_agent = user_agent
        self.max_attempts = max_attempts
        self.retry_base_s = retry_base_s
        self.shuffle_window_s = shuffle_window_s
        self.timeout_s = timeout_s
        self._queue: queue.Queue[tuple[WebhookEndpoint, dict[str, Any]]] = queue.Queue()
        self._lock = threading.Lock()
        self._endpoints: dict[str, WebhookEndpoint] = {}
        self._deliveries: list[dict[str, Any]] = []
        self._events: list[dict[str, Any]] = []
        self._sequence = 0
        self._inflight = 0
        self._rng = random.Random()
        self._thread: threading.Thread | None = None

    # -- endpoints ------------------------------------------------------------------------

    def add_endpoint(
        self, url: str, secret: str, events: list[str] | None = None, endpoint_id: str = ""
    ) -> WebhookEndpoint:
        with self._lock:
            endpoint_id = endpoint_id or f"we_{len(self._endpoints) + 1:04d}"
            endpoint = WebhookEndpoint(endpoint_id, url, [secret], list(events or ["*"]))
            self._endpoints[endpoint_id] = endpoint
            return endpoint

    def rotate_secret(self, endpoint_id: str, secret: str, *, keep_old: bool = True) -> None:
        with self._lock:
            endpoint = self._endpoints[endpoint_id]
            endpoint.secrets = [secret, *endpoint.secrets[:1]] if keep_old else [secret]

    def endpoints(self) -> list[dict[str, Any]]:
        with self._lock:
            return [
                {"id": e.id, "url": e.url, "events": e.events, "enabled": e.enabled}
                for e in self._endpoints.values()
            ]

    def remove_endpoint(self, endpoint_id: str) -> bool:
        with self._lock:
            return self._endpoints.pop(endpoint_id, None) is not None

    # -- events ---------------------------------------------------------------------------

    def emit(self, event_type: str, obj: dict[str, Any]) -> dict[str, Any]:
        """Record an event and queue it for every endpoint that listens to its type."""
        with self._lock:
            self._sequence += 1
            event = {
                "id": f"{self.prefix}_{self._sequence:08d}",
                "object": "event",
                "type": event_type,
                "created": int(time.time()),
                "data": {"object": json.loads(json.dumps(obj))},
            }
            self._events.append(event)
            targets = [
                e
                for e in self._endpoints.values()
                if e.enabled and ("*" in e.events or event_type in e.events)
            ]
        for endpoint in targets:
            self._queue.put((endpoint, event))
        return event

    def events(self, event_type: str | None = None) -> list[dict[str, Any]]:
        with self._lock:
            return [dict(e) for e in self._events if event_type in (None, e["type"])]

    def deliveries(self) -> list[dict[str, Any]]:
        with self._lock:
            return [dict(d) for d in self._deliveries]

    def pending(self) -> int:
        with self._lock:
            return self._queue.qsize() + self._inflight

    def reset(self) -> None:
        with self._lock:
            self._endpoints.clear()
            self._deliveries.clear()
            self._events.clear()
            self._sequence = 0

    def install_sim_routes(self) -> None:
        """``GET/POST /_sim/webhook_endpoints`` ({url, secret, events?}), ``DELETE
        /_sim/webhook_endpoints/<id>``, ``POST /_sim/webhook_endpoints/<id>/rotate`` ({secret,
        keep_old?}), ``GET /_sim/webhook_events`` and ``GET /_sim/webhook_deliveries``."""
        server = self.server

        def create(request: Request) -> Response:
            try:
                payload = request.json()
            except ValueError:
                return json_response({"error": "invalid JSON body"}, 400)
            if not isinstance(payload, dict) or not isinstance(payload.get("url"), str):
                return json_response({"error": "url: required"}, 400)
            secret = payload.get("secret")
            if not isinstance(secret, str) or not secret:
                return json_response({"error": "secret: required"}, 400)
            events = payload.get("events") or ["*"]
            endpoint = self.add_endpoint(payload["url"], secret, events, payload.get("id", ""))
            return json_response({"id": endpoint.id, "url": endpoint.url, "events": events}, 201)

        def rotate(request: Request) -> Response:
            payload = request.json() if request.body else {}
            secret = payload.get("secret") if isinstance(payload, dict) else None
            if not isinstance(secret, str) or not secret:
                return json_response({"error": "secret: required"}, 400)
            try:
                self.rotate_secret(
                    request.params["id"], secret, keep_old=payload.get("keep_old", True) is True
                )
            except KeyError:
                return json_response({"error": "not found"}, 404)
            return json_response({"ok": True})

        def delete(request: Request) -> Response:
            if not self.remove_endpoint(request.params["id"]):
                return json_response({"error": "not found"}, 404)
            return json_response({"ok": True})

        server.route("GET", r"/_sim/webhook_endpoints", lambda r: json_response(self.endpoints()))
        server.route("POST", r"/_sim/webhook_endpoints", create)
        server.route("DELETE", r"/_sim/webhook_endpoints/(?P<id>[^/]+)", delete)
        server.route("POST", r"/_sim/webhook_endpoints/(?P<id>[^/]+)/rotate", rotate)
        server.route(
            "GET",
            r"/_sim/webhook_events",
            lambda r: json_response(self.events(r.arg("type"))),
        )
        server.route("GET", r"/_sim/webhook_deliveries", lambda r: json_response(self.deliveries()))

    # -- delivery -------------------------------------------------------------------------

    def start(self) -> None:
        if self._thread is None:
            self._thread = threading.Thread(
                target=self._loop, name=f"{self.server.name}-webhooks", daemon=True
            )
            self._thread.start()

    def _loop(self) -> None:
        import queue

        import httpx

        with httpx.Client(timeout=self.timeout_s, follow_redirects=False) as client:
            while not self.server.stopping.is_set():
                try:
                    batch = [self._queue.get(timeout=0.1)]
                except queue.Empty:
                    continue
                if self.server.faults.snapshot().get("shuffle_webhooks"):
                    deadline = time.monotonic() + self.shuffle_window_s
                    while (remaining := deadline - time.monotonic()) > 0:
                        try:
                            batch.append(self._queue.get(timeout=remaining))
                        except queue.Empty:
                            break
                    if len(batch) > 1:
                        batch.reverse()
                with self._lock:
                    self._inflight = len(batch)
                for endpoint, event in batch:
                    copies = 1 + int(self.server.faults.snapshot().get("duplicate_webhooks", 0))
                    for copy in range(copies):
                        try:
                            self._deliver(client, endpoint, event, duplicate=copy)
                        except Exception:
                            logger.exception("webhook delivery crashed: %s", event["id"])
                    with self._lock:
                        self._inflight -= 1

    def _stale_seconds(self) -> int:
        plan = self.server.faults
        stale = int(plan.snapshot().get("stale_webhook_s", 0))
        if stale:
            plan.update({"stale_webhook_s": 0})
        return stale

    def _deliver(
        self, client: Any, endpoint: WebhookEndpoint, event: dict[str, Any], *, duplicate: int
    ) -> None:
        import httpx

        body = json.dumps(event, separators=(",", ":")).encode()
        for attempt in range(1, self.max_attempts + 1):
            if self.server.stopping.is_set():
                return
            timestamp = int(time.time()) - self._stale_seconds()
            with self._lock:
                secrets = list(endpoint.secrets)
            headers = {
                "Content-Type": "application/json",
                "User-Agent": self.user_agent,
                self.header: signature_header(secrets, body, timestamp),
            }
            started = time.monotonic()
            status: int | None = None
            error = ""
            try:
                status = client.post(endpoint.url, content=body, headers=headers).status_code
            except httpx.HTTPError as exc:
                error = f"{type(exc).__name__}: {exc}"
            ok = status is not None and 200 <= status < 300
            with self._lock:
                self._deliveries.append(
                    {
                        "event": event["id"],
                        "type": event["type"],
                        "endpoint": endpoint.id,
                        "attempt": attempt,
                        "duplicate": duplicate,
                        "status": status,
                        "error": error,
                        "ok": ok,
                        "duration_ms": monotonic_ms(started),
                    }
                )
            if ok or (status is not None and 400 <= status < 500 and status not in (408, 429)):
                return
            self.server.sleep(self.retry_base_s * 2 ** (attempt - 1))


WEBHOOK_FAULT_DEFAULTS: dict[str, Any] = {
    "duplicate_webhooks": 0,
    "shuffle_webhooks": False,
    "stale_webhook_s": 0,
}
