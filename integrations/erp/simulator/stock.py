"""Stock side of the ERP simulator: on-hand per (SKU, location) with its unit cost, read by
Control Tower's scheduled pull (``GET /api/v1/stock``, docs/contracts/erp.md "Stock").

Every figure carries ``updated_at``, the ERP's own clock of the last change, which the feed is
ordered and filtered by (``updated_since`` is exclusive, ``>``). ``POST /_sim/stock`` sets
figures as the ERP's stock postings would; all items of one call share one ``updated_at`` (one
ERP transaction), so ties — which the client must page through — are easy to make. It stores
what it is given, hostile values included (a negative or fractional on-hand, a cost that is not
a decimal string): a real ERP's data is not always what the contract promises, and the
receiver's checks are what the tests exercise.

Mixed into :class:`~integrations.erp.simulator.server.ErpSimulator`, whose lock and bearer
token it shares.
"""

from __future__ import annotations

import re
import threading
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

from integrations.simkit import Request, Response, iso_utc, json_response, utcnow

MAX_PER_PAGE = 500
DEFAULT_PER_PAGE = 100
QUERY_PARAMS = frozenset({"updated_since", "page", "per_page"})
MAX_ITEMS = 10_000  # per POST /_sim/stock
_DIGITS = re.compile(r"[0-9]{1,9}")


def validation_failed(fields: dict[str, str]) -> Response:
    return json_response({"error": "validation failed", "fields": fields}, 400)


def paged(rows: list[dict[str, Any]], query: dict[str, Any]) -> Response:
    """One page of a feed (``validate_stock_query``'s ``page`` / ``per_page``) as the contract
    answers it: the results, where it is, the total and the next page (None on the last)."""
    page, per_page = query["page"], query["per_page"]
    start = (page - 1) * per_page
    return json_response(
        {
            "results": rows[start : start + per_page],
            "page": page,
            "per_page": per_page,
            "total": len(rows),
            "next_page": page + 1 if start + per_page < len(rows) else None,
        }
    )


def parse_moment(value: Any) -> datetime | None:
    """An ISO 8601 time with a time zone, or None."""
    if not isinstance(value, str) or not value.strip():
        return None
    try:
        moment = datetime.fromisoformat(value.strip())
    except ValueError:
        return None
    return moment if moment.tzinfo is not None else None


