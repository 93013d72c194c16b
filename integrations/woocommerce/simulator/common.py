"""Shared WooCommerce wire helpers: constants, money, error bodies, dates, pagination."""

from __future__ import annotations

import json
import math
from dataclasses import dataclass
from datetime import UTC, datetime, tzinfo
from decimal import ROUND_HALF_UP, Decimal
from typing import Any
from urllib.parse import urlencode

from integrations.simkit import FaultPlan, Request, Response, json_response

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


class RestHelpers:
    """Helpers every resource mixin uses (dates, ids, JSON bodies, pagination)."""

    site_url: str
    tz: tzinfo
    _next_item_id: int
    _next_meta_id: int

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
