"""WooCommerce simulator: REST API v3 (``/wp-json/wc/v3/``) and Hookshot webhook deliveries.

Speaks the real WooCommerce wire formats (order JSON, pagination headers, error bodies, webhook
headers and HMAC signature) so that the Control Tower adapter cannot tell it from a shop.
See docs/simulators.md.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import json
import logging
import math
import queue
import random
import re
import secrets
import string
import threading
import time
import unicodedata
from collections import Counter
from dataclasses import dataclass, field
from datetime import UTC, datetime, tzinfo
from decimal import ROUND_HALF_UP, Decimal, InvalidOperation
from typing import Any
from urllib.parse import urlencode, urlsplit
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import httpx

from integrations.simkit import (
    FaultPlan,
    JsonHTTPServer,
    Request,
    Response,
    iso_utc,
    json_response,
    monotonic_ms,
)

logger = logging.getLogger(__name__)

WC_VERSION = "9.4.0"
WP_VERSION = "6.7"
HOOKSHOT_USER_AGENT = f"WooCommerce/{WC_VERSION} Hookshot (WordPress/{WP_VERSION})"
REST_PREFIX = "/wp-json/wc/v3"
VAT_RATE = Decimal("0.21")
VAT_PERCENT = 21
FLAT_SHIPPING = Decimal("4.95")
CENT = Decimal("0.01")
ORDER_STATUSES = (
    "pending",
    "processing",
    "on-hold",
    "completed",
    "cancelled",
    "refunded",
    "failed",
    "checkout-draft",
    "trash",
)
STOCK_REDUCING_STATUSES = ("processing", "completed", "on-hold")
WEBHOOK_STATUSES = ("active", "paused", "disabled")
WEBHOOK_RESOURCES = ("coupon", "customer", "order", "product")
WEBHOOK_EVENTS = ("created", "updated", "deleted", "restored")
WEBHOOK_HOOKS = {
    "order.created": ["woocommerce_new_order"],
    "order.updated": ["woocommerce_update_order", "woocommerce_order_refunded"],
    "order.deleted": ["wp_trash_post"],
    "order.restored": ["untrashed_post"],
}
MAX_PER_PAGE = 100
PER_PAGE_MESSAGE = f"per_page must be between 1 (inclusive) and {MAX_PER_PAGE} (inclusive)"


def money(value: Decimal) -> str:
    return str(value.quantize(CENT, rounding=ROUND_HALF_UP))


def now_s() -> datetime:
    """Current UTC time truncated to whole seconds (WordPress stores second resolution)."""
    return datetime.now(UTC).replace(microsecond=0)


def wc_error(code: str, message: str, status: int, **data: Any) -> Response:
    return json_response(
        {"code": code, "message": message, "data": {"status": status, **data}}, status
    )


def invalid_param(params: dict[str, str]) -> Response:
    names = ", ".join(params)
    return json_response(
        {
            "code": "rest_invalid_param",
            "message": f"Invalid parameter(s): {names}",
            "data": {
                "status": 400,
                "params": params,
                "details": {
                    name: {"code": "rest_invalid_param", "message": msg, "data": None}
                    for name, msg in params.items()
                },
            },
        },
        400,
    )


def php_json(payload: Any) -> bytes:
    """Encode like PHP's ``wp_json_encode``: compact, ASCII-only, escaped slashes."""
    return json.dumps(payload, separators=(",", ":")).replace("/", "\\/").encode("ascii")


def webhook_signature(secret: str, body: bytes) -> str:
    """``X-WC-Webhook-Signature``: base64(HMAC-SHA256(secret, raw body))."""
    digest = hmac.new(secret.encode("utf-8"), body, hashlib.sha256).digest()
    return base64.b64encode(digest).decode("ascii")


def delivery_id_for(webhook_id: int, epoch_second: int) -> str:
    """Like WooCommerce: a hash of webhook id + current second (so NOT unique per delivery)."""
    return hashlib.md5(f"{webhook_id}{epoch_second}".encode(), usedforsecurity=False).hexdigest()


class WooFaultPlan(FaultPlan):
    """REST-side faults plus webhook delivery faults."""

    extra_defaults = {"duplicate_deliveries": 0, "shuffle_deliveries": False}


@dataclass
class WooOrder:
    id: int
    data: dict[str, Any]
    created: datetime
    modified: datetime
    paid: datetime | None = None
    completed: datetime | None = None
    stock_reduced: bool = False


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


