"""Webhooks: ``/webhooks`` CRUD and the Hookshot delivery loop (signed POSTs)."""

from __future__ import annotations

import base64
import hashlib
import hmac
import logging
import queue
import secrets
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any
from urllib.parse import urlsplit

import httpx

from integrations.simkit import Request, Response, iso_utc, json_response, monotonic_ms
from integrations.woocommerce.simulator.common import (
    HOOKSHOT_USER_AGENT,
    WEBHOOK_EVENTS,
    WEBHOOK_HOOKS,
    WEBHOOK_RESOURCES,
    WEBHOOK_STATUSES,
    invalid_param,
    now_s,
    php_json,
    wc_error,
)

logger = logging.getLogger(__name__)


def webhook_signature(secret: str, body: bytes) -> str:
    """``X-WC-Webhook-Signature``: base64(HMAC-SHA256(secret, raw body))."""
    digest = hmac.new(secret.encode("utf-8"), body, hashlib.sha256).digest()
    return base64.b64encode(digest).decode("ascii")


def delivery_id_for(webhook_id: int, epoch_second: int) -> str:
    """Like WooCommerce: a hash of webhook id + current second (so NOT unique per delivery)."""
    return hashlib.md5(f"{webhook_id}{epoch_second}".encode(), usedforsecurity=False).hexdigest()


@dataclass
class Webhook:
    id: int
    name: str
    status: str
    topic: str
    delivery_url: str
    secret: str
    created: datetime
    modified: datetime
    failure_count: int = 0
    api_version: str = "wp_api_v3"

    @property
    def resource(self) -> str:
        return self.topic.split(".", 1)[0]

    @property
    def event(self) -> str:
        return self.topic.split(".", 1)[1] if "." in self.topic else ""


@dataclass
class DeliveryJob:
    kind: str  # "ping" | "event"
    webhook_id: int
    topic: str = ""
    resource_id: int = 0
    deleted_payload: dict[str, Any] | None = None
    queued_at: float = field(default_factory=time.monotonic)


