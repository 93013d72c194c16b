"""Order refunds: ``/orders/<id>/refunds`` list, create, get, delete (``wc_create_refund``)."""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal, InvalidOperation
from typing import Any

from integrations.simkit import Request, Response, json_response
from integrations.woocommerce.simulator.common import (
    CENT,
    WooOrder,
    invalid_param,
    money,
    now_s,
    wc_error,
    wp_bool,
)

logger = logging.getLogger(__name__)

# Gateways the simulated shop has, and whether they can refund through their API.
GATEWAY_REFUNDS = {
    "stripe": True,
    "woocommerce_payments": True,
    "ppcp-gateway": True,
    "paypal": True,
    "bacs": False,
    "cheque": False,
    "cod": False,
}
CANNOT_CREATE = "woocommerce_rest_cannot_create_order_refund"


@dataclass
class WooRefund:
    id: int
    order_id: int
    amount: str
    reason: str
    refunded_payment: bool
    created: datetime
    line_items: list[dict[str, Any]] = field(default_factory=list)
    shipping_lines: list[dict[str, Any]] = field(default_factory=list)
    meta_data: list[dict[str, Any]] = field(default_factory=list)


def _decimal(value: Any) -> Decimal | None:
    if isinstance(value, bool) or value is None:
        return None
    try:
        number = Decimal(str(value))
    except InvalidOperation:
        return None
    return number if number.is_finite() else None


