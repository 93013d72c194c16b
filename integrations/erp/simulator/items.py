"""Item side of the ERP simulator: the item master's base price and tax class per SKU, read by
Control Tower's scheduled pull (``GET /api/v1/items``, docs/contracts/erp.md "Items").

The same feed shape as stock (``updated_at`` the ERP's own clock, ``updated_since`` exclusive,
paged; the query is validated by the stock module's own check). ``POST /_sim/items`` sets items
as the ERP's price maintenance would; all items of one call share one ``updated_at``. It stores
what it is given, hostile values included (a negative price, a number instead of a decimal
string, a tax class nobody charges): the receiver's checks are what the tests exercise.

Mixed into :class:`~integrations.erp.simulator.server.ErpSimulator`, whose lock, clock and
bearer token it shares.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from datetime import datetime
from typing import Any

from integrations.erp.simulator.stock import paged, validate_stock_query, validation_failed
from integrations.simkit import Request, Response, iso_utc, json_response

MAX_ITEMS = 10_000  # per POST /_sim/items


def validate_items(payload: Any) -> dict[str, str]:
    """Shape of ``POST /_sim/items``; ``{field: problem}``, empty when valid."""
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
        sku = item.get("sku")
        if not isinstance(sku, str) or not sku.strip():
            errors[f"{prefix}.sku"] = "must be a non-empty string"
        if "price" not in item:
            errors[f"{prefix}.price"] = "this field is required"
    return errors


class ItemsMixin:
    """Item prices and their feed; state under the simulator's lock."""

    # Provided by ErpSimulator / StockMixin / JsonHTTPServer.
    _lock: threading.RLock
    _authorized: Callable[[Request], bool]
    _unauthorized: Callable[[], Response]
    _stamp: Callable[[], datetime]
    route: Callable[[str, str, Callable[[Request], Response]], None]

    def init_items(self) -> None:
        self._items: dict[str, dict[str, Any]] = {}
        self.route("GET", r"/api/v1/items/?", self.list_items)
        self.route("GET", r"/_sim/items", self.sim_get_items)
        self.route("POST", r"/_sim/items", self.sim_set_items)

    def reset_items(self) -> None:
        with self._lock:
            self._items.clear()

    def set_items(self, items: list[dict[str, Any]]) -> datetime:
        """Set items (validated by :func:`validate_items`); their shared ``updated_at``. An item
        without ``tax_class`` or ``currency`` keeps the one held (new: standard, EUR)."""
        with self._lock:
            stamp = self._stamp()
            for item in items:
                held = self._items.get(item["sku"], {})
                self._items[item["sku"]] = {
                    "sku": item["sku"],
                    "price": item["price"],
                    "currency": item.get("currency", held.get("currency", "EUR")),
                    "tax_class": item.get("tax_class", held.get("tax_class", "standard")),
                    "updated_at": stamp,
                }
        return stamp

    def item_rows(self, since: datetime | None = None) -> list[dict[str, Any]]:
        """Items changed after ``since`` (exclusive), ordered by (updated_at, sku)."""
        with self._lock:
            rows = [
                dict(row)
                for row in self._items.values()
                if since is None or row["updated_at"] > since
            ]
        rows.sort(key=lambda row: (row["updated_at"], row["sku"]))
        for row in rows:
            row["updated_at"] = iso_utc(row["updated_at"])
        return rows

    # -- API ------------------------------------------------------------------------------

    def list_items(self, request: Request) -> Response:
        if not self._authorized(request):
            return self._unauthorized()
        errors, query = validate_stock_query(request)
        if errors:
            return validation_failed(errors)
        return paged(self.item_rows(query["since"]), query)

    # -- /_sim ----------------------------------------------------------------------------

    def sim_get_items(self, request: Request) -> Response:
        return json_response(self.item_rows())

    def sim_set_items(self, request: Request) -> Response:
        try:
            payload = request.json()
        except (ValueError, UnicodeDecodeError):
            return json_response({"error": "invalid JSON body", "fields": {}}, 400)
        errors = validate_items(payload)
        if errors:
            return validation_failed(errors)
        stamp = self.set_items(payload["items"])
        return json_response({"stored": len(payload["items"]), "updated_at": iso_utc(stamp)})
