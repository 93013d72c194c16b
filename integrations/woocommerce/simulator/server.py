"""WooCommerce simulator: REST API v3 (``/wp-json/wc/v3/``) and Hookshot webhook deliveries.

Speaks the real WooCommerce wire formats (order JSON, pagination headers, error bodies, webhook
headers and HMAC signature) and authenticates the way a shop does (auth.py), so that the Control
Tower adapter and WooCommerce's own Python client cannot tell it from a shop. This module wires
the app; each resource lives in its own module. See docs/simulators.md.
"""

from __future__ import annotations

import json
import logging
import queue
import random
import threading
from collections import Counter
from collections.abc import Callable
from datetime import UTC, tzinfo
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from integrations.simkit import JsonHTTPServer, Request, Response, json_response
from integrations.woocommerce.simulator.auth import PERMISSION_ERRORS, ApiKey, Authenticator
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
from integrations.woocommerce.simulator.notes import NotesMixin
from integrations.woocommerce.simulator.orders import OrdersMixin
from integrations.woocommerce.simulator.products import ProductsMixin, WooProduct
from integrations.woocommerce.simulator.refunds import RefundsMixin
from integrations.woocommerce.simulator.tls import self_signed_pair, server_context
from integrations.woocommerce.simulator.variations import VariationsMixin
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
    "WooProduct",
    "delivery_id_for",
    "normalize_catalog",
    "random_customer",
    "webhook_signature",
]

logger = logging.getLogger(__name__)


