"""WooCommerce simulator: REST API v3 (``/wp-json/wc/v3/``) and Hookshot webhook deliveries.

Speaks the real WooCommerce wire formats (order JSON, pagination headers, error bodies, webhook
headers and HMAC signature) so that the Control Tower adapter cannot tell it from a shop.
See docs/simulators.md.
"""

from __future__ import annotations

import base64
import binascii
import hmac
import json
import logging
import queue
import random
import threading
from collections import Counter
from datetime import UTC, tzinfo
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from integrations.simkit import JsonHTTPServer, Request, Response, json_response
from integrations.woocommerce.simulator.catalog import (
    DEFAULT_CATALOG,
    GeneratorMixin,
    normalize_catalog,
    random_customer,
)
from integrations.woocommerce.simulator.common import (
    HOOKSHOT_USER_AGENT,
    ORDER_STATUSES,
    REST_PREFIX,
    WC_VERSION,
    RestHelpers,
    WooFaultPlan,
    WooOrder,
    wc_error,
)
from integrations.woocommerce.simulator.orders import OrdersMixin
from integrations.woocommerce.simulator.products import ProductsMixin
from integrations.woocommerce.simulator.webhooks import (
    DeliveryJob,
    Webhook,
    WebhooksMixin,
    delivery_id_for,
    webhook_signature,
)

__all__ = [
    "DEFAULT_CATALOG",
    "HOOKSHOT_USER_AGENT",
    "WC_VERSION",
    "DeliveryJob",
    "Webhook",
    "WooCommerceSimulator",
    "WooOrder",
    "delivery_id_for",
    "normalize_catalog",
    "random_customer",
    "webhook_signature",
]

logger = logging.getLogger(__name__)