class WebhooksMixin:
    def render_webhook(self, webhook: Webhook) -> dict[str, Any]:
        """The webhook as the REST API shows it; ``secret`` is write-only, never echoed."""
        body: dict[str, Any] = {
            "id": webhook.id,
            "name": webhook.name,
            "status": webhook.status,
            "topic": webhook.topic,
            "resource": webhook.resource,
            "event": webhook.event,
            "hooks": WEBHOOK_HOOKS.get(webhook.topic, []),
            "delivery_url": webhook.delivery_url,
            "date_created": self._local(webhook.created),
            "date_created_gmt": self._gmt(webhook.created),
            "date_modified": self._local(webhook.modified),
            "date_modified_gmt": self._gmt(webhook.modified),
            "_links": {
                "self": [{"href": self._rest_url(f"webhooks/{webhook.id}")}],
                "collection": [{"href": self._rest_url("webhooks")}],
            },
        }
        return body

    @staticmethod
    def _valid_topic(topic: Any) -> bool:
        if not isinstance(topic, str):
            return False
        if topic.startswith("action.") and len(topic) > len("action."):
            return True
        resource, _, event = topic.partition(".")
        return resource in WEBHOOK_RESOURCES and event in WEBHOOK_EVENTS

    @staticmethod
    def _valid_url(url: Any) -> bool:
        if not isinstance(url, str):
            return False
        parts = urlsplit(url)
        return parts.scheme in ("http", "https") and bool(parts.netloc)

    def create_webhook(self, request: Request) -> Response:
        payload = self._parse_json_object(request)
        if isinstance(payload, Response):
            return payload
        topic = payload.get("topic")
        if not self._valid_topic(topic):
            return wc_error(
                "woocommerce_rest_shop_webhook_invalid_topic",
                "Webhook topic is required and must be valid.",
                400,
            )
        delivery_url = payload.get("delivery_url")
        if not self._valid_url(delivery_url):
            return wc_error(
                "woocommerce_rest_shop_webhook_invalid_delivery_url",
                "Webhook delivery URL must be a valid URL starting with http:// or https://.",
                400,
            )
        status = payload.get("status", "active")
        if status not in WEBHOOK_STATUSES:
            return invalid_param({"status": "status is not one of active, paused, and disabled."})
        moment = now_s()
        name = payload.get("name") or (
            f"Webhook created on {moment.astimezone(self.tz).strftime('%b %d, %Y @ %I:%M %p')}"
        )
        secret = payload.get("secret") or secrets.token_urlsafe(37)
        with self._lock:
            webhook = Webhook(
                id=self._next_webhook_id,
                name=str(name),
                status=status,
                topic=topic,
                delivery_url=delivery_url,
                secret=str(secret),
                created=moment,
                modified=moment,
            )
            self._next_webhook_id += 1
            self._webhooks[webhook.id] = webhook
            body = self.render_webhook(webhook)
        if status == "active":
            self._delivery_queue.put(DeliveryJob(kind="ping", webhook_id=webhook.id))
        logger.info("webhook %s created: %s -> %s", webhook.id, topic, delivery_url)
        return json_response(body, 201, {"Location": self._rest_url(f"webhooks/{webhook.id}")})

    def list_webhooks(self, request: Request) -> Response:
        status = request.arg("status")
        with self._lock:
            hooks = [
                self.render_webhook(w)
                for w in sorted(self._webhooks.values(), key=lambda w: w.id, reverse=True)
                if status in (None, "", "all") or w.status == status
            ]
        page = self._paginate(request, hooks, "webhooks")
        if isinstance(page, Response):
            return page
        items, headers = page
        return json_response(items, 200, headers)

    def get_webhook(self, request: Request) -> Response:
        with self._lock:
            webhook = self._webhooks.get(int(request.params["webhook_id"]))
            if webhook is None:
                return wc_error("woocommerce_rest_shop_webhook_invalid_id", "Invalid ID.", 404)
            return json_response(self.render_webhook(webhook))

    def update_webhook(self, request: Request) -> Response:
        payload = self._parse_json_object(request)
        if isinstance(payload, Response):
            return payload
        if "topic" in payload and not self._valid_topic(payload["topic"]):
            return wc_error(
                "woocommerce_rest_shop_webhook_invalid_topic",
                "Webhook topic is required and must be valid.",
                400,
            )
        if "delivery_url" in payload and not self._valid_url(payload["delivery_url"]):
            return wc_error(
                "woocommerce_rest_shop_webhook_invalid_delivery_url",
                "Webhook delivery URL must be a valid URL starting with http:// or https://.",
                400,
            )
        if "status" in payload and payload["status"] not in WEBHOOK_STATUSES:
            return invalid_param({"status": "status is not one of active, paused, and disabled."})
        ping = False
        with self._lock:
            webhook = self._webhooks.get(int(request.params["webhook_id"]))
            if webhook is None:
                return wc_error("woocommerce_rest_shop_webhook_invalid_id", "Invalid ID.", 400)
            for key in ("name", "topic", "delivery_url", "secret"):
                if payload.get(key):
                    setattr(webhook, key, str(payload[key]))
            if "status" in payload and payload["status"] != webhook.status:
                if payload["status"] == "active":
                    webhook.failure_count = 0
                    ping = True
                webhook.status = payload["status"]
            webhook.modified = now_s()
            body = self.render_webhook(webhook)
        if ping:
            self._delivery_queue.put(DeliveryJob(kind="ping", webhook_id=webhook.id))
        return json_response(body)

    def delete_webhook(self, request: Request) -> Response:
        force = (request.arg("force") or "").lower() in ("1", "true", "yes")
        if not force:
            return wc_error(
                "woocommerce_rest_trash_not_supported", "Webhooks do not support trashing.", 501
            )
        with self._lock:
            webhook = self._webhooks.pop(int(request.params["webhook_id"]), None)
            if webhook is None:
                return wc_error("woocommerce_rest_shop_webhook_invalid_id", "Invalid ID.", 404)
            return json_response(self.render_webhook(webhook))

    def webhook(self, webhook_id: int) -> Webhook | None:
        with self._lock:
            return self._webhooks.get(webhook_id)

    # -- webhook delivery -----------------------------------------------------------------

    def _fire(
        self, topic: str, resource_id: int, deleted_payload: dict[str, Any] | None = None
    ) -> None:
        with self._lock:
            targets = [
                w.id for w in self._webhooks.values() if w.status == "active" and w.topic == topic
            ]
        for webhook_id in targets:
            self._delivery_queue.put(
                DeliveryJob(
                    kind="event",
                    webhook_id=webhook_id,
                    topic=topic,
                    resource_id=resource_id,
                    deleted_payload=deleted_payload,
                )
            )

    def _delivery_loop(self) -> None:
        with httpx.Client(timeout=self.delivery_timeout, follow_redirects=False) as client:
            while not self.stopping.is_set():
                try:
                    job = self._delivery_queue.get(timeout=0.1)
                except queue.Empty:
                    continue
                batch = [job]
                if self.faults.get("shuffle_deliveries"):
                    deadline = time.monotonic() + self.shuffle_window_seconds
                    while (remaining := deadline - time.monotonic()) > 0:
                        try:
                            batch.append(self._delivery_queue.get(timeout=remaining))
                        except queue.Empty:
                            break
                    if len(batch) > 1:
                        original = list(batch)
                        self._rng.shuffle(batch)
                        if batch == original:
                            batch.reverse()
                with self._deliveries_lock:
                    self._inflight = len(batch)
                for item in batch:
                    if self.stopping.is_set():
                        break
                    try:
                        self._process_job(client, item)
                    except Exception:
                        logger.exception("webhook delivery job crashed: %s", item)
                    with self._deliveries_lock:
                        self._inflight -= 1
                with self._deliveries_lock:
                    self._inflight = 0

    def _process_job(self, client: httpx.Client, job: DeliveryJob) -> None:
        webhook = self.webhook(job.webhook_id)
        if webhook is None:
            return
        if job.kind == "ping":
            self._send(client, webhook, job, ping=True, duplicate=0)
            return
        copies = 1 + int(self.faults.get("duplicate_deliveries"))
        for index in range(copies):
            webhook = self.webhook(job.webhook_id)
            if webhook is None or webhook.status != "active":
                return
            self._send(client, webhook, job, ping=False, duplicate=index)

    def _send(
        self, client: httpx.Client, webhook: Webhook, job: DeliveryJob, ping: bool, duplicate: int
    ) -> None:
        wall = time.time()
        epoch = int(wall)
        sent_at = iso_utc(datetime.fromtimestamp(wall, UTC))
        delivery_id = delivery_id_for(webhook.id, epoch)
        if ping:
            body = f"webhook_id={webhook.id}".encode()
            headers = {
                "Content-Type": "application/x-www-form-urlencoded",
                "User-Agent": HOOKSHOT_USER_AGENT,
            }
        else:
            payload: dict[str, Any] | None = job.deleted_payload
            if payload is None:
                payload = self._resource_json(webhook.resource, job.resource_id)
            body = php_json(payload)
            headers = {
                "Content-Type": "application/json",
                "User-Agent": HOOKSHOT_USER_AGENT,
                "X-WC-Webhook-Source": self.site_url,
                "X-WC-Webhook-Topic": webhook.topic,
                "X-WC-Webhook-Resource": webhook.resource,
                "X-WC-Webhook-Event": webhook.event,
                "X-WC-Webhook-Signature": webhook_signature(webhook.secret, body),
                "X-WC-Webhook-ID": str(webhook.id),
                "X-WC-Webhook-Delivery-ID": delivery_id,
            }
        started = time.monotonic()
        status_code: int | None = None
        error: str | None = None
        try:
            response = client.post(webhook.delivery_url, content=body, headers=headers)
            status_code = response.status_code
        except httpx.HTTPError as exc:
            error = f"{type(exc).__name__}: {exc}"
        success = status_code is not None and 200 <= status_code < 300
        record = {
            "kind": "ping" if ping else "event",
            "webhook_id": webhook.id,
            "delivery_id": delivery_id,
            "topic": webhook.topic,
            "order_id": None if ping or webhook.resource != "order" else job.resource_id,
            "resource_id": None if ping else job.resource_id,
            "status_code": status_code,
            "success": success,
            "error": error,
            "duration_ms": monotonic_ms(started),
            "duplicate": duplicate,
            "sent_at": sent_at,
            "sent_epoch": epoch,
            "body_bytes": len(body),
        }
        if not ping:
            with self._lock:
                current = self._webhooks.get(webhook.id)
                if current is not None:
                    if success:
                        current.failure_count = 0
                    else:
                        current.failure_count += 1
                        if current.failure_count >= self.max_delivery_failures:
                            current.status = "disabled"
                            logger.warning(
                                "webhook %s disabled after %s consecutive failures",
                                current.id,
                                current.failure_count,
                            )
                    record["failure_count"] = current.failure_count
                    record["webhook_status"] = current.status
        with self._deliveries_lock:
            record["id"] = len(self._deliveries) + 1
            self._deliveries.append(record)
        logger.info(
            "delivered %s webhook %s (%s) order %s -> %s",
            record["kind"],
            webhook.id,
            webhook.topic,
            record["order_id"],
            status_code or error,
        )

    def _resource_json(self, resource: str, resource_id: int) -> dict[str, Any]:
        """``build_payload``: the resource as ``GET /wc/v3/<resource>s/<id>`` renders it."""
        with self._lock:
            if resource == "order" and resource_id in self._orders:
                return self.render_order(self._orders[resource_id])
            if resource == "product" and resource_id in self._products:
                return self._product_json(self._products[resource_id])
        return {"id": resource_id}

    def deliveries(self) -> list[dict[str, Any]]:
        with self._deliveries_lock:
            return [dict(d) for d in self._deliveries]

    def pending_deliveries(self) -> int:
        with self._deliveries_lock:
            return self._delivery_queue.qsize() + self._inflight