def _to_ms(moment: datetime) -> datetime:
    """Milliseconds, as served: a client's ``updated_since`` then equals the stored value."""
    moment = moment.astimezone(UTC)
    return moment.replace(microsecond=moment.microsecond // 1000 * 1000)


def validate_stock_query(request: Request) -> tuple[dict[str, str], dict[str, Any]]:
    """``(errors, {"since", "page", "per_page"})`` of ``GET /api/v1/stock``."""
    errors: dict[str, str] = {}
    for name in sorted(set(request.query) - QUERY_PARAMS):
        errors[name[:64]] = "unknown query parameter"
    since = None
    raw_since = request.arg("updated_since")
    if raw_since is not None:
        since = parse_moment(raw_since)
        if since is None:
            errors["updated_since"] = "must be an ISO 8601 time with a time zone"
    page = 1
    raw_page = request.arg("page")
    if raw_page is not None:
        if not _DIGITS.fullmatch(raw_page) or int(raw_page) < 1:
            errors["page"] = "must be an integer >= 1"
        else:
            page = int(raw_page)
    per_page = DEFAULT_PER_PAGE
    raw_per_page = request.arg("per_page")
    if raw_per_page is not None:
        if not _DIGITS.fullmatch(raw_per_page) or not 1 <= int(raw_per_page) <= MAX_PER_PAGE:
            errors["per_page"] = f"must be an integer from 1 to {MAX_PER_PAGE}"
        else:
            per_page = int(raw_per_page)
    return errors, {"since": since, "page": page, "per_page": per_page}


def validate_stock_items(payload: Any) -> dict[str, str]:
    """Shape of ``POST /_sim/stock``; ``{field: problem}``, empty when valid."""
    if not isinstance(payload, dict):
        return {"_": "body must be a JSON object"}
    items = payload.get("items")
    if not isinstance(items, list) or not items:
        return {"items": "must be a non-empty list"}
    if len(items) > MAX_ITEMS:
        return {"items": f"at most {MAX_ITEMS} items per call"}
    errors: dict[str, str] = {}
    for index, item in enumerate(items):
        prefix = f"items[{index}]"
        if not isinstance(item, dict):
            errors[prefix] = "must be an object"
            continue
        for name in ("sku", "location"):
            value = item.get(name)
            if not isinstance(value, str) or not value.strip():
                errors[f"{prefix}.{name}"] = "must be a non-empty string"
        on_hand = item.get("on_hand")
        if isinstance(on_hand, bool) or not isinstance(on_hand, int | float):
            errors[f"{prefix}.on_hand"] = "must be a number"
        cost = item.get("unit_cost")
        if cost is not None and (isinstance(cost, bool) or not isinstance(cost, str | int | float)):
            errors[f"{prefix}.unit_cost"] = "must be a string, a number or null"
        if "as_of" in item and parse_moment(item["as_of"]) is None:
            errors[f"{prefix}.as_of"] = "must be an ISO 8601 time with a time zone"
    return errors


class StockMixin:
    """Stock figures and their feed; state under the simulator's lock."""

    # Provided by ErpSimulator / JsonHTTPServer.
    _lock: threading.RLock
    _authorized: Callable[[Request], bool]
    _unauthorized: Callable[[], Response]
    route: Callable[[str, str, Callable[[Request], Response]], None]

    def init_stock(self) -> None:
        self._stock: dict[tuple[str, str], dict[str, Any]] = {}
        self._stock_clock = datetime.min.replace(tzinfo=UTC)
        self.route("GET", r"/api/v1/stock/?", self.list_stock)
        self.route("GET", r"/_sim/stock", self.sim_get_stock)
        self.route("POST", r"/_sim/stock", self.sim_set_stock)

    def reset_stock(self) -> None:
        with self._lock:
            self._stock.clear()

    def _stamp(self) -> datetime:
        """The ERP's clock for a change: milliseconds, never going back."""
        self._stock_clock = max(self._stock_clock, _to_ms(utcnow()))
        return self._stock_clock

    def set_stock(self, items: list[dict[str, Any]]) -> datetime:
        """Set figures (validated by :func:`validate_stock_items`); their shared ``updated_at``.

        An item without ``unit_cost`` keeps the cost held; without ``as_of`` it is counted now.
        """
        with self._lock:
            stamp = self._stamp()
            for item in items:
                key = (item["sku"], item["location"])
                held = self._stock.get(key, {})
                as_of = parse_moment(item.get("as_of")) or stamp
                self._stock[key] = {
                    "sku": item["sku"],
                    "location": item["location"],
                    "on_hand": item["on_hand"],
                    "as_of": iso_utc(as_of),
                    "unit_cost": item["unit_cost"]
                    if "unit_cost" in item
                    else held.get("unit_cost"),
                    "updated_at": stamp,
                }
        return stamp

    def stock_rows(self, since: datetime | None = None) -> list[dict[str, Any]]:
        """Figures changed after ``since`` (exclusive), ordered by (updated_at, sku, location)."""
        with self._lock:
            rows = [
                dict(row)
                for row in self._stock.values()
                if since is None or row["updated_at"] > since
            ]
        rows.sort(key=lambda row: (row["updated_at"], row["sku"], row["location"]))
        for row in rows:
            row["updated_at"] = iso_utc(row["updated_at"])
        return rows

    # -- API ------------------------------------------------------------------------------

    def list_stock(self, request: Request) -> Response:
        if not self._authorized(request):
            return self._unauthorized()
        errors, query = validate_stock_query(request)
        if errors:
            return validation_failed(errors)
        return paged(self.stock_rows(query["since"]), query)

    # -- /_sim ----------------------------------------------------------------------------

    def sim_get_stock(self, request: Request) -> Response:
        return json_response(self.stock_rows())

    def sim_set_stock(self, request: Request) -> Response:
        try:
            payload = request.json()
        except (ValueError, UnicodeDecodeError):
            return json_response({"error": "invalid JSON body", "fields": {}}, 400)
        errors = validate_stock_items(payload)
        if errors:
            return validation_failed(errors)
        stamp = self.set_stock(payload["items"])
        return json_response({"stored": len(payload["items"]), "updated_at": iso_utc(stamp)})