class WooCommerceSimulator(JsonHTTPServer):
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

    def _local(self, moment: datetime | None) -> str | None:
        if moment is None:
            return None
        return moment.astimezone(self.tz).replace(tzinfo=None).isoformat(timespec="seconds")

    @staticmethod
    def _gmt(moment: datetime | None) -> str | None:
        if moment is None:
            return None
        return moment.astimezone(UTC).replace(tzinfo=None).isoformat(timespec="seconds")

    def _rest_url(self, path: str) -> str:
        return f"{self.site_url}wp-json/wc/v3/{path.lstrip('/')}"

    def _item_id(self) -> int:
        value = self._next_item_id
        self._next_item_id += 1
        return value

    def _meta_id(self) -> int:
        value = self._next_meta_id
        self._next_meta_id += 1
        return value

    @staticmethod
    def _parse_json_object(request: Request) -> dict[str, Any] | Response:
        try:
            payload = request.json() if request.body else {}
        except (ValueError, UnicodeDecodeError):
            return wc_error("rest_invalid_json", "Invalid JSON body passed.", 400)
        if not isinstance(payload, dict):
            return wc_error("rest_invalid_json", "Invalid JSON body passed.", 400)
        return payload

    def _paginate(
        self, request: Request, items: list[Any], path: str
    ) -> tuple[list[Any], dict[str, str]] | Response:
        errors: dict[str, str] = {}
        page = self._int_param(request, "page", 1, errors, minimum=1)
        per_page = self._int_param(request, "per_page", 10, errors, minimum=1)
        if "per_page" not in errors and per_page > MAX_PER_PAGE:
            errors["per_page"] = PER_PAGE_MESSAGE
        if errors:
            return invalid_param(errors)
        total = len(items)
        total_pages = math.ceil(total / per_page) if total else 0
        start = (page - 1) * per_page
        headers = {"X-WP-Total": str(total), "X-WP-TotalPages": str(total_pages)}
        links = []
        base_query = {
            k: v[-1]
            for k, v in request.query.items()
            if k not in ("page", "consumer_key", "consumer_secret")
        }
        if page > 1:
            prev_query = urlencode({**base_query, "page": min(page - 1, max(total_pages, 1))})
            links.append(f'<{self._rest_url(path)}?{prev_query}>; rel="prev"')
        if page < total_pages:
            next_query = urlencode({**base_query, "page": page + 1})
            links.append(f'<{self._rest_url(path)}?{next_query}>; rel="next"')
        if links:
            headers["Link"] = ", ".join(links)
        return items[start : start + per_page], headers

    @staticmethod
    def _int_param(
        request: Request, name: str, default: int, errors: dict[str, str], minimum: int
    ) -> int:
        raw = request.arg(name)
        if raw is None or raw == "":
            return default
        try:
            value = int(raw)
        except ValueError:
            errors[name] = f"{name} is not of type integer."
            return default
        if value < minimum:
            if name == "per_page":
                errors[name] = PER_PAGE_MESSAGE
            else:
                errors[name] = f"{name} must be greater than or equal to {minimum}"
        return value

    def _date_param(
        self, request: Request, name: str, gmt: bool, errors: dict[str, str]
    ) -> datetime | None:
        raw = request.arg(name)
        if not raw:
            return None
        try:
            value = datetime.fromisoformat(raw.replace(" ", "T"))
        except ValueError:
            errors[name] = "Invalid date."
            return None
        if value.tzinfo is None:
            value = value.replace(tzinfo=UTC if gmt else self.tz)
        return value

    # -- orders ---------------------------------------------------------------------------

    def render_order(self, order: WooOrder) -> dict[str, Any]:
        d = json.loads(json.dumps(order.data))
        status = d["status"]
        total = Decimal(d["total"])
        return {
            "id": order.id,
            "parent_id": d["parent_id"],
            "status": status,
            "currency": d["currency"],
            "version": d["version"],
            "prices_include_tax": False,
            "date_created": self._local(order.created),
            "date_modified": self._local(order.modified),
            "discount_total": d["discount_total"],
            "discount_tax": d["discount_tax"],
            "shipping_total": d["shipping_total"],
            "shipping_tax": d["shipping_tax"],
            "cart_tax": d["cart_tax"],
            "total": d["total"],
            "total_tax": d["total_tax"],
            "customer_id": d["customer_id"],
            "order_key": d["order_key"],
            "billing": d["billing"],
            "shipping": d["shipping"],
            "payment_method": d["payment_method"],
            "payment_method_title": d["payment_method_title"],
            "transaction_id": d["transaction_id"],
            "customer_ip_address": d["customer_ip_address"],
            "customer_user_agent": d["customer_user_agent"],
            "created_via": d["created_via"],
            "customer_note": d["customer_note"],
            "date_completed": self._local(order.completed),
            "date_paid": self._local(order.paid),
            "cart_hash": d["cart_hash"],
            "number": str(order.id),
            "meta_data": d["meta_data"],
            "line_items": d["line_items"],
            "tax_lines": d["tax_lines"],
            "shipping_lines": d["shipping_lines"],
            "fee_lines": d["fee_lines"],
            "coupon_lines": d["coupon_lines"],
            "refunds": d["refunds"],
            "payment_url": (
                f"{self.site_url}checkout/order-pay/{order.id}/"
                f"?pay_for_order=true&key={d['order_key']}"
            ),
            "is_editable": status in ("pending", "on-hold", "auto-draft", "checkout-draft"),
            "needs_payment": status in ("pending", "failed") and total > 0,
            "needs_processing": True,
            "date_created_gmt": self._gmt(order.created),
            "date_modified_gmt": self._gmt(order.modified),
            "date_completed_gmt": self._gmt(order.completed),
            "date_paid_gmt": self._gmt(order.paid),
            "currency_symbol": "€" if d["currency"] == "EUR" else d["currency"],
            "_links": {
                "self": [{"href": self._rest_url(f"orders/{order.id}")}],
                "collection": [{"href": self._rest_url("orders")}],
            },
        }

    def get_order_json(self, order_id: int) -> dict[str, Any] | None:
        with self._lock:
            order = self._orders.get(order_id)
            return self.render_order(order) if order is not None else None

    def _catalog_lookup(self, line: dict[str, Any]) -> dict[str, Any] | None:
        """Resolve a REST line item (``sku`` or ``product_id`` [+ ``variation_id``])."""
        sku = line.get("sku")
        product_id = line.get("product_id") or 0
        variation_id = line.get("variation_id") or 0
        for item in self._catalog:
            if sku:
                if item["sku"] == sku:
                    return item
            elif variation_id:
                if item["variation_id"] == variation_id and product_id in (0, item["product_id"]):
                    return item
            elif product_id and product_id == (item["variation_id"] or item["product_id"]):
                return item
        return None

    def _build_line_item(self, item: dict[str, Any], quantity: int) -> dict[str, Any]:
        price = Decimal(item["price"])
        subtotal = (price * quantity).quantize(CENT, rounding=ROUND_HALF_UP)
        tax = money(subtotal * VAT_RATE)
        meta = [
            {
                "id": self._meta_id(),
                "key": f"pa_{key.lower()}",
                "value": value.lower(),
                "display_key": key,
                "display_value": value,
            }
            for key, value in item["attributes"].items()
        ]
        return {
            "id": self._item_id(),
            "name": item["name"],
            "product_id": item["product_id"],
            "variation_id": item["variation_id"],
            "quantity": quantity,
            "tax_class": "",
            "subtotal": money(subtotal),
            "subtotal_tax": tax,
            "total": money(subtotal),
            "total_tax": tax,
            "taxes": [{"id": 1, "total": tax, "subtotal": tax}],
            "meta_data": meta,
            "sku": item["sku"],
            "price": float(subtotal / quantity),
            "image": {"id": "", "src": ""},
            "parent_name": item["parent_name"],
        }

    def _recalculate(self, data: dict[str, Any]) -> None:
        cart_total = sum((Decimal(li["total"]) for li in data["line_items"]), Decimal("0"))
        cart_tax = sum((Decimal(li["total_tax"]) for li in data["line_items"]), Decimal("0"))
        shipping_total = sum((Decimal(sl["total"]) for sl in data["shipping_lines"]), Decimal("0"))
        shipping_tax = sum(
            (Decimal(sl["total_tax"]) for sl in data["shipping_lines"]), Decimal("0")
        )
        total_tax = cart_tax + shipping_tax
        data["discount_total"] = "0.00"
        data["discount_tax"] = "0.00"
        data["shipping_total"] = money(shipping_total)
        data["shipping_tax"] = money(shipping_tax)
        data["cart_tax"] = money(cart_tax)
        data["total_tax"] = money(total_tax)
        data["total"] = money(cart_total + shipping_total + total_tax)
        if total_tax:
            data["tax_lines"] = [
                {
                    "id": data["tax_lines"][0]["id"] if data["tax_lines"] else self._item_id(),
                    "rate_code": "NL-VAT-1",
                    "rate_id": 1,
                    "label": "VAT",
                    "compound": False,
                    "tax_total": money(cart_tax),
                    "shipping_tax_total": money(shipping_tax),
                    "rate_percent": VAT_PERCENT,
                    "meta_data": [],
                }
            ]
        else:
            data["tax_lines"] = []

    def _shipping_line(self, method_id: str, title: str, amount: Decimal) -> dict[str, Any]:
        tax = money(amount * VAT_RATE)
        return {
            "id": self._item_id(),
            "method_title": title,
            "method_id": method_id,
            "instance_id": "1",
            "total": money(amount),
            "total_tax": tax,
            "taxes": [{"id": 1, "total": tax, "subtotal": ""}],
            "meta_data": [],
        }

    def _apply_status(self, order: WooOrder, status: str, moment: datetime) -> None:
        order.data["status"] = status
        if status in ("processing", "completed") and order.paid is None:
            order.paid = moment
        if status == "completed" and order.completed is None:
            order.completed = moment
        reduces = status in STOCK_REDUCING_STATUSES
        if reduces and not order.stock_reduced:
            self._adjust_stock(order, -1)
            order.stock_reduced = True
        elif status in ("cancelled", "refunded", "failed") and order.stock_reduced:
            self._adjust_stock(order, +1)
            order.stock_reduced = False

    def _adjust_stock(self, order: WooOrder, sign: int) -> None:
        for line in order.data["line_items"]:
            current = self._stock.get(line["sku"])
            if current is not None:
                self._stock[line["sku"]] = current + sign * int(line["quantity"])

    def _validate_line_specs(self, raw_lines: Any) -> list[tuple[dict[str, Any], int]] | Response:
        if raw_lines is None:
            return []
        if not isinstance(raw_lines, list):
            return invalid_param({"line_items": "line_items is not of type array."})
        resolved: list[tuple[dict[str, Any], int]] = []
        for index, line in enumerate(raw_lines):
            if not isinstance(line, dict):
                return invalid_param({"line_items": f"line_items[{index}] is not of type object."})
            quantity = line.get("quantity", 1)
            if isinstance(quantity, bool) or not isinstance(quantity, int) or quantity <= 0:
                return wc_error(
                    "woocommerce_rest_invalid_product_quantity",
                    "Product quantity must be a positive float.",
                    400,
                )
            item = self._catalog_lookup(line)
            if item is None:
                return wc_error(
                    "woocommerce_rest_invalid_product_id",
                    "Product ID or SKU provided is invalid.",
                    400,
                )
            resolved.append((item, quantity))
        return resolved

    @staticmethod
    def _address(raw: Any, with_email: bool) -> dict[str, str]:
        keys = [
            "first_name",
            "last_name",
            "company",
            "address_1",
            "address_2",
            "city",
            "state",
            "postcode",
            "country",
        ]
        keys += ["email", "phone"] if with_email else ["phone"]
        raw = raw if isinstance(raw, dict) else {}
        return {key: str(raw.get(key) or "") for key in keys}

    def _create_order_locked(
        self,
        lines: list[tuple[dict[str, Any], int]],
        billing: dict[str, str],
        shipping: dict[str, str],
        status: str,
        created_via: str,
        extra: dict[str, Any],
        shipping_lines: list[dict[str, Any]] | None = None,
    ) -> WooOrder:
        moment = now_s()
        order_id = self._next_order_id
        self._next_order_id += 1
        line_items = [self._build_line_item(item, qty) for item, qty in lines]
        if shipping_lines is None:
            shipping_lines = (
                [self._shipping_line("flat_rate", "Flat rate", FLAT_SHIPPING)] if lines else []
            )
        meta = [
            {"id": self._meta_id(), "key": m["key"], "value": m.get("value")}
            for m in extra.get("meta_data", [])
        ]
        data: dict[str, Any] = {
            "parent_id": 0,
            "status": "pending",
            "currency": extra.get("currency", "EUR"),
            "version": WC_VERSION,
            "customer_id": extra.get("customer_id", 0),
            "order_key": "wc_order_"
            + "".join(secrets.choice(string.ascii_letters + string.digits) for _ in range(13)),
            "billing": billing,
            "shipping": shipping,
            "payment_method": extra.get("payment_method", ""),
            "payment_method_title": extra.get("payment_method_title", ""),
            "transaction_id": extra.get("transaction_id", ""),
            "customer_ip_address": extra.get("customer_ip_address", ""),
            "customer_user_agent": extra.get("customer_user_agent", ""),
            "created_via": created_via,
            "customer_note": extra.get("customer_note", ""),
            "cart_hash": extra.get("cart_hash", ""),
            "meta_data": meta,
            "line_items": line_items,
            "tax_lines": [],
            "shipping_lines": shipping_lines,
            "fee_lines": [],
            "coupon_lines": [],
            "refunds": [],
        }
        self._recalculate(data)
        order = WooOrder(id=order_id, data=data, created=moment, modified=moment)
        self._apply_status(order, status, moment)
        if extra.get("set_paid") and order.paid is None:
            order.paid = moment
        self._orders[order_id] = order
        return order

    def create_order(self, request: Request) -> Response:
        payload = self._parse_json_object(request)
        if isinstance(payload, Response):
            return payload
        status = payload.get("status")
        set_paid = payload.get("set_paid") is True
        if status is None:
            status = "processing" if set_paid else "pending"
        if status not in ORDER_STATUSES:
            return invalid_param({"status": f"status is not one of {', '.join(ORDER_STATUSES)}."})
        billing = self._address(payload.get("billing"), with_email=True)
        if billing["email"] and "@" not in billing["email"]:
            return invalid_param({"billing": "Invalid email address."})
        shipping = (
            self._address(payload.get("shipping"), with_email=False)
            if isinstance(payload.get("shipping"), dict)
            else {k: v for k, v in billing.items() if k != "email"}
        )
        customer_id = payload.get("customer_id") or 0
        if isinstance(customer_id, bool) or not isinstance(customer_id, int):
            return invalid_param({"customer_id": "customer_id is not of type integer."})
        extra: dict[str, Any] = {
            "set_paid": set_paid,
            "currency": str(payload.get("currency") or "EUR"),
            "customer_id": customer_id,
            "payment_method": str(payload.get("payment_method") or ""),
            "payment_method_title": str(payload.get("payment_method_title") or ""),
            "transaction_id": str(payload.get("transaction_id") or ""),
            "customer_note": str(payload.get("customer_note") or ""),
            "meta_data": [
                m for m in payload.get("meta_data") or [] if isinstance(m, dict) and "key" in m
            ],
        }
        with self._lock:
            lines = self._validate_line_specs(payload.get("line_items"))
            if isinstance(lines, Response):
                return lines
            shipping_lines = None
            raw_shipping = payload.get("shipping_lines")
            if isinstance(raw_shipping, list):
                shipping_lines = []
                for sl in raw_shipping:
                    try:
                        amount = Decimal(str(sl.get("total", "0")))
                    except (InvalidOperation, AttributeError):
                        return invalid_param({"shipping_lines": "total is not a valid amount."})
                    shipping_lines.append(
                        self._shipping_line(
                            str(sl.get("method_id") or "flat_rate"),
                            str(sl.get("method_title") or "Flat rate"),
                            amount,
                        )
                    )
            order = self._create_order_locked(
                lines, billing, shipping, status, "rest-api", extra, shipping_lines
            )
            body = self.render_order(order)
        self._fire("order.created", order.id)
        logger.info("REST created order %s (%s, total %s)", order.id, status, body["total"])
        return json_response(body, 201, {"Location": self._rest_url(f"orders/{order.id}")})

    def list_orders(self, request: Request) -> Response:
        errors: dict[str, str] = {}
        gmt = (request.arg("dates_are_gmt") or "").lower() in ("1", "true", "yes")
        filters = {
            name: self._date_param(request, name, gmt, errors)
            for name in ("after", "before", "modified_after", "modified_before")
        }
        statuses: list[str] = []
        for raw in request.query.get("status", []) + request.query.get("status[]", []):
            statuses.extend(s.strip() for s in raw.split(",") if s.strip())
        bad = [s for s in statuses if s != "any" and s not in ORDER_STATUSES]
        if bad:
            errors["status"] = f"status[0] is not one of any, {', '.join(ORDER_STATUSES)}."
        order_dir = (request.arg("order") or "desc").lower()
        if order_dir not in ("asc", "desc"):
            errors["order"] = "order is not one of asc and desc."
        orderby = (request.arg("orderby") or "date").lower()
        if orderby not in ("date", "id", "include", "title", "slug", "modified"):
            errors["orderby"] = (
                "orderby is not one of date, id, include, title, slug, and modified."
            )
        customer = request.arg("customer")
        if customer is not None and not customer.isdigit():
            errors["customer"] = "customer is not of type integer."
        if errors:
            return invalid_param(errors)
        wanted = set(statuses) - {"any"}
        with self._lock:
            orders = list(self._orders.values())
            selected = []
            for order in orders:
                status = order.data["status"]
                if wanted and status not in wanted:
                    continue
                if not wanted and status == "trash":
                    continue
                if customer is not None and order.data["customer_id"] != int(customer):
                    continue
                if filters["after"] and not order.created > filters["after"]:
                    continue
                if filters["before"] and not order.created < filters["before"]:
                    continue
                if filters["modified_after"] and not order.modified > filters["modified_after"]:
                    continue
                if filters["modified_before"] and not order.modified < filters["modified_before"]:
                    continue
                selected.append(order)

            def sort_key(o: WooOrder) -> tuple[Any, int]:
                if orderby == "date":
                    return (o.created, o.id)
                if orderby == "modified":
                    return (o.modified, o.id)
                return (o.id, o.id)

            selected.sort(key=sort_key, reverse=order_dir == "desc")
            page = self._paginate(request, selected, "orders")
            if isinstance(page, Response):
                return page
            items, headers = page
            body = [self.render_order(o) for o in items]
        return json_response(body, 200, headers)

    def get_order(self, request: Request) -> Response:
        body = self.get_order_json(int(request.params["order_id"]))
        if body is None:
            return wc_error("woocommerce_rest_shop_order_invalid_id", "Invalid ID.", 404)
        return json_response(body)

    def update_order(self, request: Request) -> Response:
        payload = self._parse_json_object(request)
        if isinstance(payload, Response):
            return payload
        order_id = int(request.params["order_id"])
        status = payload.get("status")
        if status is not None and status not in ORDER_STATUSES:
            return invalid_param({"status": f"status is not one of {', '.join(ORDER_STATUSES)}."})
        with self._lock:
            order = self._orders.get(order_id)
            if order is None:
                return wc_error("woocommerce_rest_shop_order_invalid_id", "Invalid ID.", 400)
            moment = now_s()
            data = order.data
            for key, with_email in (("billing", True), ("shipping", False)):
                changes = payload.get(key)
                if isinstance(changes, dict):
                    for field_name in self._address({}, with_email):
                        if field_name in changes:
                            data[key][field_name] = str(changes[field_name] or "")
            for key in (
                "customer_note",
                "transaction_id",
                "payment_method",
                "payment_method_title",
            ):
                if key in payload:
                    data[key] = str(payload[key] or "")
            if isinstance(payload.get("customer_id"), int):
                data["customer_id"] = payload["customer_id"]
            for meta in payload.get("meta_data") or []:
                if not isinstance(meta, dict) or "key" not in meta:
                    continue
                existing = next(
                    (
                        m
                        for m in data["meta_data"]
                        if ("id" in meta and m["id"] == meta["id"]) or m["key"] == meta["key"]
                    ),
                    None,
                )
                if existing is not None:
                    existing["value"] = meta.get("value")
                else:
                    data["meta_data"].append(
                        {"id": self._meta_id(), "key": meta["key"], "value": meta.get("value")}
                    )
            if status is not None:
                self._apply_status(order, status, moment)
            if payload.get("set_paid") is True and order.paid is None:
                order.paid = moment
                if data["status"] in ("pending", "failed", "on-hold"):
                    self._apply_status(order, "processing", moment)
            order.modified = moment
            body = self.render_order(order)
        self._fire("order.updated", order_id)
        return json_response(body)

    def delete_order(self, request: Request) -> Response:
        order_id = int(request.params["order_id"])
        force = (request.arg("force") or "").lower() in ("1", "true", "yes")
        with self._lock:
            order = self._orders.get(order_id)
            if order is None:
                return wc_error("woocommerce_rest_shop_order_invalid_id", "Invalid ID.", 404)
            if force:
                body = self.render_order(order)
                del self._orders[order_id]
            else:
                order.data["status"] = "trash"
                order.modified = now_s()
                body = self.render_order(order)
        self._fire("order.deleted", order_id, deleted_payload={"id": order_id})
        return json_response(body)

    # -- products -------------------------------------------------------------------------

    def _product_json(self, item: dict[str, Any]) -> dict[str, Any]:
        is_variation = bool(item["variation_id"])
        product_id = item["variation_id"] or item["product_id"]
        stock = self._stock.get(item["sku"])
        created = datetime(2026, 1, 5, 9, 0, tzinfo=UTC)
        slug = re.sub(r"[^a-z0-9]+", "-", _ascii_slug(item["name"])).strip("-")
        return {
            "id": product_id,
            "name": item["name"],
            "slug": slug,
            "permalink": f"{self.site_url}product/{slug}/",
            "date_created": self._local(created),
            "date_created_gmt": self._gmt(created),
            "date_modified": self._local(created),
            "date_modified_gmt": self._gmt(created),
            "type": "variation" if is_variation else "simple",
            "status": "publish",
            "featured": False,
            "catalog_visibility": "visible",
            "description": "",
            "short_description": "",
            "sku": item["sku"],
            "price": item["price"],
            "regular_price": item["price"],
            "sale_price": "",
            "on_sale": False,
            "purchasable": True,
            "virtual": False,
            "downloadable": False,
            "tax_status": "taxable",
            "tax_class": "",
            "manage_stock": stock is not None,
            "stock_quantity": stock,
            "stock_status": "instock" if stock is None or stock > 0 else "outofstock",
            "backorders": "no",
            "parent_id": item["product_id"] if is_variation else 0,
            "attributes": [
                {"id": 0, "name": key, "option": value} for key, value in item["attributes"].items()
            ],
            "meta_data": [],
            "_links": {
                "self": [{"href": self._rest_url(f"products/{product_id}")}],
                "collection": [{"href": self._rest_url("products")}],
            },
        }

    def list_products(self, request: Request) -> Response:
        sku = request.arg("sku")
        product_type = request.arg("type")
        with self._lock:
            products = [self._product_json(item) for item in self._catalog]
        if sku:
            wanted = {s.strip() for s in sku.split(",")}
            products = [p for p in products if p["sku"] in wanted]
        if product_type:
            products = [p for p in products if p["type"] == product_type]
        reverse = (request.arg("order") or "desc").lower() == "desc"
        if (request.arg("orderby") or "date") == "title":
            products.sort(key=lambda p: p["name"], reverse=reverse)
        else:
            products.sort(key=lambda p: p["id"], reverse=reverse)
        page = self._paginate(request, products, "products")
        if isinstance(page, Response):
            return page
        items, headers = page
        return json_response(items, 200, headers)

    def get_product(self, request: Request) -> Response:
        product_id = int(request.params["product_id"])
        with self._lock:
            for item in self._catalog:
                if (item["variation_id"] or item["product_id"]) == product_id:
                    return json_response(self._product_json(item))
        return wc_error("woocommerce_rest_product_invalid_id", "Invalid ID.", 404)

    def list_variations(self, request: Request) -> Response:
        product_id = int(request.params["product_id"])
        with self._lock:
            variations = [
                self._product_json(item)
                for item in self._catalog
                if item["variation_id"] and item["product_id"] == product_id
            ]
        page = self._paginate(request, variations, f"products/{product_id}/variations")
        if isinstance(page, Response):
            return page
        items, headers = page
        return json_response(items, 200, headers)

    # -- webhooks -------------------------------------------------------------------------

    def render_webhook(self, webhook: Webhook, with_secret: bool = False) -> dict[str, Any]:
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
        if with_secret:
            body["secret"] = webhook.secret
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
            body = self.render_webhook(webhook, with_secret=True)
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
            return json_response(
                self.render_webhook(webhook, with_secret=request.arg("context") == "edit")
            )

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
            body = self.render_webhook(webhook, with_secret=True)
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
                payload = self.get_order_json(job.resource_id) or {"id": job.resource_id}
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
            "order_id": None if ping else job.resource_id,
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

    def deliveries(self) -> list[dict[str, Any]]:
        with self._deliveries_lock:
            return [dict(d) for d in self._deliveries]

    def pending_deliveries(self) -> int:
        with self._deliveries_lock:
            return self._delivery_queue.qsize() + self._inflight

    # -- order generator ------------------------------------------------------------------

    def generate_orders(self, count: int, status: str = "processing") -> list[int]:
        """Create ``count`` random believable checkout orders and fire webhooks."""
        created: list[int] = []
        for _ in range(count):
            with self._lock:
                rng = self._rng
                lines: list[tuple[dict[str, Any], int]] = []
                for item in rng.sample(self._catalog, k=min(rng.randint(1, 4), len(self._catalog))):
                    lines.append((item, rng.choices((1, 2, 3), weights=(75, 20, 5))[0]))
                billing, shipping = random_customer(rng)
                extra = {
                    "customer_id": rng.choice([0, 0, rng.randint(2, 400)]),
                    "payment_method": "stripe",
                    "payment_method_title": "Credit Card (Stripe)",
                    "transaction_id": "pi_"
                    + "".join(rng.choice(string.ascii_letters + string.digits) for _ in range(24)),
                    "customer_ip_address": (
                        f"{rng.randint(31, 217)}.{rng.randint(0, 255)}."
                        f"{rng.randint(0, 255)}.{rng.randint(1, 254)}"
                    ),
                    "customer_user_agent": rng.choice(USER_AGENTS),
                    "cart_hash": hashlib.md5(
                        str(rng.random()).encode(), usedforsecurity=False
                    ).hexdigest(),
                    "customer_note": rng.choice(["", "", "", "", "Please leave at the door."]),
                    "meta_data": [{"key": "is_vat_exempt", "value": "no"}],
                    "set_paid": True,
                }
                order = self._create_order_locked(
                    lines, billing, shipping, status, "checkout", extra
                )
            created.append(order.id)
            self._fire("order.created", order.id)
        if created:
            logger.info("generated %s orders (%s..%s)", len(created), created[0], created[-1])
        return created

    @property
    def rate(self) -> float:
        return self._rate

    def set_rate(self, rate: float) -> None:
        self._rate = max(0.0, float(rate))
        self._rate_wake.set()

    def _rate_loop(self) -> None:
        next_at = time.monotonic()
        while not self.stopping.is_set():
            rate = self._rate
            if rate <= 0:
                self._rate_wake.wait(1.0)
                self._rate_wake.clear()
                next_at = time.monotonic()
                continue
            delay = next_at - time.monotonic()
            if delay > 0 and self._rate_wake.wait(delay):
                self._rate_wake.clear()
                next_at = time.monotonic() + 1.0 / max(self._rate, 1e-9)
                continue
            if self.stopping.is_set() or self._rate <= 0:
                continue
            try:
                self.generate_orders(1)
            except Exception:
                logger.exception("order generator failed")
            next_at = max(next_at + 1.0 / rate, time.monotonic() - 1.0)

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