class WooCommerceSimulator(
    OrdersMixin,
    RefundsMixin,
    NotesMixin,
    ProductsMixin,
    VariationsMixin,
    WebhooksMixin,
    GeneratorMixin,
    RestHelpers,
    JsonHTTPServer,
):
    """In-memory WooCommerce shop speaking REST API v3 and delivering webhooks.

    ``tls=True`` serves https with a self-signed certificate made at start (its path is
    ``tls_cert``, for clients to trust), or with ``tls_cert``/``tls_key`` given. Over https
    WooCommerce also accepts Basic auth and ``consumer_key``/``consumer_secret`` parameters.
    """

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
        tls: bool = False,
        tls_cert: str | Path | None = None,
        tls_key: str | Path | None = None,
        key_permissions: str = "read_write",
    ) -> None:
        super().__init__(host=host, port=port, fault_plan=WooFaultPlan())
        self.tls = bool(tls or tls_cert)
        self.tls_cert: Path | None = None
        if self.tls:
            if tls_cert and tls_key:
                cert, key = Path(tls_cert), Path(tls_key)
            else:
                cert, key = self_signed_pair(host)
            self.tls_cert = cert
            self._httpd.socket = server_context(cert, key).wrap_socket(
                self._httpd.socket, server_side=True
            )
        self.consumer_key = consumer_key
        self.consumer_secret = consumer_secret
        self.site_url = (site_url or self.url).rstrip("/") + "/"
        self.api_key = ApiKey(consumer_key, consumer_secret, permissions=key_permissions)
        self.authenticator = Authenticator(self.api_key, home_url=self.site_url, is_ssl=self.tls)
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
        self._orders: dict[int, WooOrder] = {}
        self._webhooks: dict[int, Webhook] = {}
        self._next_order_id = first_order_id
        self._next_item_id = 1
        self._next_meta_id = 1
        self._next_webhook_id = 1
        self._next_note_id = 1
        self._init_stock_changes()
        self._load_products(self._catalog)

        self._deliveries_lock = threading.Lock()
        self._deliveries: list[dict[str, Any]] = []
        self._delivery_queue: queue.Queue[DeliveryJob] = queue.Queue()
        self._delivery_thread: threading.Thread | None = None
        self._inflight = 0

        self._rate = max(0.0, float(rate))
        self._rate_wake = threading.Event()
        self._rate_thread: threading.Thread | None = None
        self._register_routes()

    @property
    def url(self) -> str:
        base = super().url
        return base.replace("http://", "https://", 1) if getattr(self, "tls", False) else base

    def _register_routes(self) -> None:
        p = REST_PREFIX
        writes = ("PUT", "PATCH", "POST")
        rest = self._rest
        rest("GET", rf"{p}/orders/?", self.list_orders, "list")
        rest("POST", rf"{p}/orders/?", self.create_order, "create")
        order = rf"{p}/orders/(?P<order_id>\d+)"
        rest("GET", rf"{order}/?", self.get_order, "view")
        for method in writes:
            rest(method, rf"{order}/?", self.update_order, "edit")
        rest("DELETE", rf"{order}/?", self.delete_order, "delete")
        rest("GET", rf"{order}/refunds/?", self.list_refunds, "list")
        rest("POST", rf"{order}/refunds/?", self.create_refund, "create")
        rest("GET", rf"{order}/refunds/(?P<refund_id>\d+)/?", self.get_refund, "view")
        rest("DELETE", rf"{order}/refunds/(?P<refund_id>\d+)/?", self.delete_refund, "delete")
        rest("GET", rf"{order}/notes/?", self.list_notes, "list")
        rest("POST", rf"{order}/notes/?", self.create_note, "create")
        rest("GET", rf"{order}/notes/(?P<note_id>\d+)/?", self.get_note, "view")
        rest("DELETE", rf"{order}/notes/(?P<note_id>\d+)/?", self.delete_note, "delete")

        rest("GET", rf"{p}/products/?", self.list_products, "list")
        rest("POST", rf"{p}/products/?", self.create_product, "create")
        for method in writes:
            rest(method, rf"{p}/products/batch/?", self.batch_products, "batch")
        product = rf"{p}/products/(?P<product_id>\d+)"
        rest("GET", rf"{product}/?", self.get_product, "view")
        for method in writes:
            rest(method, rf"{product}/?", self.update_product, "edit")
        rest("DELETE", rf"{product}/?", self.delete_product, "delete")
        rest("GET", rf"{product}/variations/?", self.list_variations, "list")
        rest("POST", rf"{product}/variations/?", self.create_variation, "create")
        for method in writes:
            rest(method, rf"{product}/variations/batch/?", self.batch_variations, "batch")
        variation = rf"{product}/variations/(?P<variation_id>\d+)/?"
        rest("GET", variation, self.get_variation, "view")
        for method in writes:
            rest(method, variation, self.update_variation, "edit")
        rest("DELETE", variation, self.delete_variation, "delete")

        rest("GET", rf"{p}/webhooks/?", self.list_webhooks, "list")
        rest("POST", rf"{p}/webhooks/?", self.create_webhook, "create")
        webhook = rf"{p}/webhooks/(?P<webhook_id>\d+)/?"
        rest("GET", webhook, self.get_webhook, "view")
        for method in writes:
            rest(method, webhook, self.update_webhook, "edit")
        rest("DELETE", webhook, self.delete_webhook, "delete")

        self.route("GET", r"/_sim/state", self.sim_state)
        self.route("GET", r"/_sim/deliveries", self.sim_deliveries)
        self.route("GET", r"/_sim/catalog", self.sim_get_catalog)
        self.route("POST", r"/_sim/catalog", self.sim_set_catalog)
        self.route("POST", r"/_sim/orders", self.sim_generate_orders)
        self.route("POST", r"/_sim/orders/(?P<order_id>\d+)/restore", self.sim_restore_order)
        self.route("POST", r"/_sim/products/(?P<product_id>\d+)/restore", self.sim_restore_product)
        self.route("GET", r"/_sim/stock-changes", self.sim_stock_changes)
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
            self._next_note_id = 1
            self._load_products(self._catalog)
            self.api_key.nonces.clear()
        with self._deliveries_lock:
            self._deliveries.clear()
        while True:
            try:
                self._delivery_queue.get_nowait()
            except queue.Empty:
                break

    # -- authentication and errors --------------------------------------------------------

    def _rest(
        self, method: str, pattern: str, handler: Callable[[Request], Response], action: str
    ) -> None:
        code, message = PERMISSION_ERRORS[action]

        def authed(request: Request) -> Response:
            ok, error = self.authenticator.authenticate(request)
            if error is not None:
                return wc_error(error.code, error.message, error.status)
            if not ok:
                return wc_error(code, message, 401)
            return handler(request)

        self.route(method, pattern, authed)

    def error_response(self, request: Request, status: int, message: str) -> Response:
        if not request.path.startswith("/wp-json/"):
            return super().error_response(request, status, message)
        if status in (404, 405):
            _, error = self.authenticator.authenticate(request)
            if error is not None:
                return wc_error(error.code, error.message, error.status)
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
            product_count = len(self._products)
        deliveries = self.deliveries()
        return json_response(
            {
                "orders": order_count,
                "orders_by_status": dict(orders_by_status),
                "products": product_count,
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
            self._load_products(catalog)
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

    def sim_restore_order(self, request: Request) -> Response:
        body = self.restore_order(int(request.params["order_id"]))
        if body is None:
            return json_response({"error": "no trashed order with that id"}, 404)
        return json_response(body)

    def sim_restore_product(self, request: Request) -> Response:
        body = self.restore_product(int(request.params["product_id"]))
        if body is None:
            return json_response({"error": "no trashed product with that id"}, 404)
        return json_response(body)
