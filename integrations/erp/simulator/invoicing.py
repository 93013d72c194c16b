"""Order-to-cash side of the ERP simulator: shipment confirmations (deliveries), invoices issued
after each delivery, credit memos and ERP-side cancels, sent as signed webhooks
(see docs/contracts/erp.md). Mixed into :class:`~integrations.erp.simulator.server.ErpSimulator`,
whose lock, orders and idempotency store it shares.
"""

from __future__ import annotations

import json
import logging
import threading
import time
from decimal import Decimal
from typing import Any

from integrations.erp.simulator.documents import (
    AMOUNT_KEYS,
    CENT,
    ZERO,
    allocate,
    check_shipment_against_order,
    document_line,
    document_totals,
    invoice_lines,
    money,
    payload_fingerprint,
    prorate,
    q2,
    shipping_amounts,
    split_gross,
    validate_credit_request,
    validate_shipment,
)
from integrations.simhooks import SignedWebhookSender
from integrations.simkit import (
    FaultPlan,
    HTTPError,
    Request,
    Response,
    iso_utc,
    json_response,
    utcnow,
)

logger = logging.getLogger(__name__)

WEBHOOK_HEADER = "ERP-Signature"
EVENT_TYPES = ("invoice.issued", "credit_memo.issued", "sales_order.cancelled")
IDEMPOTENCY_CONFLICT = {"error": "idempotency key reused with a different payload"}

Portion = tuple[dict[str, Any], int, dict[str, Decimal]]


def _copy(value: Any) -> Any:
    return json.loads(json.dumps(value))


def _validation_failed(fields: dict[str, str]) -> Response:
    return json_response({"error": "validation failed", "fields": fields}, 400)


def validate_config(config: Any) -> dict[str, str]:
    if not isinstance(config, dict):
        return {"_": "body must be a JSON object"}
    errors: dict[str, str] = {}
    for key, value in config.items():
        if key == "invoice_after_s":
            if isinstance(value, bool) or not isinstance(value, int | float) or value < 0:
                errors[key] = "must be a number >= 0"
        elif key == "auto_invoice":
            if not isinstance(value, bool):
                errors[key] = "must be a boolean"
        else:
            errors[key] = "unknown config key"
    return errors