# --------------------------------------------------------------------------------------------
# Default catalog and believable EU customer data
# --------------------------------------------------------------------------------------------

DEFAULT_CATALOG: list[dict[str, Any]] = [
    {"sku": "APP-TEE-001", "name": "Organic Cotton Tee", "price": "19.95", "product_id": 110},
    {"sku": "ACC-TOTE-01", "name": "Canvas Tote Bag", "price": "14.50", "product_id": 111},
    {"sku": "HOME-MUG-02", "name": "Ceramic Pour-Over Mug", "price": "12.00", "product_id": 112},
    {"sku": "HOME-PLT-03", "name": "Stoneware Dinner Plate", "price": "9.95", "product_id": 113},
    {"sku": "HOME-TT-04", "name": "Linen Tea Towel (2-pack)", "price": "16.00", "product_id": 114},
    {"sku": "HOME-CND-05", "name": "Beeswax Candle", "price": "11.50", "product_id": 115},
    {"sku": "ACC-CARD-06", "name": "Leather Card Holder", "price": "29.00", "product_id": 116},
    {"sku": "ACC-BEA-07", "name": "Wool Beanie", "price": "24.95", "product_id": 117},
    {"sku": "STA-NB-08", "name": "Recycled Notebook A5", "price": "7.95", "product_id": 118},
    {"sku": "ACC-SUN-09", "name": "Bamboo Sunglasses", "price": "39.00", "product_id": 119},
    {
        "sku": "FOOD-CB-10",
        "name": "Cold Brew Coffee Beans 500g",
        "price": "13.75",
        "product_id": 120,
    },
    {"sku": "ACC-BTL-11", "name": "Insulated Water Bottle", "price": "27.50", "product_id": 121},
    *(
        {
            "sku": f"KN-MER-{size}",
            "name": f"Merino Crew Sweater - {size}",
            "parent_name": "Merino Crew Sweater",
            "price": "79.00",
            "product_id": 130,
            "variation_id": 131 + index,
            "attributes": {"Size": size},
        }
        for index, size in enumerate(("S", "M", "L"))
    ),
    *(
        {
            "sku": f"TR-CHI-{waist}32",
            "name": f"Slim Chino - {waist}/32",
            "parent_name": "Slim Chino",
            "price": "59.95",
            "product_id": 140,
            "variation_id": 141 + index,
            "attributes": {"Size": f"{waist}/32"},
        }
        for index, waist in enumerate(("30", "32", "34"))
    ),
    {
        "sku": "OUT-RJ-NAV-M",
        "name": "Rain Jacket - Navy, M",
        "parent_name": "Rain Jacket",
        "price": "119.00",
        "product_id": 150,
        "variation_id": 151,
        "attributes": {"Colour": "Navy", "Size": "M"},
    },
    {
        "sku": "OUT-RJ-OLV-L",
        "name": "Rain Jacket - Olive, L",
        "parent_name": "Rain Jacket",
        "price": "119.00",
        "product_id": 150,
        "variation_id": 152,
        "attributes": {"Colour": "Olive", "Size": "L"},
    },
]


