"""ERP simulator speaking Control Tower's generic ERP JSON contract (see docs/contracts/erp.md).

A real ERP is "one adapter away": the adapter translates this contract to the vendor's API.
"""

from __future__ import annotations

import hmac
import json
import logging
import threading
from collections import Counter
from datetime import datetime
from decimal import Decimal
from typing import Any

from integrations.erp.simulator.documents import (
    DEFAULT_TAX_CODE,
    payload_fingerprint,
    validate_order_extras,
)
from integrations.erp.simulator.documents import is_decimal_string as _is_decimal_string
from integrations.erp.simulator.invoicing import InvoicingMixin
from integrations.erp.simulator.items import ItemsMixin
from integrations.erp.simulator.stock import StockMixin
from integrations.simhooks import WEBHOOK_FAULT_DEFAULTS
from integrations.simkit import (
    FaultPlan,
    JsonHTTPServer,
    Request,
    Response,
    iso_utc,
    json_response,
    utcnow,
)

logger = logging.getLogger(__name__)

ORDER_STATUSES = ("registered", "confirmed", "invoiced", "shipped", "cancelled")
CANCELLABLE = frozenset({"registered", "confirmed"})


class ErpFaultPlan(FaultPlan):
    """Base faults, webhook faults and the ERP's own: ``bad_invoice_totals_next`` (int): the next
    N invoices are issued with a header that does not add up (``tax_total`` and ``total`` one
    cent above the lines), for exercising a receiver's document checks."""

    extra_defaults = {**WEBHOOK_FAULT_DEFAULTS, "bad_invoice_totals_next": 0}


def validate_sales_order(payload: Any) -> dict[str, str]:
    """Return ``{field: problem}``; empty when the payload is valid."""
    if not isinstance(payload, dict):
        return {"_": "body must be a JSON object"}
    errors: dict[str, str] = {}
    for name in ("external_ref", "correlation_id", "channel"):
        value = payload.get(name)
        if name not in payload:
            errors[name] = "this field is required"
        elif not isinstance(value, str) or not value.strip():
            errors[name] = "must be a non-empty string"
    currency = payload.get("currency")
    if "currency" not in payload:
        errors["currency"] = "this field is required"
    elif not (isinstance(currency, str) and len(currency) == 3 and currency.isalpha()):
        errors["currency"] = "must be a 3-letter ISO 4217 code"
    elif currency != currency.upper():
        errors["currency"] = "must be upper case"
    customer = payload.get("customer")
    if customer is not None and not isinstance(customer, dict):
        errors["customer"] = "must be an object"
    total = payload.get("total")
    if "total" not in payload:
        errors["total"] = "this field is required"
    elif not _is_decimal_string(total):
        errors["total"] = "must be a decimal string"
    placed_at = payload.get("placed_at")
    if "placed_at" not in payload:
        errors["placed_at"] = "this field is required"
    elif not isinstance(placed_at, str):
        errors["placed_at"] = "must be an ISO 8601 string"
    else:
        try:
            datetime.fromisoformat(placed_at)
        except ValueError:
            errors["placed_at"] = "must be an ISO 8601 string"
    lines = payload.get("lines")
    if "lines" not in payload:
        errors["lines"] = "this field is required"
    elif not isinstance(lines, list) or not lines:
        errors["lines"] = "must be a non-empty list"
    else:
        for index, line in enumerate(lines):
            prefix = f"lines[{index}]"
            if not isinstance(line, dict):
                errors[prefix] = "must be an object"
                continue
            sku = line.get("sku")
            if "sku" not in line:
                errors[f"{prefix}.sku"] = "this field is required"
            elif not isinstance(sku, str) or not sku.strip():
                errors[f"{prefix}.sku"] = "must be a non-empty string"
            quantity = line.get("quantity")
            if "quantity" not in line:
                errors[f"{prefix}.quantity"] = "this field is required"
            elif isinstance(quantity, bool) or not isinstance(quantity, int) or quantity <= 0:
                errors[f"{prefix}.quantity"] = "must be a positive integer"
            price = line.get("unit_price")
            if "unit_price" not in line:
                errors[f"{prefix}.unit_price"] = "this field is required"
            elif not _is_decimal_string(price):
                errors[f"{prefix}.unit_price"] = "must be a decimal string"
            elif Decimal(price) < 0:
                errors[f"{prefix}.unit_price"] = "must not be negative"
    validate_order_extras(payload, errors)
    return errors


