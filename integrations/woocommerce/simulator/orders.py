"""Orders: ``/orders`` list, create, get, update, delete."""

from __future__ import annotations

import json
import logging
import secrets
import string
from datetime import datetime
from decimal import ROUND_HALF_UP, Decimal, InvalidOperation
from typing import Any

from integrations.simkit import Request, Response, json_response
from integrations.woocommerce.simulator.common import (
    CENT,
    FLAT_SHIPPING,
    ORDER_STATUSES,
    STOCK_REDUCING_STATUSES,
    VAT_PERCENT,
    VAT_RATE,
    WC_VERSION,
    WooOrder,
    invalid_param,
    money,
    not_one_of,
    now_s,
    wc_error,
    wp_bool,
)

ORDER_ORDERBY = ("date", "id", "include", "title", "slug", "modified")

logger = logging.getLogger(__name__)


class OrdersMixin:
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
            "refunds": [
                {"id": r.id, "reason": r.reason, "total": f"-{r.amount}"}
                for r in sorted(order.refunds, key=lambda r: r.id, reverse=True)
            ],
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
        product = self._find_purchasable(line)
        return self._line_source(product) if product is not None else None

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
            self._adjust_sku_stock(line["sku"], sign * int(line["quantity"]))

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
            return invalid_param({"status": not_one_of("status", ORDER_STATUSES)})
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
        query = self._list_query(
            request,
            statuses=("any", "trash", *ORDER_STATUSES[:-1]),
            orderby=ORDER_ORDERBY,
            status_is_array=True,
        )
        if isinstance(query, Response):
            return query
        customer = request.arg("customer")
        if customer is not None and not customer.isdigit():
            return invalid_param({"customer": "customer is not of type integer."})
        wanted = set(query.statuses) - {"any"}
        with self._lock:
            selected = []
            for order in self._orders.values():
                status = order.data["status"]
                if wanted and status not in wanted:
                    continue
                if not wanted and status == "trash":
                    continue
                if customer is not None and order.data["customer_id"] != int(customer):
                    continue
                if not query.keeps(
                    id=order.id,
                    created=order.created,
                    modified=order.modified,
                    text=_search_text(order),
                ):
                    continue
                selected.append(order)
            selected = query.sort(
                selected,
                {
                    "id": lambda o: o.id,
                    "date": lambda o: o.created,
                    "modified": lambda o: o.modified,
                    "title": lambda o: o.id,
                    "slug": lambda o: o.id,
                },
            )
            page = self._paginate(request, selected, "orders", offset=query.offset)
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
            return invalid_param({"status": not_one_of("status", ORDER_STATUSES)})
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
        force = wp_bool(request.arg("force"))
        if force is None and request.arg("force") is not None:
            return invalid_param({"force": "force is not of type boolean."})
        with self._lock:
            order = self._orders.get(order_id)
            if order is None:
                return wc_error("woocommerce_rest_shop_order_invalid_id", "Invalid ID.", 404)
            if force:
                body = self.render_order(order)
                del self._orders[order_id]
            else:
                if order.data["status"] == "trash":
                    return wc_error(
                        "woocommerce_rest_already_trashed",
                        "The shop_order has already been deleted.",
                        410,
                    )
                order.trashed_from = order.data["status"]
                order.data["status"] = "trash"
                order.modified = now_s()
                body = self.render_order(order)
        self._fire("order.deleted", order_id, deleted_payload={"id": order_id})
        return json_response(body)

    def restore_order(self, order_id: int) -> dict[str, Any] | None:
        """Untrash an order back to the status it had (the REST API has no untrash)."""
        with self._lock:
            order = self._orders.get(order_id)
            if order is None or order.data["status"] != "trash":
                return None
            order.data["status"] = order.trashed_from or "pending"
            order.trashed_from = None
            order.modified = now_s()
            body = self.render_order(order)
        self._fire("order.restored", order_id)
        return body


def _search_text(order: WooOrder) -> str:
    d = order.data
    parts = [str(order.id), d["billing"].get("email", ""), d["transaction_id"]]
    for key in ("billing", "shipping"):
        parts += [d[key].get(f) or "" for f in ("first_name", "last_name", "company", "city")]
    parts += [line["name"] + " " + line["sku"] for line in d["line_items"]]
    return " ".join(parts)