def normalize_catalog(items: Any) -> list[dict[str, Any]]:
    """Validate and normalize catalog items; raise ValueError with a readable message."""
    if isinstance(items, dict) and "items" in items:
        items = items["items"]
    if not isinstance(items, list) or not items:
        raise ValueError("catalog must be a non-empty list of items")
    seen: set[str] = set()
    normalized: list[dict[str, Any]] = []
    for index, item in enumerate(items):
        where = f"catalog[{index}]"
        if not isinstance(item, dict):
            raise ValueError(f"{where} must be an object")
        sku, name = item.get("sku"), item.get("name")
        if not isinstance(sku, str) or not sku.strip():
            raise ValueError(f"{where}.sku must be a non-empty string")
        if sku in seen:
            raise ValueError(f"{where}.sku {sku!r} is duplicated")
        seen.add(sku)
        if not isinstance(name, str) or not name.strip():
            raise ValueError(f"{where}.name must be a non-empty string")
        try:
            price = Decimal(str(item.get("price")))
        except InvalidOperation:
            raise ValueError(f"{where}.price must be a decimal") from None
        if not price.is_finite() or price < 0:
            raise ValueError(f"{where}.price must be a non-negative decimal")
        product_id = item.get("product_id")
        variation_id = item.get("variation_id", 0) or 0
        for key, value in (("product_id", product_id), ("variation_id", variation_id)):
            if isinstance(value, bool) or not isinstance(value, int) or value < 0:
                raise ValueError(f"{where}.{key} must be a non-negative integer")
        if product_id == 0:
            raise ValueError(f"{where}.product_id must be > 0")
        stock = item.get("stock_quantity", 100)
        if stock is not None and (isinstance(stock, bool) or not isinstance(stock, int)):
            raise ValueError(f"{where}.stock_quantity must be an integer or null")
        attributes = item.get("attributes") or {}
        if not isinstance(attributes, dict):
            raise ValueError(f"{where}.attributes must be an object")
        parent_name = item.get("parent_name")
        if parent_name is None and variation_id and " - " in name:
            parent_name = name.split(" - ", 1)[0]
        normalized.append(
            {
                "sku": sku,
                "name": name,
                "price": str(price.quantize(Decimal("0.01"))),
                "product_id": product_id,
                "variation_id": variation_id,
                "parent_name": parent_name if variation_id else None,
                "stock_quantity": stock,
                "attributes": {str(k): str(v) for k, v in attributes.items()},
            }
        )
    return normalized