class ErpSimulator(ItemsMixin, StockMixin, InvoicingMixin, JsonHTTPServer):
    """In-memory ERP exposing ``/api/v1/sales-orders`` behind a bearer token; shipments confirmed
        against its orders are invoiced, and invoices, credit memos and ERP-side cancels are sent
        as signed webhooks (``ERP-Signature``). Its stock figures are read from ``/api/v1/stock``,
    its item prices and tax classes from ``/api/v1/items``."""

    fault_prefix = "/api/"
    name = "erp-simulator"

    def __init__(
        self,
        host: str = "127.0.0.1",
        port: int = 0,
        token: str = "secret-token",
        fault_plan: FaultPlan | None = None,
        *,
        invoice_after_s: float = 0.2,
        auto_invoice: bool = True,
    ) -> None:
        super().__init__(host=host, port=port, fault_plan=fault_plan or ErpFaultPlan())
        self.token = token
        self._lock = threading.RLock()
        self._orders: dict[str, dict[str, Any]] = {}
        self._by_external_ref: dict[str, str] = {}
        self._idempotency: dict[str, tuple[str, int, dict[str, Any]]] = {}
        self._sequence = 0

        self.route("POST", r"/api/v1/sales-orders/?", self.create_sales_order)
        self.route("GET", r"/api/v1/sales-orders/?", self.list_sales_orders)
        self.route("GET", r"/api/v1/sales-orders/(?P<order_id>[^/]+)/?", self.get_sales_order)
        self.route(
            "POST", r"/api/v1/sales-orders/(?P<order_id>[^/]+)/cancel/?", self.cancel_sales_order
        )
        self.route("GET", r"/_sim/state", self.sim_state)
        self.route("GET", r"/_sim/sales-orders", self.sim_orders)
        self.route("POST", r"/_sim/sales-orders/(?P<order_id>[^/]+)/status", self.sim_set_status)
        self.init_invoicing(invoice_after_s=invoice_after_s, auto_invoice=auto_invoice)
        self.init_stock()
        self.init_items()

    # -- helpers --------------------------------------------------------------------------

    def _authorized(self, request: Request) -> bool:
        header = request.header("Authorization") or ""
        scheme, _, credentials = header.partition(" ")
        if scheme.lower() != "bearer" or not credentials:
            return False
        return hmac.compare_digest(credentials.strip().encode(), self.token.encode())

    @staticmethod
    def _unauthorized() -> Response:
        return json_response(
            {"error": "unauthorized"}, 401, {"WWW-Authenticate": 'Bearer realm="erp"'}
        )

    def reset_data(self) -> None:
        with self._lock:
            self._orders.clear()
            self._by_external_ref.clear()
            self._idempotency.clear()
            self._sequence = 0
            self.reset_invoicing()
            self.reset_stock()
            self.reset_items()

    def orders(self) -> list[dict[str, Any]]:
        with self._lock:
            return [json.loads(json.dumps(order)) for order in self._orders.values()]

    # -- API ------------------------------------------------------------------------------

    def create_sales_order(self, request: Request) -> Response:
        if not self._authorized(request):
            return self._unauthorized()
        try:
            payload = request.json()
        except (ValueError, UnicodeDecodeError):
            return json_response({"error": "invalid JSON body", "fields": {}}, 400)
        errors = validate_sales_order(payload)
        if errors:
            return json_response({"error": "validation failed", "fields": errors}, 400)

        key = (request.header("Idempotency-Key") or "").strip() or None
        fingerprint = payload_fingerprint(payload)
        with self._lock:
            if key is not None and key in self._idempotency:
                stored_fingerprint, status, body = self._idempotency[key]
                if stored_fingerprint != fingerprint:
                    return json_response(
                        {"error": "idempotency key reused with a different payload"}, 422
                    )
                logger.info("idempotent replay of key %s -> %s", key, body.get("id"))
                return json_response(dict(body), status, {"Idempotent-Replayed": "true"})

            external_ref = payload["external_ref"]
            existing_id = self._by_external_ref.get(external_ref)
            if existing_id is not None:
                return json_response(
                    {
                        "error": "a sales order with this external_ref already exists",
                        "id": existing_id,
                        "external_ref": external_ref,
                    },
                    409,
                )

            self._sequence += 1
            order_id = f"SO-{self._sequence:06d}"
            now = iso_utc(utcnow())
            lines = [
                {
                    "line_no": index + 1,
                    "sku": line["sku"],
                    "quantity": line["quantity"],
                    "unit_price": line["unit_price"],
                    "line_total": str(Decimal(line["unit_price"]) * line["quantity"]),
                    "line_number": line.get("line_number") or index + 1,
                    "name": line.get("name"),
                    "tax_code": line.get("tax_code") or DEFAULT_TAX_CODE,
                    "tax": line.get("tax"),
                    "discount": line.get("discount"),
                    "total": line.get("total"),
                    "delivered": 0,
                    "invoiced": 0,
                }
                for index, line in enumerate(payload["lines"])
            ]
            lines_total = sum((Decimal(line["line_total"]) for line in lines), Decimal("0"))
            order = {
                "id": order_id,
                "object": "sales_order",
                "status": "registered",
                "external_ref": external_ref,
                "correlation_id": payload["correlation_id"],
                "request_correlation_id": request.header("X-Correlation-ID"),
                "idempotency_key": key,
                "channel": payload["channel"],
                "currency": payload["currency"],
                "customer": payload.get("customer"),
                "lines": lines,
                "total": payload["total"],
                "lines_total": str(lines_total),
                "shipping": payload.get("shipping"),
                "shipping_tax": payload.get("shipping_tax"),
                "shipping_tax_code": payload.get("shipping_tax_code") or DEFAULT_TAX_CODE,
                "tax": payload.get("tax"),
                "placed_at": payload["placed_at"],
                "created_at": now,
                "updated_at": now,
                "deliveries": [],
                "invoices": [],
                "credit_memos": [],
            }
            self._orders[order_id] = order
            self._by_external_ref[external_ref] = order_id
            body = {
                "id": order_id,
                "status": "registered",
                "external_ref": external_ref,
                "created_at": now,
            }
            if key is not None:
                self._idempotency[key] = (fingerprint, 201, dict(body))
        logger.info("registered %s for external_ref %s", order_id, external_ref)
        return json_response(body, 201, {"Location": f"/api/v1/sales-orders/{order_id}"})

    def list_sales_orders(self, request: Request) -> Response:
        if not self._authorized(request):
            return self._unauthorized()
        external_ref = request.arg("external_ref")
        status = request.arg("status")
        results = [
            order
            for order in self.orders()
            if (external_ref is None or order["external_ref"] == external_ref)
            and (status is None or order["status"] == status)
        ]
        return json_response({"count": len(results), "results": results})

    def get_sales_order(self, request: Request) -> Response:
        if not self._authorized(request):
            return self._unauthorized()
        with self._lock:
            order = self._orders.get(request.params["order_id"])
            order = json.loads(json.dumps(order)) if order is not None else None
        if order is None:
            return json_response({"error": "not found"}, 404)
        return json_response(order)

    def cancel_sales_order(self, request: Request) -> Response:
        """Cancel while not yet invoiced or shipped; cancelling a cancelled order is a no-op.

        ``Idempotency-Key`` (advised) replays the stored answer, as for create."""
        if not self._authorized(request):
            return self._unauthorized()
        try:
            payload = request.json() if request.body else {}
        except (ValueError, UnicodeDecodeError):
            return json_response({"error": "invalid JSON body", "fields": {}}, 400)
        if not isinstance(payload, dict):
            return json_response(
                {"error": "validation failed", "fields": {"_": "body must be a JSON object"}}, 400
            )
        reason = payload.get("reason", "")
        if not isinstance(reason, str):
            return json_response(
                {"error": "validation failed", "fields": {"reason": "must be a string"}}, 400
            )
        order_id = request.params["order_id"]
        key = (request.header("Idempotency-Key") or "").strip() or None
        scoped = f"cancel:{order_id}:{key}" if key is not None else None
        fingerprint = payload_fingerprint(payload)
        with self._lock:
            if scoped is not None and scoped in self._idempotency:
                stored_fingerprint, status, body = self._idempotency[scoped]
                if stored_fingerprint != fingerprint:
                    return json_response(
                        {"error": "idempotency key reused with a different payload"}, 422
                    )
                return json_response(dict(body), status, {"Idempotent-Replayed": "true"})
            status, body, _ = self.cancel_locked(order_id, reason)
            if status != 200:
                return json_response(body, status)
            if scoped is not None:
                self._idempotency[scoped] = (fingerprint, 200, dict(body))
        logger.info("cancelled %s", order_id)
        return json_response(body, 200)

    def cancel_locked(self, order_id: str, reason: str) -> tuple[int, dict[str, Any], bool]:
        """Cancel under ``self._lock``: ``(status, body, changed)``. Not once invoiced, shipped
        or (partly) delivered; cancelling a cancelled order is a no-op."""
        order = self._orders.get(order_id)
        if order is None:
            return 404, {"error": "not found"}, False
        if order["status"] not in CANCELLABLE and order["status"] != "cancelled":
            return (
                409,
                {
                    "error": f"sales order is {order['status']} and can no longer be cancelled",
                    "id": order_id,
                    "status": order["status"],
                },
                False,
            )
        if order["status"] != "cancelled" and order.get("deliveries"):
            return (
                409,
                {
                    "error": "sales order is partly delivered and can no longer be cancelled",
                    "id": order_id,
                    "status": order["status"],
                },
                False,
            )
        changed = order["status"] != "cancelled"
        if changed:
            order["status"] = "cancelled"
            order["cancel_reason"] = reason
            order["cancelled_at"] = order["updated_at"] = iso_utc(utcnow())
        body = {
            "id": order_id,
            "status": "cancelled",
            "external_ref": order["external_ref"],
            "cancelled_at": order.get("cancelled_at") or order["updated_at"],
        }
        return 200, body, changed

    # -- /_sim ----------------------------------------------------------------------------

    def sim_state(self, request: Request) -> Response:
        with self._lock:
            by_status = Counter(order["status"] for order in self._orders.values())
            count = len(self._orders)
        return json_response(
            {
                "sales_orders": count,
                "requests": self.request_count,
                "by_status": dict(by_status),
                "faults": self.faults.snapshot(),
            }
        )

    def sim_orders(self, request: Request) -> Response:
        return json_response(self.orders())

    def sim_set_status(self, request: Request) -> Response:
        """Move an order along the ERP lifecycle (for reconciliation scenarios)."""
        try:
            payload = request.json()
        except ValueError:
            return json_response({"error": "invalid JSON body"}, 400)
        status = payload.get("status") if isinstance(payload, dict) else None
        if status not in ORDER_STATUSES:
            return json_response({"error": f"status must be one of {list(ORDER_STATUSES)}"}, 400)
        with self._lock:
            order = self._orders.get(request.params["order_id"])
            if order is None:
                return json_response({"error": "not found"}, 404)
            order["status"] = status
            order["updated_at"] = iso_utc(utcnow())
            result = json.loads(json.dumps(order))
        return json_response(result)