class InvoicingMixin:
    """Deliveries, invoices, credit memos and webhooks; state under the simulator's lock."""

    # Provided by ErpSimulator / JsonHTTPServer.
    _lock: threading.RLock
    _orders: dict[str, dict[str, Any]]
    _idempotency: dict[str, tuple[str, int, dict[str, Any]]]
    faults: FaultPlan

    def init_invoicing(self, *, invoice_after_s: float, auto_invoice: bool) -> None:
        errors = validate_config({"invoice_after_s": invoice_after_s, "auto_invoice": auto_invoice})
        if errors:
            raise ValueError(f"invalid invoicing config: {errors}")
        self._config_defaults = {
            "invoice_after_s": float(invoice_after_s),
            "auto_invoice": auto_invoice,
        }
        self._config = dict(self._config_defaults)
        self._deliveries: dict[str, dict[str, Any]] = {}
        self._invoices: dict[str, dict[str, Any]] = {}
        self._credit_memos: dict[str, dict[str, Any]] = {}
        self._pending_invoices: dict[str, float] = {}  # delivery id -> monotonic due time
        self._credited: dict[tuple[str, int], dict[str, Any]] = {}  # (invoice, line_number)
        self._delivery_sequence = self._invoice_sequence = self._credit_sequence = 0
        self._invoice_wakeup = threading.Event()
        self._invoicer: threading.Thread | None = None
        self.sender = SignedWebhookSender(self, header=WEBHOOK_HEADER)
        self.sender.install_sim_routes()

        route = self.route
        order = r"/api/v1/sales-orders/(?P<order_id>[^/]+)"
        route("POST", order + r"/shipments/?", self.create_shipment)
        route("GET", r"/api/v1/deliveries/?", self.list_deliveries)
        route("GET", r"/api/v1/deliveries/(?P<delivery_id>[^/]+)/?", self.get_delivery)
        route("GET", r"/api/v1/invoices/?", self.list_invoices)
        route("GET", r"/api/v1/invoices/(?P<invoice_id>[^/]+)/?", self.get_invoice)
        route("GET", r"/api/v1/credit-memos/?", self.list_credit_memos)
        route("GET", r"/api/v1/credit-memos/(?P<memo_id>[^/]+)/?", self.get_credit_memo)
        sim = r"/_sim/sales-orders/(?P<order_id>[^/]+)"
        route("POST", sim + r"/cancel", self.sim_cancel)
        route("POST", sim + r"/credit-memos", self.sim_credit_memo)
        route("POST", r"/_sim/deliveries/(?P<delivery_id>[^/]+)/invoice", self.sim_invoice)
        route("GET", r"/_sim/config", self.sim_get_config)
        route("POST", r"/_sim/config", self.sim_set_config)
        route("GET", r"/_sim/documents", self.sim_documents)

    # -- lifecycle ------------------------------------------------------------------------

    def on_start(self) -> None:
        super().on_start()
        self.sender.start()
        if self._invoicer is None:
            self._invoicer = threading.Thread(
                target=self._invoice_loop, name="erp-simulator-invoicer", daemon=True
            )
            self._invoicer.start()

    def on_stop(self) -> None:
        super().on_stop()
        self._invoice_wakeup.set()

    def reset_invoicing(self) -> None:
        with self._lock:
            self._config = dict(self._config_defaults)
            for store in (self._deliveries, self._invoices, self._credit_memos):
                store.clear()
            self._pending_invoices.clear()
            self._credited.clear()
            self._delivery_sequence = self._invoice_sequence = self._credit_sequence = 0
            self.sender.reset()
        self._invoice_wakeup.set()

    def config(self) -> dict[str, Any]:
        with self._lock:
            return dict(self._config)

    def configure(self, changes: dict[str, Any]) -> dict[str, Any]:
        errors = validate_config(changes)
        if errors:
            raise ValueError(errors)
        with self._lock:
            self._config.update(changes)
            if "invoice_after_s" in changes:
                self._config["invoice_after_s"] = float(changes["invoice_after_s"])
            config = dict(self._config)
        self._invoice_wakeup.set()
        return config

    # -- helpers --------------------------------------------------------------------------

    def _guard(self, request: Request) -> None:
        if not self._authorized(request):
            raise HTTPError(
                401, {"error": "unauthorized"}, {"WWW-Authenticate": 'Bearer realm="erp"'}
            )

    @staticmethod
    def _body(request: Request, *, optional: bool) -> Any:
        if optional and not request.body:
            return {}
        try:
            return request.json()
        except (ValueError, UnicodeDecodeError):
            raise HTTPError(400, {"error": "invalid JSON body", "fields": {}}) from None

    @staticmethod
    def _scoped(request: Request, kind: str, subject: str) -> str | None:
        key = (request.header("Idempotency-Key") or "").strip()
        return f"{kind}:{subject}:{key}" if key else None

    def _replay(self, scoped: str | None, fingerprint: str) -> Response | None:
        """Under the lock: the stored answer for this key, or 422 when the body differs."""
        if scoped is None or scoped not in self._idempotency:
            return None
        stored_fingerprint, status, body = self._idempotency[scoped]
        if stored_fingerprint != fingerprint:
            return json_response(dict(IDEMPOTENCY_CONFLICT), 422)
        return json_response(_copy(body), status, {"Idempotent-Replayed": "true"})

    def _remember(self, scoped: str | None, fingerprint: str, status: int, body: Any) -> None:
        if scoped is not None:
            self._idempotency[scoped] = (fingerprint, status, _copy(body))

    def _order(self, order_id: str) -> dict[str, Any]:
        order = self._orders.get(order_id)
        if order is None:
            raise HTTPError(404, {"error": "not found"})
        return order

    def _take_fault(self, key: str) -> bool:
        remaining = int(self.faults.snapshot().get(key, 0))
        if remaining > 0:
            self.faults.update({key: remaining - 1})
        return remaining > 0

    # -- shipments ------------------------------------------------------------------------

    def create_shipment(self, request: Request) -> Response:
        """``POST /api/v1/sales-orders/<id>/shipments``: confirm a shipment as a delivery."""
        self._guard(request)
        payload = self._body(request, optional=False)
        errors = validate_shipment(payload)
        if errors:
            return _validation_failed(errors)
        order_id = request.params["order_id"]
        scoped = self._scoped(request, "shipment", order_id)
        fingerprint = payload_fingerprint(payload)
        with self._lock:
            replay = self._replay(scoped, fingerprint)
            if replay is not None:
                return replay
            order = self._order(order_id)
            existing = [
                self._deliveries[delivery_id]
                for delivery_id in order["deliveries"]
                if self._deliveries[delivery_id]["shipment_ref"] == payload["shipment_ref"]
            ]
            if existing:
                status, body = 200, _copy(existing[0])
            elif order["status"] == "cancelled":
                return json_response(
                    {
                        "error": "sales order is cancelled and can no longer be shipped",
                        "id": order_id,
                        "status": "cancelled",
                    },
                    409,
                )
            else:
                errors = check_shipment_against_order(order, payload["lines"])
                if errors:
                    return _validation_failed(errors)
                status, body = 201, _copy(self._deliver_locked(order, payload))
            self._remember(scoped, fingerprint, status, body)
        if status == 201:
            self._invoice_wakeup.set()
            logger.info("delivery %s for %s", body["id"], order_id)
        return json_response(body, status, {"Location": f"/api/v1/deliveries/{body['id']}"})

    def _deliver_locked(self, order: dict[str, Any], payload: dict[str, Any]) -> dict[str, Any]:
        self._delivery_sequence += 1
        delivery_id = f"DN-{self._delivery_sequence:06d}"
        now = iso_utc(utcnow())
        lines = [
            {"line_number": ln["line_number"], "sku": ln["sku"], "quantity": ln["quantity"]}
            for ln in payload["lines"]
        ]
        delivery = {
            "id": delivery_id,
            "object": "delivery",
            "sales_order": order["id"],
            "shipment_ref": payload["shipment_ref"],
            "status": "confirmed",
            "shipped_at": payload["shipped_at"],
            "carrier": payload.get("carrier"),
            "tracking_number": payload.get("tracking_number"),
            "lines": lines,
            "invoice": None,
            "created_at": now,
        }
        self._deliveries[delivery_id] = delivery
        by_number = {line["line_number"]: line for line in order["lines"]}
        for line in lines:
            by_number[line["line_number"]]["delivered"] += line["quantity"]
        order["deliveries"].append(delivery_id)
        complete = all(line["delivered"] >= line["quantity"] for line in order["lines"])
        order["status"] = "shipped" if complete else "confirmed"
        order["updated_at"] = now
        due = time.monotonic() + float(self._config["invoice_after_s"])
        self._pending_invoices[delivery_id] = due
        return delivery

    def list_deliveries(self, request: Request) -> Response:
        self._guard(request)
        return self._listing(self._deliveries, sales_order=request.arg("sales_order"))

    def get_delivery(self, request: Request) -> Response:
        self._guard(request)
        return self._one(self._deliveries, request.params["delivery_id"])

    # -- invoices -------------------------------------------------------------------------

    def _invoice_loop(self) -> None:
        while not self.stopping.is_set():
            self._invoice_wakeup.clear()
            try:
                wait = self.issue_due_invoices()
            except Exception:
                logger.exception("invoicing failed")
                wait = 1.0
            self._invoice_wakeup.wait(timeout=min(wait, 1.0))

    def issue_due_invoices(self) -> float:
        """Invoice every delivery whose time has come (when ``auto_invoice``); the seconds until
        the next one is due."""
        with self._lock:
            if not self._config["auto_invoice"]:
                return 1.0
            now = time.monotonic()
            for delivery_id, due in list(self._pending_invoices.items()):
                if due <= now:
                    self._invoice_locked(self._deliveries[delivery_id])
            upcoming = [due - now for due in self._pending_invoices.values()]
        return max(0.0, min(upcoming)) if upcoming else 1.0

    def _invoice_locked(self, delivery: dict[str, Any]) -> dict[str, Any]:
        order = self._orders[delivery["sales_order"]]
        earlier = [self._invoices[invoice_id] for invoice_id in order["invoices"]]
        lines = invoice_lines(order, delivery["lines"], earlier)
        shipping_net, shipping_tax = (ZERO, ZERO) if earlier else shipping_amounts(order)
        totals = document_totals(lines, shipping_net, shipping_tax)
        if self._take_fault("bad_invoice_totals_next"):
            totals["tax_total"] = money(Decimal(totals["tax_total"]) + CENT)
            totals["total"] = money(Decimal(totals["total"]) + CENT)
        self._invoice_sequence += 1
        moment = utcnow()
        invoice = {
            "id": f"INV-{self._invoice_sequence:06d}",
            "object": "invoice",
            "number": f"INV-{moment.year}-{self._invoice_sequence:06d}",
            "sales_order": order["id"],
            "external_ref": order["external_ref"],
            "correlation_id": order["correlation_id"],
            "delivery": delivery["id"],
            "shipment_ref": delivery["shipment_ref"],
            "currency": order["currency"],
            "lines": lines,
            "shipping_net": money(shipping_net),
            "shipping_tax": money(shipping_tax),
            "shipping_tax_code": order.get("shipping_tax_code") or "STD",
            **totals,
            "issued_at": iso_utc(moment),
        }
        self._invoices[invoice["id"]] = invoice
        self._pending_invoices.pop(delivery["id"], None)
        delivery["invoice"] = invoice["id"]
        order["invoices"].append(invoice["id"])
        by_number = {line["line_number"]: line for line in order["lines"]}
        for line in lines:
            by_number[line["line_number"]]["invoiced"] += line["quantity"]
        if order["status"] != "cancelled" and all(
            line["invoiced"] >= line["quantity"] for line in order["lines"]
        ):
            order["status"] = "invoiced"
        order["updated_at"] = invoice["issued_at"]
        self.sender.emit("invoice.issued", invoice)
        logger.info("invoice %s for %s (%s)", invoice["id"], order["id"], delivery["id"])
        return invoice

    def sim_invoice(self, request: Request) -> Response:
        """``POST /_sim/deliveries/<id>/invoice``: invoice a delivery now (auto_invoice off)."""
        with self._lock:
            delivery = self._deliveries.get(request.params["delivery_id"])
            if delivery is None:
                return json_response({"error": "not found"}, 404)
            if delivery["invoice"] is not None:
                return json_response(
                    {
                        "error": f"delivery {delivery['id']} is already invoiced",
                        "invoice": delivery["invoice"],
                    },
                    409,
                )
            invoice = _copy(self._invoice_locked(delivery))
        return json_response(invoice, 201)

    def list_invoices(self, request: Request) -> Response:
        self._guard(request)
        return self._listing(self._invoices, sales_order=request.arg("sales_order"))

    def get_invoice(self, request: Request) -> Response:
        self._guard(request)
        return self._one(self._invoices, request.params["invoice_id"])

    # -- credit memos ---------------------------------------------------------------------

    def sim_credit_memo(self, request: Request) -> Response:
        """``POST /_sim/sales-orders/<id>/credit-memos``: a credit note raised in the ERP."""
        payload = self._body(request, optional=False)
        errors = validate_credit_request(payload)
        if errors:
            return _validation_failed(errors)
        order_id = request.params["order_id"]
        scoped = self._scoped(request, "credit-memo", order_id)
        fingerprint = payload_fingerprint(payload)
        with self._lock:
            replay = self._replay(scoped, fingerprint)
            if replay is not None:
                return replay
            order = self._order(order_id)
            if not order["invoices"]:
                return json_response(
                    {"error": "sales order has no invoice to credit", "id": order_id}, 409
                )
            invoice_id = payload.get("invoice")
            if invoice_id is not None and invoice_id not in order["invoices"]:
                return _validation_failed(
                    {"invoice": f"no invoice {invoice_id} on sales order {order_id}"}
                )
            creditables = self._creditables([invoice_id] if invoice_id else order["invoices"])
            if payload.get("amount") is not None:
                errors, portions = self._credit_amount(creditables, Decimal(payload["amount"]))
            else:
                requested = payload.get("lines") or self._remaining_lines(order, creditables)
                errors, portions = self._credit_quantities(order, creditables, requested)
            if errors:
                return _validation_failed(errors)
            if not portions:
                return json_response(
                    {"error": f"nothing left to credit on sales order {order_id}", "id": order_id},
                    409,
                )
            memo = self._issue_credit_memo(order, invoice_id, portions, payload["reason"])
            for item in creditables:
                key = (item["invoice"], item["line"]["line_number"])
                self._credited[key] = {"quantity": item["credited_quantity"], **item["credited"]}
            body = _copy(memo)
            self._remember(scoped, fingerprint, 201, body)
        return json_response(body, 201, {"Location": f"/api/v1/credit-memos/{body['id']}"})

    def _creditables(self, invoice_ids: list[str]) -> list[dict[str, Any]]:
        """Working copies of what each invoice line has had credited so far."""
        result = []
        for invoice_id in invoice_ids:
            for line in self._invoices[invoice_id]["lines"]:
                done = self._credited.get((invoice_id, line["line_number"]), {})
                result.append(
                    {
                        "invoice": invoice_id,
                        "line": line,
                        "credited_quantity": int(done.get("quantity", 0)),
                        "credited": {key: done.get(key, Decimal(0)) for key in AMOUNT_KEYS},
                    }
                )
        return result

    @staticmethod
    def _remaining_lines(
        order: dict[str, Any], creditables: list[dict[str, Any]]
    ) -> list[dict[str, Any]]:
        remaining: dict[int, int] = {}
        for item in creditables:
            left = item["line"]["quantity"] - item["credited_quantity"]
            number = item["line"]["line_number"]
            remaining[number] = remaining.get(number, 0) + left
        return [
            {"line_number": number, "quantity": quantity}
            for number, quantity in remaining.items()
            if quantity > 0
        ]

    @staticmethod
    def _credit_quantities(
        order: dict[str, Any], creditables: list[dict[str, Any]], requested: list[dict[str, Any]]
    ) -> tuple[dict[str, str], list[Portion]]:
        """Credit quantities of lines, from the earliest invoice on, pro rata of each invoice
        line (the credit that completes an invoice line takes its remainder)."""
        numbers = {line["line_number"] for line in order["lines"]}
        errors: dict[str, str] = {}
        portions: list[Portion] = []
        for index, wanted in enumerate(requested):
            number, quantity = wanted["line_number"], wanted["quantity"]
            if number not in numbers:
                errors[f"lines[{index}].line_number"] = (
                    f"no line {number} on sales order {order['id']}"
                )
                continue
            pool = [item for item in creditables if item["line"]["line_number"] == number]
            available = sum(item["line"]["quantity"] - item["credited_quantity"] for item in pool)
            if quantity > available:
                errors[f"lines[{index}].quantity"] = (
                    f"exceeds the {available} still to credit on line {number}"
                )
                continue
            left = quantity
            for item in pool:
                whole, done_quantity = item["line"]["quantity"], item["credited_quantity"]
                take = min(left, whole - done_quantity)
                if take <= 0:
                    continue
                line, done = item["line"], item["credited"]
                amounts = {
                    key: prorate(Decimal(line[key]), done[key], take, done_quantity, whole)
                    for key in AMOUNT_KEYS
                }
                item["credited_quantity"] += take
                for key in AMOUNT_KEYS:
                    item["credited"][key] += amounts[key]
                portions.append((item, take, amounts))
                left -= take
                if left == 0:
                    break
        return errors, portions

    @staticmethod
    def _credit_amount(
        creditables: list[dict[str, Any]], gross: Decimal
    ) -> tuple[dict[str, str], list[Portion]]:
        """Credit a gross amount pro rata of what is left on each invoice line (quantity 0)."""
        gross = q2(gross)
        lefts = [
            {key: Decimal(item["line"][key]) - item["credited"][key] for key in ("net", "tax")}
            for item in creditables
        ]
        capacities = [max(ZERO, left["net"] + left["tax"]) for left in lefts]
        available = sum(capacities, Decimal(0))
        if gross > available:
            return {"amount": f"exceeds the {money(available)} still to credit"}, []
        portions: list[Portion] = []
        for item, left, part in zip(creditables, lefts, allocate(gross, capacities), strict=True):
            if part <= 0:
                continue
            amounts = split_gross(part, left["net"], left["tax"])
            for key in AMOUNT_KEYS:
                item["credited"][key] += amounts[key]
            portions.append((item, 0, amounts))
        return {}, portions

    def _issue_credit_memo(
        self,
        order: dict[str, Any],
        invoice_id: str | None,
        portions: list[Portion],
        reason: str,
    ) -> dict[str, Any]:
        merged: dict[int, tuple[int, dict[str, Decimal]]] = {}
        for item, quantity, amounts in portions:
            number = item["line"]["line_number"]
            done_quantity, done = merged.get(number, (0, dict.fromkeys(AMOUNT_KEYS, ZERO)))
            merged[number] = (
                done_quantity + quantity,
                {key: done[key] + amounts[key] for key in AMOUNT_KEYS},
            )
        by_number = {line["line_number"]: line for line in order["lines"]}
        lines = [
            document_line(by_number[number], quantity, amounts)
            for number, (quantity, amounts) in merged.items()
        ]
        touched = {item["invoice"] for item, _, _ in portions}
        self._credit_sequence += 1
        moment = utcnow()
        memo = {
            "id": f"CM-{self._credit_sequence:06d}",
            "object": "credit_memo",
            "number": f"CM-{moment.year}-{self._credit_sequence:06d}",
            "invoice": invoice_id or (touched.pop() if len(touched) == 1 else None),
            "sales_order": order["id"],
            "external_ref": order["external_ref"],
            "correlation_id": order["correlation_id"],
            "currency": order["currency"],
            "lines": lines,
            **document_totals(lines),
            "reason": reason,
            "issued_at": iso_utc(moment),
        }
        self._credit_memos[memo["id"]] = memo
        order["credit_memos"].append(memo["id"])
        order["updated_at"] = memo["issued_at"]
        self.sender.emit("credit_memo.issued", memo)
        logger.info("credit memo %s for %s", memo["id"], order["id"])
        return memo

    def list_credit_memos(self, request: Request) -> Response:
        self._guard(request)
        return self._listing(
            self._credit_memos,
            sales_order=request.arg("sales_order"),
            invoice=request.arg("invoice"),
        )

    def get_credit_memo(self, request: Request) -> Response:
        self._guard(request)
        return self._one(self._credit_memos, request.params["memo_id"])

    # -- ERP-side cancel ------------------------------------------------------------------

    def sim_cancel(self, request: Request) -> Response:
        """``POST /_sim/sales-orders/<id>/cancel``: the ERP cancels the order (same rules as the
        API cancel) and sends ``sales_order.cancelled``."""
        payload = self._body(request, optional=True)
        if not isinstance(payload, dict):
            return _validation_failed({"_": "body must be a JSON object"})
        reason = payload.get("reason", "")
        if not isinstance(reason, str):
            return _validation_failed({"reason": "must be a string"})
        order_id = request.params["order_id"]
        scoped = self._scoped(request, "erp-cancel", order_id)
        fingerprint = payload_fingerprint(payload)
        with self._lock:
            replay = self._replay(scoped, fingerprint)
            if replay is not None:
                return replay
            status, body, changed = self.cancel_locked(order_id, reason)
            if status != 200:
                return json_response(body, status)
            if changed:
                self.sender.emit("sales_order.cancelled", self._orders[order_id])
            self._remember(scoped, fingerprint, status, body)
        return json_response(body, status)

    # -- listings and /_sim ---------------------------------------------------------------

    def _listing(self, store: dict[str, dict[str, Any]], **filters: str | None) -> Response:
        with self._lock:
            results = [
                _copy(item)
                for item in store.values()
                if all(value is None or item.get(key) == value for key, value in filters.items())
            ]
        return json_response({"count": len(results), "results": results})

    def _one(self, store: dict[str, dict[str, Any]], item_id: str) -> Response:
        with self._lock:
            item = store.get(item_id)
            item = _copy(item) if item is not None else None
        if item is None:
            return json_response({"error": "not found"}, 404)
        return json_response(item)

    def sim_get_config(self, request: Request) -> Response:
        return json_response(self.config())

    def sim_set_config(self, request: Request) -> Response:
        payload = self._body(request, optional=False)
        errors = validate_config(payload)
        if errors:
            return _validation_failed(errors)
        return json_response(self.configure(payload))

    def sim_documents(self, request: Request) -> Response:
        with self._lock:
            body = {
                "deliveries": [_copy(d) for d in self._deliveries.values()],
                "invoices": [_copy(i) for i in self._invoices.values()],
                "credit_memos": [_copy(c) for c in self._credit_memos.values()],
                "pending_invoices": sorted(self._pending_invoices),
            }
        body["pending_webhooks"] = self.sender.pending()
        return json_response(body)