# country code -> (state code, city, postcode) choices and name pools
COUNTRIES: dict[str, dict[str, Any]] = {
    "NL": {
        "first": ["Daan", "Sem", "Emma", "Julia", "Lotte", "Bram", "Sanne", "Thijs", "Fleur"],
        "last": ["de Vries", "Jansen", "van den Berg", "Bakker", "Visser", "Smit", "de Boer"],
        "places": [
            ("", "Amsterdam", "1016 GV"),
            ("", "Utrecht", "3511 LX"),
            ("", "Rotterdam", "3011 AD"),
            ("", "Haarlem", "2011 PM"),
            ("", "Eindhoven", "5611 AZ"),
        ],
        "streets": ["Prinsengracht", "Oudegracht", "Coolsingel", "Grote Markt", "Dorpsstraat"],
        "style": "street_number",
        "phone": "+31 6 {d8}",
        "tld": "nl",
    },
    "BE": {
        "first": ["Lucas", "Noah", "Louise", "Elise", "Arthur", "Marie", "Jules", "Ines"],
        "last": ["Peeters", "Janssens", "Maes", "Jacobs", "Mertens", "Willems", "Claes"],
        "places": [
            ("", "Antwerpen", "2000"),
            ("", "Gent", "9000"),
            ("", "Brussel", "1000"),
            ("", "Leuven", "3000"),
            ("", "Brugge", "8000"),
        ],
        "streets": ["Meir", "Veldstraat", "Bondgenotenlaan", "Steenstraat", "Kerkstraat"],
        "style": "street_number",
        "phone": "+32 4{d2} {d2} {d2} {d2}",
        "tld": "be",
    },
    "DE": {
        "first": ["Lukas", "Anna", "Felix", "Marie", "Jonas", "Lea", "Paul", "Sophie"],
        "last": ["Müller", "Schmidt", "Schneider", "Fischer", "Weber", "Meyer", "Wagner"],
        "places": [
            ("BE", "Berlin", "10115"),
            ("BY", "München", "80331"),
            ("HH", "Hamburg", "20095"),
            ("NW", "Köln", "50667"),
            ("HE", "Frankfurt am Main", "60311"),
        ],
        "streets": ["Hauptstraße", "Bahnhofstraße", "Schillerstraße", "Gartenstraße"],
        "style": "street_number",
        "phone": "+49 15{d1} {d8}",
        "tld": "de",
    },
    "FR": {
        "first": ["Jules", "Camille", "Louis", "Léa", "Hugo", "Chloé", "Gabriel", "Manon"],
        "last": ["Martin", "Bernard", "Dubois", "Thomas", "Robert", "Petit", "Durand"],
        "places": [
            ("", "Paris", "75003"),
            ("", "Lyon", "69002"),
            ("", "Lille", "59000"),
            ("", "Bordeaux", "33000"),
            ("", "Nantes", "44000"),
        ],
        "streets": ["rue de la République", "avenue Jean Jaurès", "rue Victor Hugo"],
        "style": "number_street",
        "phone": "+33 6 {d2} {d2} {d2} {d2}",
        "tld": "fr",
    },
    "ES": {
        "first": ["Lucía", "Hugo", "Martina", "Daniel", "Sofía", "Pablo", "Alba", "Mateo"],
        "last": ["García", "Fernández", "González", "Rodríguez", "López", "Martínez"],
        "places": [
            ("M", "Madrid", "28013"),
            ("B", "Barcelona", "08002"),
            ("V", "Valencia", "46002"),
            ("SE", "Sevilla", "41004"),
            ("BI", "Bilbao", "48001"),
        ],
        "streets": ["Calle Mayor", "Gran Vía", "Calle de Alcalá", "Calle Real"],
        "style": "street_comma_number",
        "phone": "+34 6{d2} {d3} {d3}",
        "tld": "es",
    },
}