class WooCommerceSimulator(
    OrdersMixin, ProductsMixin, WebhooksMixin, GeneratorMixin, RestHelpers, JsonHTTPServer
):
    """In-memory WooCommerce shop speaking REST API v3 and delivering webhooks."""

    fault_prefix = "/wp-json/"
    name = "woocommerce-simulator"
    max_delivery_failures = 5
    shuffle_window_seconds = 0.3

    def __init__(
        self,
        host: str = "127.0.0.1",
        port: int = 0,
        consumer_key: str = "ck_test",
        consumer_secret: str = "cs_test",
        catalog: list[dict[str, Any]] | None = None,
        rate: float = 0.0,
        site_url: str | None = None,
        timezone: str = "Europe/Amsterdam",
        seed: int | None = None,
        delivery_timeout: float = 5.0,
        first_order_id: int = 1001,
    ) -> None:
        super().__init__(host=host, port=port, fault_plan=WooFaultPlan())
        self.consumer_key = consumer_key
        self.consumer_secret = consumer_secret
        self.site_url = (site_url or self.url).rstrip("/") + "/"
        try:
            self.tz: tzinfo = ZoneInfo(timezone)
        except (ZoneInfoNotFoundError, ValueError):
            logger.warning("unknown timezone %r, using UTC", timezone)
            self.tz = UTC
        self.delivery_timeout = delivery_timeout
        self._first_order_id = first_order_id
        self._rng = random.Random(seed)
        self._lock = threading.RLock()
        self._catalog: list[dict[str, Any]] = normalize_catalog(catalog or DEFAULT_CATALOG)
        self._stock: dict[str, int | None] = {}
        self._orders: dict[int, WooOrder] = {}
        self._webhooks: dict[int, Webhook] = {}
        self._next_order_id = first_order_id
        self._next_item_id = 1
        self._next_meta_id = 1
        self._next_webhook_id = 1
        self._reset_stock()

        self._deliveries_lock = threading.Lock()
        self._deliveries: list[dict[str, Any]] = []
        self._delivery_queue: queue.Queue[DeliveryJob] = queue.Queue()
        self._delivery_thread: threading.Thread | None = None
        self._inflight = 0

        self._rate = max(0.0, float(rate))
        self._rate_wake = threading.Event()
        self._rate_thread: threading.Thread | None = None

        p = REST_PREFIX
        self.route("GET", rf"{p}/orders/?", self._authed(self.list_orders))
        self.route("POST", rf"{p}/orders/?", self._authed(self.create_order))
        order = rf"{p}/orders/(?P<order_id>\d+)/?"
        self.route("GET", order, self._authed(self.get_order))
        for method in ("PUT", "PATCH", "POST"):
            self.route(method, order, self._authed(self.update_order))
        self.route("DELETE", order, self._authed(self.delete_order))
        self.route("GET", rf"{p}/products/?", self._authed(self.list_products))
        self.route("GET", rf"{p}/products/(?P<product_id>\d+)/?", self._authed(self.get_product))
        self.route(
            "GET",
            rf"{p}/products/(?P<product_id>\d+)/variations/?",
            self._authed(self.list_variations),
        )
        self.route("GET", rf"{p}/webhooks/?", self._authed(self.list_webhooks))
        self.route("POST", rf"{p}/webhooks/?", self._authed(self.create_webhook))
        webhook = rf"{p}/webhooks/(?P<webhook_id>\d+)/?"
        self.route("GET", webhook, self._authed(self.get_webhook))
        for method in ("PUT", "PATCH", "POST"):
            self.route(method, webhook, self._authed(self.update_webhook))
        self.route("DELETE", webhook, self._authed(self.delete_webhook))

        self.route("GET", r"/_sim/state", self.sim_state)
        self.route("GET", r"/_sim/deliveries", self.sim_deliveries)
        self.route("GET", r"/_sim/catalog", self.sim_get_catalog)
        self.route("POST", r"/_sim/catalog", self.sim_set_catalog)
        self.route("POST", r"/_sim/orders", self.sim_generate_orders)
        self.route("GET", r"/_sim/rate", self.sim_get_rate)
        self.route("POST", r"/_sim/rate", self.sim_set_rate)

    # -- lifecycle ------------------------------------------------------------------------

    def on_start(self) -> None:
        self._delivery_thread = threading.Thread(
            target=self._delivery_loop, name="woo-webhook-delivery", daemon=True
        )
        self._delivery_thread.start()
        self._rate_thread = threading.Thread(
            target=self._rate_loop, name="woo-order-generator", daemon=True
        )
        self._rate_thread.start()

    def on_stop(self) -> None:
        self._rate_wake.set()
        for thread in (self._rate_thread, self._delivery_thread):
            if thread is not None and thread is not threading.current_thread():
                thread.join(timeout=self.delivery_timeout + 1)

    def reset_data(self) -> None:
        with self._lock:
            self._orders.clear()
            self._webhooks.clear()
            self._next_order_id = self._first_order_id
            self._next_item_id = 1
            self._next_meta_id = 1
            self._next_webhook_id = 1
            self._reset_stock()
        with self._deliveries_lock:
            self._deliveries.clear()
        while True:
            try:
                self._delivery_queue.get_nowait()
            except queue.Empty:
                break

    def _reset_stock(self) -> None:
        self._stock = {item["sku"]: item["stock_quantity"] for item in self._catalog}

    # -- helpers --------------------------------------------------------------------------

    def _authed(self, handler: Any) -> Any:
        def wrapper(request: Request) -> Response:
            if not self._authorized(request):
                return wc_error(
                    "woocommerce_rest_cannot_view", "Sorry, you cannot list resources.", 401
                )
            return handler(request)

        return wrapper

    def _authorized(self, request: Request) -> bool:
        key = secret = None
        header = request.header("Authorization") or ""
        scheme, _, encoded = header.partition(" ")
        if scheme.lower() == "basic" and encoded:
            try:
                decoded = base64.b64decode(encoded.strip(), validate=True).decode("utf-8")
            except (binascii.Error, UnicodeDecodeError):
                return False
            key, _, secret = decoded.partition(":")
        else:
            key, secret = request.arg("consumer_key"), request.arg("consumer_secret")
        if not key or secret is None:
            return False
        return hmac.compare_digest(
            key.encode(), self.consumer_key.encode()
        ) and hmac.compare_digest(secret.encode(), self.consumer_secret.encode())

    def error_response(self, request: Request, status: int, message: str) -> Response:
        if not request.path.startswith("/wp-json/"):
            return super().error_response(request, status, message)
        if status in (404, 405):
            return wc_error(
                "rest_no_route", "No route was found matching the URL and request method.", 404
            )
        if status == 429:
            return wc_error("too_many_requests", "Too many requests. Please slow down.", 429)
        return wc_error(
            "internal_server_error",
            "<p>There has been a critical error on this website.</p>",
            status,
        )

    # -- /_sim ----------------------------------------------------------------------------

    def sim_state(self, request: Request) -> Response:
        with self._lock:
            orders_by_status = Counter(o.data["status"] for o in self._orders.values())
            webhooks_by_status = Counter(w.status for w in self._webhooks.values())
            order_count, webhook_count = len(self._orders), len(self._webhooks)
        deliveries = self.deliveries()
        return json_response(
            {
                "orders": order_count,
                "orders_by_status": dict(orders_by_status),
                "webhooks": webhook_count,
                "webhooks_by_status": dict(webhooks_by_status),
                "deliveries": len(deliveries),
                "deliveries_failed": sum(1 for d in deliveries if not d["success"]),
                "pending_deliveries": self.pending_deliveries(),
                "rate": self._rate,
                "requests": self.request_count,
                "faults": self.faults.snapshot(),
            }
        )

    def sim_deliveries(self, request: Request) -> Response:
        deliveries = self.deliveries()
        webhook_id = request.arg("webhook_id")
        if webhook_id:
            deliveries = [d for d in deliveries if str(d["webhook_id"]) == webhook_id]
        return json_response(deliveries)

    def sim_get_catalog(self, request: Request) -> Response:
        with self._lock:
            return json_response(json.loads(json.dumps(self._catalog)))

    def sim_set_catalog(self, request: Request) -> Response:
        try:
            catalog = normalize_catalog(request.json())
        except ValueError as exc:
            return json_response({"error": str(exc)}, 400)
        with self._lock:
            self._catalog = catalog
            self._reset_stock()
        return json_response({"items": len(catalog)})

    def sim_generate_orders(self, request: Request) -> Response:
        try:
            payload = request.json() if request.body else {}
        except ValueError:
            return json_response({"error": "invalid JSON body"}, 400)
        count = payload.get("count", 1) if isinstance(payload, dict) else None
        if isinstance(count, bool) or not isinstance(count, int) or not 1 <= count <= 1000:
            return json_response({"error": "count must be an integer between 1 and 1000"}, 400)
        status = payload.get("status", "processing")
        if status not in ORDER_STATUSES:
            return json_response({"error": f"status must be one of {list(ORDER_STATUSES)}"}, 400)
        ids = self.generate_orders(count, status=status)
        return json_response({"created": ids, "count": len(ids)}, 201)

    def sim_get_rate(self, request: Request) -> Response:
        return json_response({"rate": self._rate})

    def sim_set_rate(self, request: Request) -> Response:
        try:
            payload = request.json()
        except ValueError:
            return json_response({"error": "invalid JSON body"}, 400)
        rate = payload.get("rate") if isinstance(payload, dict) else None
        if isinstance(rate, bool) or not isinstance(rate, int | float) or rate < 0:
            return json_response({"error": "rate must be a number >= 0 (orders/second)"}, 400)
        self.set_rate(rate)
        return json_response({"rate": self._rate})
