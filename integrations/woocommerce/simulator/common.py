"""Shared WooCommerce wire helpers: constants, money, error bodies, dates, pagination."""

from __future__ import annotations

import json
import math
from dataclasses import dataclass, field
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
    "order.updated": [
        "woocommerce_update_order",
        "woocommerce_order_refunded",
        "woocommerce_delete_order_refund",
    ],
    "order.deleted": ["wp_trash_post"],
    "order.restored": ["untrashed_post"],
    "product.created": [
        "woocommerce_process_product_meta",
        "woocommerce_new_product",
        "woocommerce_new_product_variation",
    ],
    "product.updated": [
        "woocommerce_process_product_meta",
        "woocommerce_update_product",
        "woocommerce_update_product_variation",
    ],
    "product.deleted": ["wp_trash_post"],
    "product.restored": ["untrashed_post"],
}
BATCH_LIMIT = 100
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


def wp_list(values: list[str] | tuple[str, ...]) -> str:
    """WordPress' ``%l`` list: ``a, b, and c`` (``a and b`` for two)."""
    items = list(values)
    if len(items) <= 1:
        return "".join(items)
    if len(items) == 2:
        return f"{items[0]} and {items[1]}"
    return ", ".join(items[:-1]) + f", and {items[-1]}"


def not_one_of(name: str, choices: list[str] | tuple[str, ...]) -> str:
    return f"{name} is not one of {wp_list(choices)}."


def wp_bool(raw: str | None) -> bool | None:
    """``rest_is_boolean`` + ``rest_sanitize_boolean``; None when the value is not a boolean."""
    if raw is None:
        return None
    value = raw.strip().lower()
    if value in ("true", "1"):
        return True
    if value in ("false", "0", ""):
        return False
    return None


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
    trashed_from: str | None = None
    refunds: list[Any] = field(default_factory=list)
    notes: list[Any] = field(default_factory=list)


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
        self, request: Request, items: list[Any], path: str, offset: int = 0
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
        start = offset if offset else (page - 1) * per_page
        headers = {"X-WP-Total": str(total), "X-WP-TotalPages": str(total_pages)}
        links = []
        base_query = {
            k: v[-1]
            for k, v in request.query.items()
            if k not in ("page", "consumer_key", "consumer_secret") and not k.startswith("oauth_")
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

    def _list_query(
        self,
        request: Request,
        *,
        statuses: tuple[str, ...],
        orderby: tuple[str, ...],
        status_is_array: bool,
    ) -> ListQuery | Response:
        """Validate the collection parameters WooCommerce's list endpoints share."""
        errors: dict[str, str] = {}
        gmt = wp_bool(request.arg("dates_are_gmt"))
        if gmt is None and request.arg("dates_are_gmt") is not None:
            errors["dates_are_gmt"] = "dates_are_gmt is not of type boolean."
        dates = {
            name: self._date_param(request, name, bool(gmt), errors)
            for name in ("after", "before", "modified_after", "modified_before")
        }
        offset = self._int_param(request, "offset", 0, errors, minimum=0)
        id_lists: dict[str, list[int]] = {}
        for name in ("include", "exclude"):
            values = _list_values(request, name)
            ids: list[int] = []
            for index, raw in enumerate(values):
                if not raw.isdigit():
                    errors[name] = f"{name}[{index}] is not of type integer."
                    break
                ids.append(int(raw))
            id_lists[name] = ids
        wanted = _list_values(request, "status")
        if not status_is_array and len(wanted) > 1:
            errors["status"] = not_one_of("status", statuses)
        for index, status in enumerate(wanted):
            if status not in statuses:
                label = f"status[{index}]" if status_is_array else "status"
                errors["status"] = not_one_of(label, statuses)
                break
        direction = (request.arg("order") or "desc").lower()
        if direction not in ("asc", "desc"):
            errors["order"] = not_one_of("order", ("asc", "desc"))
        sort = request.arg("orderby") or "date"
        if sort not in orderby:
            errors["orderby"] = not_one_of("orderby", orderby)
        if errors:
            return invalid_param(errors)
        return ListQuery(
            offset=offset,
            include=id_lists["include"],
            exclude=id_lists["exclude"],
            search=(request.arg("search") or "").strip().lower(),
            statuses=wanted,
            after=dates["after"],
            before=dates["before"],
            modified_after=dates["modified_after"],
            modified_before=dates["modified_before"],
            orderby=sort,
            descending=direction == "desc",
        )


def _list_values(request: Request, name: str) -> list[str]:
    """An array parameter: ``a=1,2``, ``a[]=1&a[]=2`` or ``a[0]=1`` (``wp_parse_list``)."""
    raw: list[str] = []
    for key, values in request.query.items():
        if key == name or (key.startswith(f"{name}[") and key.endswith("]")):
            raw.extend(values)
    out: list[str] = []
    for value in raw:
        out.extend(part.strip() for part in value.split(",") if part.strip())
    return out


@dataclass
class ListQuery:
    offset: int
    include: list[int]
    exclude: list[int]
    search: str
    statuses: list[str]
    after: datetime | None
    before: datetime | None
    modified_after: datetime | None
    modified_before: datetime | None
    orderby: str
    descending: bool

    def keeps(self, *, id: int, created: datetime, modified: datetime, text: str) -> bool:
        if self.include and id not in self.include:
            return False
        if id in self.exclude:
            return False
        if self.search and self.search not in text.lower():
            return False
        if self.after and not created > self.after:
            return False
        if self.before and not created < self.before:
            return False
        if self.modified_after and not modified > self.modified_after:
            return False
        return not (self.modified_before and not modified < self.modified_before)

    def sort(self, items: list[Any], keys: dict[str, Any]) -> list[Any]:
        """Sort ``items`` by ``keys[orderby]`` (a function), ``include`` keeping its order."""
        if self.orderby == "include" and self.include:
            position = {value: index for index, value in enumerate(self.include)}
            return sorted(items, key=lambda item: position.get(keys["id"](item), 0))
        key = keys.get(self.orderby, keys["id"])
        return sorted(
            items, key=lambda item: (key(item), keys["id"](item)), reverse=self.descending
        )