COMPANIES = ["Studio Noord", "Atelier Lumière", "Kaffeehaus GmbH", "Bureau Verde", "Casa Sol"]
USER_AGENTS = [
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) "
    "Chrome/130.0.0.0 Safari/537.36",
    "Mozilla/5.0 (Macintosh; Intel Mac OS X 14_6) AppleWebKit/605.1.15 (KHTML, like Gecko) "
    "Version/18.0 Safari/605.1.15",
    "Mozilla/5.0 (iPhone; CPU iPhone OS 18_0 like Mac OS X) AppleWebKit/605.1.15 "
    "(KHTML, like Gecko) Version/18.0 Mobile/15E148 Safari/604.1",
    "Mozilla/5.0 (X11; Linux x86_64; rv:132.0) Gecko/20100101 Firefox/132.0",
]


def _ascii(text: str) -> str:
    decomposed = unicodedata.normalize("NFKD", text.replace("ß", "ss"))
    cleaned = "".join(c for c in decomposed if not unicodedata.combining(c))
    return "".join(c for c in cleaned.lower() if c.isalnum())


def _ascii_slug(text: str) -> str:
    decomposed = unicodedata.normalize("NFKD", text.replace("ß", "ss"))
    return "".join(c for c in decomposed if not unicodedata.combining(c)).lower()