class RefundsMixin:
    def render_refund(self, refund: WooRefund) -> dict[str, Any]:
        base = f"orders/{refund.order_id}/refunds"
        return {
            "id": refund.id,
            "date_created": self._local(refund.created),
            "date_created_gmt": self._gmt(refund.created),
            "amount": refund.amount,
            "reason": refund.reason,
            "refunded_by": 1,
            "refunded_payment": refund.refunded_payment,
            "meta_data": list(refund.meta_data),
            "line_items": [dict(li) for li in refund.line_items],
            "shipping_lines": [dict(sl) for sl in refund.shipping_lines],
            "tax_lines": [],
            "fee_lines": [],
            "_links": {
                "self": [{"href": self._rest_url(f"{base}/{refund.id}")}],
                "collection": [{"href": self._rest_url(base)}],
                "up": [{"href": self._rest_url(f"orders/{refund.order_id}")}],
            },
        }

    @staticmethod
    def _refunded_total(order: WooOrder) -> Decimal:
        return sum((Decimal(r.amount) for r in order.refunds), Decimal("0"))

    def _order_for_refunds(self, request: Request) -> WooOrder | Response:
        order = self._orders.get(int(request.params["order_id"]))
        if order is None:
            return wc_error("woocommerce_rest_invalid_order_id", "Invalid order ID.", 404)
        return order

    def _find_refund(self, request: Request) -> tuple[WooOrder, WooRefund] | Response:
        refund_id = int(request.params["refund_id"])
        owner = next(
            (o for o in self._orders.values() if any(r.id == refund_id for r in o.refunds)), None
        )
        if owner is None:
            return wc_error("woocommerce_rest_shop_order_refund_invalid_id", "Invalid ID.", 404)
        order = self._order_for_refunds(request)
        if isinstance(order, Response):
            return order
        if order is not owner:
            return wc_error(
                "woocommerce_rest_invalid_order_refund_id", "Invalid order refund ID.", 404
            )
        return order, next(r for r in order.refunds if r.id == refund_id)

    def list_refunds(self, request: Request) -> Response:
        with self._lock:
            order = self._order_for_refunds(request)
            if isinstance(order, Response):
                return order
            refunds = sorted(order.refunds, key=lambda r: r.id, reverse=True)
            page = self._paginate(request, refunds, f"orders/{order.id}/refunds")
            if isinstance(page, Response):
                return page
            items, headers = page
            body = [self.render_refund(r) for r in items]
        return json_response(body, 200, headers)

    def get_refund(self, request: Request) -> Response:
        with self._lock:
            found = self._find_refund(request)
            if isinstance(found, Response):
                return found
            return json_response(self.render_refund(found[1]))

    def delete_refund(self, request: Request) -> Response:
        force = wp_bool(request.arg("force")) if request.arg("force") is not None else True
        if force is None:
            return invalid_param({"force": "force is not of type boolean."})
        if not force:
            return wc_error(
                "woocommerce_rest_trash_not_supported",
                "The shop_order_refund does not support trashing.",
                501,
            )
        with self._lock:
            found = self._find_refund(request)
            if isinstance(found, Response):
                return found
            order, refund = found
            body = self.render_refund(refund)
            order.refunds.remove(refund)
            order.modified = now_s()
        self._fire("order.updated", order.id)
        return json_response(body)

    def create_refund(self, request: Request) -> Response:
        payload = self._parse_json_object(request)
        if isinstance(payload, Response):
            return payload
        problem = _validate_refund_payload(payload)
        if problem is not None:
            return problem
        with self._lock:
            order = self._order_for_refunds(request)
            if isinstance(order, Response):
                return order
            result = self._create_refund_locked(order, payload)
            if isinstance(result, Response):
                return result
            body = self.render_refund(result)
        self._fire("order.updated", order.id)
        logger.info("refund %s of %s on order %s", result.id, result.amount, order.id)
        return json_response(body, 201, {"Location": body["_links"]["self"][0]["href"]})

    def _create_refund_locked(
        self, order: WooOrder, payload: dict[str, Any]
    ) -> WooRefund | Response:
        lines = {int(li["id"]): li for li in payload.get("line_items") or []}
        amount = _decimal(payload.get("amount"))
        if "amount" not in payload and lines:
            totals = [_decimal(li.get("refund_total")) for li in lines.values()]
            taxes = [
                _decimal(t.get("refund_total"))
                for li in lines.values()
                for t in li.get("refund_tax") or []
            ]
            if all(t is not None for t in totals + taxes):
                amount = sum((t for t in totals + taxes if t is not None), Decimal("0"))
        amount = amount if amount is not None else Decimal("0")
        if amount < 0:
            return wc_error(
                "woocommerce_rest_invalid_order_refund",
                "Refund amount must be greater than zero.",
                400,
            )
        remaining = Decimal(order.data["total"]) - self._refunded_total(order)
        if amount > remaining:
            return wc_error(CANNOT_CREATE, "Invalid refund amount.", 500)
        api_refund = payload.get("api_refund")
        api_refund = api_refund if isinstance(api_refund, bool) else True
        if api_refund:
            gateway = GATEWAY_REFUNDS.get(order.data["payment_method"])
            if gateway is None:
                return wc_error(
                    CANNOT_CREATE, "The payment gateway for this order does not exist.", 500
                )
            if not gateway:
                return wc_error(
                    CANNOT_CREATE,
                    "The payment gateway for this order does not support automatic refunds.",
                    500,
                )
        refund_lines, shipping_lines, restock = self._refund_lines(order, lines)
        refund = WooRefund(
            id=self._next_order_id,
            order_id=order.id,
            amount=money(amount.quantize(CENT)),
            reason=str(payload.get("reason") or ""),
            refunded_payment=api_refund,
            created=now_s(),
            line_items=refund_lines,
            shipping_lines=shipping_lines,
            meta_data=[
                {"id": self._meta_id(), "key": str(m["key"]), "value": m.get("value")}
                for m in payload.get("meta_data") or []
                if isinstance(m, dict) and "key" in m
            ],
        )
        self._next_order_id += 1
        order.refunds.append(refund)
        api_restock = payload.get("api_restock")
        if (api_restock if isinstance(api_restock, bool) else True) and order.stock_reduced:
            for sku, quantity in restock:
                self._adjust_sku_stock(sku, quantity)
        if remaining - amount <= 0:
            order.data["status"] = "refunded"
        order.modified = now_s()
        return refund

    def _refund_lines(
        self, order: WooOrder, lines: dict[int, dict[str, Any]]
    ) -> tuple[list[dict[str, Any]], list[dict[str, Any]], list[tuple[str, int]]]:
        refund_lines: list[dict[str, Any]] = []
        shipping: list[dict[str, Any]] = []
        restock: list[tuple[str, int]] = []
        items = order.data["line_items"] + order.data["shipping_lines"]
        for item in items:
            spec = lines.get(item["id"])
            if spec is None:
                continue
            quantity = int(spec.get("quantity") or 0)
            total = _decimal(spec.get("refund_total")) or Decimal("0")
            tax = sum(
                (
                    _decimal(t.get("refund_total")) or Decimal("0")
                    for t in spec.get("refund_tax") or []
                ),
                Decimal("0"),
            )
            if not quantity and not total and not tax:
                continue
            taxes = [
                {
                    "id": int(t.get("id") or 0),
                    "total": money(-(_decimal(t.get("refund_total")) or 0)),
                    "subtotal": money(-(_decimal(t.get("refund_total")) or 0)),
                }
                for t in spec.get("refund_tax") or []
            ]
            base = {
                "id": self._item_id(),
                "total": money(-total),
                "total_tax": money(-tax),
                "taxes": taxes,
                # WooCommerce names the order item a refund line gives back in this meta.
                "meta_data": [
                    {"id": self._meta_id(), "key": "_refunded_item_id", "value": str(item["id"])}
                ],
            }
            if "method_id" in item:
                shipping.append(
                    {**base, "method_title": item["method_title"], "method_id": item["method_id"]}
                )
                continue
            refund_lines.append(
                {
                    **base,
                    "name": item["name"],
                    "product_id": item["product_id"],
                    "variation_id": item["variation_id"],
                    "quantity": -quantity,
                    "tax_class": "",
                    "subtotal": money(-total),
                    "subtotal_tax": money(-tax),
                    "sku": item["sku"],
                    "price": float(-total / quantity) if quantity else 0.0,
                }
            )
            if quantity:
                restock.append((item["sku"], quantity))
        return refund_lines, shipping, restock