def _digits(rng: random.Random, template: str) -> str:
    out = template
    for marker, count in (("{d8}", 8), ("{d3}", 3), ("{d2}", 2), ("{d1}", 1)):
        while marker in out:
            out = out.replace(marker, "".join(rng.choice("0123456789") for _ in range(count)), 1)
    return out


def random_customer(rng: random.Random) -> tuple[dict[str, str], dict[str, str]]:
    """Return (billing, shipping) dicts in WooCommerce's address shape."""
    country = rng.choice(list(COUNTRIES))
    data = COUNTRIES[country]
    first, last = rng.choice(data["first"]), rng.choice(data["last"])
    state, city, postcode = rng.choice(data["places"])
    street, number = rng.choice(data["streets"]), rng.randint(1, 240)
    if data["style"] == "number_street":
        address_1 = f"{number} {street}"
    elif data["style"] == "street_comma_number":
        address_1 = f"{street}, {number}"
    else:
        address_1 = f"{street} {number}"
    address_2 = rng.choice(["", "", "", f"{rng.randint(1, 5)}e verdieping", "Apt. 3"])
    if country not in ("NL", "BE"):
        address_2 = rng.choice(["", "", "", f"Apt. {rng.randint(1, 30)}"])
    company = rng.choice(COMPANIES) if rng.random() < 0.15 else ""
    email = f"{_ascii(first)}.{_ascii(last)}{rng.randint(1, 99)}@example.{data['tld']}"
    phone = _digits(rng, data["phone"])
    billing = {
        "first_name": first,
        "last_name": last,
        "company": company,
        "address_1": address_1,
        "address_2": address_2,
        "city": city,
        "state": state,
        "postcode": postcode,
        "country": country,
        "email": email,
        "phone": phone,
    }
    shipping = {k: v for k, v in billing.items() if k != "email"}
    return billing, shipping