def _validate_refund_payload(payload: dict[str, Any]) -> Response | None:
    """What the route's schema refuses before ``wc_create_refund`` runs."""
    if "amount" in payload:
        if not isinstance(payload["amount"], str):
            return invalid_param({"amount": "amount is not of type string."})
        if _decimal(payload["amount"]) is None:
            return invalid_param({"amount": "amount is not a valid number."})
    if "reason" in payload and not isinstance(payload["reason"], str | None):
        return invalid_param({"reason": "reason is not of type string."})
    lines = payload.get("line_items")
    if lines is None:
        return None
    if not isinstance(lines, list):
        return invalid_param({"line_items": "line_items is not of type array."})
    for index, line in enumerate(lines):
        if not isinstance(line, dict):
            return invalid_param({"line_items": f"line_items[{index}] is not of type object."})
        if isinstance(line.get("id"), bool) or not isinstance(line.get("id"), int):
            return invalid_param({"line_items": f"line_items[{index}][id] is not of type integer."})
        quantity = line.get("quantity", 0)
        if isinstance(quantity, bool) or not isinstance(quantity, int) or quantity < 0:
            return invalid_param(
                {"line_items": f"line_items[{index}][quantity] is not of type integer."}
            )
        if "refund_total" in line and _decimal(line["refund_total"]) is None:
            return invalid_param(
                {"line_items": f"line_items[{index}][refund_total] is not of type number."}
            )
        taxes = line.get("refund_tax") or []
        if not isinstance(taxes, list) or not all(isinstance(t, dict) for t in taxes):
            return invalid_param(
                {"line_items": f"line_items[{index}][refund_tax] is not of type array."}
            )
    return None
