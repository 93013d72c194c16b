"""WooCommerce REST v3 order JSON → canonical order data. Pure functions, no I/O.

Text PostgreSQL cannot hold is made safe here, before anything is written: every translator first
passes the payload through :func:`storable`, which removes NUL (``\\u0000`` is valid JSON but no
PostgreSQL text or jsonb value may contain it) and replaces lone surrogates (``\\ud800``) with
U+FFFD, in keys and values at any depth. Identifiers that do not fit their column (order number,
status, SKU, line id) are refused naming the field — a :class:`TranslationError`, dead-lettered at
once; descriptive text (names, reasons, categories) is cut to its column.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

from controltower.catalog.choices import SystemKind
from controltower.catalog.services import ChannelProductData, ChannelSKUData
from controltower.core.money import MoneyError, to_decimal
from controltower.orders.choices import OrderState
from controltower.orders.services import ChannelOrderData, ChannelOrderLineData
from controltower.returns.services import ChannelRefundData, ChannelRefundLineData
from integrations.runtime.registry import PoisonMessage


class TranslationError(PoisonMessage):
    """The payload is not a WooCommerce order we can understand."""


_SURROGATE = re.compile("[\ud800-\udfff]")


def storable_text(value: str) -> str:
    """``value`` without NUL and with any lone surrogate replaced by U+FFFD."""
    if "\x00" in value:
        value = value.replace("\x00", "")
    if not value.isascii():
        value = _SURROGATE.sub("\ufffd", value)
    return value


def storable(value: Any) -> Any:
    """A JSON value with every string (keys included) made safe for PostgreSQL text and jsonb.

    Most payloads hold neither, and ``repr`` (C speed) shows both escaped (``\\x00``,
    ``\\udXXX``): only a payload whose repr holds one is rebuilt (a false alarm, a literal
    backslash in the text, only costs the rebuild)."""
    text = repr(value)
    if "\\x00" not in text and "\\ud" not in text:
        return value
    return _storable(value)


def _storable(value: Any) -> Any:
    if isinstance(value, str):
        return storable_text(value)
    if isinstance(value, dict):
        return {storable_text(str(k)): _storable(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_storable(v) for v in value]
    return value


def _fits(value: str, limit: int, *, where: str) -> str:
    if len(value) > limit:
        raise TranslationError(f"{where}: longer than {limit} characters")
    return value


def parse_gmt(value: Any, *, field: str) -> datetime:
    """WooCommerce ``*_gmt`` fields: ``2026-11-22T10:11:12`` in UTC, without an offset."""
    if not isinstance(value, str) or not value:
        raise TranslationError(f"{field}: missing")
    try:
        parsed = datetime.fromisoformat(value)
        return parsed.replace(tzinfo=UTC) if parsed.tzinfo is None else parsed.astimezone(UTC)
    except (ValueError, OverflowError) as exc:
        raise TranslationError(f"{field}: not a date: {value[:64]!r}") from exc


def _amount(payload: dict[str, Any], key: str, *, where: str = "order") -> Decimal:
    try:
        return to_decimal(payload.get(key) or "0")
    except MoneyError as exc:
        raise TranslationError(f"{where}.{key}: {exc}") from exc


def _name(address: dict[str, Any]) -> str:
    return " ".join(p for p in (address.get("first_name"), address.get("last_name")) if p).strip()


TRASH_STATUS = "trash"  # what WooCommerce's REST API shows for a trashed order

# What WooCommerce's core order statuses mean canonically: the mapping a new store's channel
# starts from (admins edit it per channel; ``checkout-draft`` and plugins' statuses are left
# to them).
STATUS_MAPPING: dict[str, OrderState] = {
    "pending": OrderState.PENDING_PAYMENT,
    "processing": OrderState.ACCEPTED,
    "on-hold": OrderState.ON_HOLD,
    "completed": OrderState.COMPLETED,
    "cancelled": OrderState.CANCELLED,
    "refunded": OrderState.REFUNDED,
    "failed": OrderState.FAILED,
}


def order_id_of(payload: Any) -> int:
    """The order id of any order body, including ``order.deleted``'s ``{"id": N}``."""
    if not isinstance(payload, dict):
        raise TranslationError("order payload must be a JSON object")
    order_id = payload.get("id")
    if isinstance(order_id, bool) or not isinstance(order_id, int) or order_id <= 0:
        raise TranslationError("id: missing or not a positive integer")
    return order_id


def order_modified_at(payload: dict[str, Any]) -> datetime:
    return parse_gmt(payload.get("date_modified_gmt"), field="date_modified_gmt")


def translate_order(payload: Any, *, source_system: str) -> ChannelOrderData:
    if not isinstance(payload, dict):
        raise TranslationError("order payload must be a JSON object")
    payload = storable(payload)
    order_id = payload.get("id")
    if not isinstance(order_id, int) or order_id <= 0:
        raise TranslationError("id: missing or not a positive integer")
    status = payload.get("status")
    if not isinstance(status, str) or not status:
        raise TranslationError("status: missing")
    _fits(status, 64, where="status")
    currency = payload.get("currency")
    if not isinstance(currency, str) or len(currency) != 3:
        raise TranslationError("currency: missing or not a 3-letter code")
    items = payload.get("line_items")
    if not isinstance(items, list):
        raise TranslationError("line_items: missing")

    lines: list[ChannelOrderLineData] = []
    for index, item in enumerate(items):
        where = f"line_items[{index}]"
        if not isinstance(item, dict):
            raise TranslationError(f"{where}: not an object")
        quantity = item.get("quantity")
        if not isinstance(quantity, int) or quantity <= 0:
            raise TranslationError(f"{where}.quantity: must be a positive integer")
        sku = item.get("sku") or f"woo-product-{item.get('variation_id') or item.get('product_id')}"
        sku = _fits(str(sku), 64, where=f"{where}.sku")
        subtotal = _amount(item, "subtotal", where=where)
        total = _amount(item, "total", where=where)
        lines.append(
            ChannelOrderLineData(
                external_id=_fits(str(item.get("id", index)), 100, where=f"{where}.id"),
                sku_code=sku,
                name=str(item.get("name") or sku)[:255],
                quantity=quantity,
                unit_price=(subtotal / quantity).quantize(Decimal("0.0001")),
                discount=max(subtotal - total, Decimal(0)),
                tax=_amount(item, "total_tax", where=where),
                total=total,
            )
        )

    billing = payload.get("billing") if isinstance(payload.get("billing"), dict) else {}
    shipping = payload.get("shipping") if isinstance(payload.get("shipping"), dict) else {}
    return ChannelOrderData(
        source_system=source_system,
        external_id=str(order_id),
        number=_fits(str(payload.get("number") or order_id), 64, where="number"),
        channel_status=status,
        currency=currency.upper(),
        subtotal=sum((line.unit_price * line.quantity for line in lines), Decimal(0)),
        discount=_amount(payload, "discount_total"),
        shipping=_amount(payload, "shipping_total"),
        tax=_amount(payload, "total_tax"),
        total=_amount(payload, "total"),
        placed_at=parse_gmt(payload.get("date_created_gmt"), field="date_created_gmt"),
        source_updated_at=order_modified_at(payload),
        customer_name=_name(billing)[:200],
        customer_email=str(billing.get("email") or "")[:254],
        billing_address=billing,
        shipping_address=shipping,
        payment_method=str(payload.get("payment_method") or "")[:64],
        lines=tuple(lines),
    )


# --- what a webhook body is about ----------------------------------------------------------
RESOURCES = ("order", "product", "coupon", "customer")  # WooCommerce's webhook resources
EVENTS = ("created", "updated", "deleted", "restored")
FULL_BODY_EVENTS = ("created", "updated", "restored")
ID_MAX = 2**63 - 1  # what a bigint holds: 19 digits


@dataclass(frozen=True)
class WebhookSubject:
    """What a signed body says it is about. ``resource`` is "" for ``{"id": N}`` (WooCommerce's
    deletion body, the same for every resource) and for a shape we do not know."""

    resource: str
    resource_id: str
    modified: str
    modified_at: datetime | None
    id_only: bool


def body_resource(payload: dict[str, Any]) -> str:
    """The resource a full body is, from its shape (WooCommerce sends the REST rendering of
    ``/wc/v3/<resource>s/<id>``, or ``{"action", "arg"}`` for an action topic)."""
    if "line_items" in payload or "order_key" in payload:
        return "order"
    if "type" in payload and any(
        key in payload for key in ("permalink", "sku", "price", "regular_price", "variations")
    ):
        return "product"
    if "discount_type" in payload:
        return "coupon"
    if "username" in payload or "role" in payload:
        return "customer"
    if set(payload) == {"action", "arg"}:
        return "action"
    return ""


def webhook_subject(payload: dict[str, Any]) -> WebhookSubject:
    """What a webhook body is about: its resource (by shape), id, ``date_modified_gmt`` as sent,
    and that time parsed (None when absent or unreadable). A body without a positive integer id
    that fits a bigint is refused (``TranslationError``), except an action's ``{action, arg}``."""
    id_only = set(payload) == {"id"}
    resource = "" if id_only else body_resource(payload)
    if resource == "action":
        return WebhookSubject("action", "", "", None, id_only=False)
    resource_id = payload.get("id")
    if isinstance(resource_id, bool) or not isinstance(resource_id, int) or resource_id <= 0:
        raise TranslationError("id: missing or not a positive integer")
    if resource_id > ID_MAX:
        raise TranslationError("id: out of range (at most 19 digits)")
    modified = payload.get("date_modified_gmt") or ""
    modified = modified if isinstance(modified, str) else json.dumps(modified, sort_keys=True)
    try:
        modified_at = order_modified_at(payload) if modified else None
    except TranslationError:
        modified_at = None
    return WebhookSubject(resource, str(resource_id), modified, modified_at, id_only=id_only)


# --- refunds -------------------------------------------------------------------------------------
def _positive_id(value: Any, *, where: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value <= 0:
        raise TranslationError(f"{where}: missing or not a positive integer")
    return value


def _refund_amount(value: Any, *, where: str) -> Decimal:
    """WooCommerce renders refund money negative (``"-10.00"``); we hold it positive."""
    if value is None or value == "":
        raise TranslationError(f"{where}: missing")
    try:
        return abs(to_decimal(value))
    except MoneyError as exc:
        raise TranslationError(f"{where}: {exc}") from exc


def translate_order_refunds(payload: Any) -> tuple[ChannelRefundData, ...]:
    """The ``refunds`` summary WooCommerce renders in an order: ``[{id, reason, total}]``."""
    if not isinstance(payload, dict):
        raise TranslationError("order payload must be a JSON object")
    payload = storable(payload)
    refunds = payload.get("refunds", [])
    if refunds is None:
        return ()
    if not isinstance(refunds, list):
        raise TranslationError("refunds: not a list")
    result: list[ChannelRefundData] = []
    for index, item in enumerate(refunds):
        where = f"refunds[{index}]"
        if not isinstance(item, dict):
            raise TranslationError(f"{where}: not an object")
        refund_id = _positive_id(item.get("id"), where=f"{where}.id")
        amount = _refund_amount(item.get("total"), where=f"{where}.total")
        if amount == 0:
            raise TranslationError(f"{where}.total: a refund of 0")
        result.append(
            ChannelRefundData(
                external_id=str(refund_id),
                amount=amount,
                reason=str(item.get("reason") or "")[:255],
            )
        )
    return tuple(result)


def _refunded_item_id(item: dict[str, Any]) -> Any:
    """The order item a refund line gives back: WooCommerce's ``_refunded_item_id`` meta."""
    for meta in item.get("meta_data") or ():
        if isinstance(meta, dict) and meta.get("key") == "_refunded_item_id":
            return meta.get("value")
    return item.get("refunded_item_id")


def translate_refund_lines(
    payload: Any, *, order_external_id: str
) -> tuple[ChannelRefundLineData, ...]:
    """A refund from ``GET /orders/<id>/refunds/<rid>``: its ``line_items`` (quantities and
    money negative, each naming its order item in the ``_refunded_item_id`` meta)."""
    if not isinstance(payload, dict):
        raise TranslationError("refund payload must be a JSON object")
    payload = storable(payload)
    items = payload.get("line_items", [])
    if not isinstance(items, list):
        raise TranslationError("line_items: not a list")
    lines: list[ChannelRefundLineData] = []
    for index, item in enumerate(items):
        where = f"line_items[{index}]"
        if not isinstance(item, dict):
            raise TranslationError(f"{where}: not an object")
        item_id = item.get("id", index)
        refunded = _refunded_item_id(item)
        try:
            refunded_id = int(str(refunded))
        except ValueError:
            raise TranslationError(f"{where}: names no order item (_refunded_item_id)") from None
        quantity = item.get("quantity", 0)
        if isinstance(quantity, bool) or not isinstance(quantity, int):
            raise TranslationError(f"{where}.quantity: not an integer")
        total = item.get("total")
        lines.append(
            ChannelRefundLineData(
                external_id=f"{payload.get('id', '')}:{item_id}",
                order_line_external_id=f"{order_external_id}:{refunded_id}",
                quantity=abs(quantity),
                amount=_refund_amount(total if total is not None else "0", where=f"{where}.total"),
                tax=_refund_amount(item.get("total_tax") or "0", where=f"{where}.total_tax"),
            )
        )
    return tuple(lines)


# --- products ------------------------------------------------------------------------------------
PRODUCT_TYPES = frozenset({"simple", "variable", "grouped", "external", "variation"})


def product_modified_at(payload: dict[str, Any]) -> datetime | None:
    value = payload.get("date_modified_gmt")
    return parse_gmt(value, field="date_modified_gmt") if value else None


def _price(payload: dict[str, Any], *, where: str) -> Decimal:
    value = payload.get("price")
    if value in (None, ""):
        value = payload.get("regular_price")
    if value in (None, ""):
        return Decimal(0)
    try:
        price = to_decimal(value)
    except MoneyError as exc:
        raise TranslationError(f"{where}.price: {exc}") from exc
    if price < 0:
        raise TranslationError(f"{where}.price: negative")
    return price


def _optional_price(payload: dict[str, Any], key: str, *, where: str) -> Decimal | None:
    """``regular_price`` / ``sale_price``: a decimal string, or ``""`` / null when not set."""
    value = payload.get(key)
    if value in (None, ""):
        return None
    try:
        price = to_decimal(value)
    except MoneyError as exc:
        raise TranslationError(f"{where}.{key}: {exc}") from exc
    if price < 0:
        raise TranslationError(f"{where}.{key}: negative")
    return price


def _sale_date(payload: dict[str, Any], key: str, *, where: str) -> datetime | None:
    """``date_on_sale_from_gmt`` / ``date_on_sale_to_gmt``: null when the sale is not scheduled."""
    value = payload.get(key)
    return None if value in (None, "") else parse_gmt(value, field=f"{where}.{key}")


def tax_class_of(value: str, *, parent: str = "standard") -> str:
    """WooCommerce's tax class slug as we hold it: its blank one is ``standard``; a variation's
    ``parent`` is its product's."""
    if value == "parent":
        return parent
    return value or "standard"


def _text(payload: dict[str, Any], key: str, *, where: str, required: bool = False) -> str:
    value = payload.get(key)
    if value is None or value == "":
        if required:
            raise TranslationError(f"{where}.{key}: missing")
        return ""
    if not isinstance(value, str):
        raise TranslationError(f"{where}.{key}: not a string")
    return value.strip()


def _attributes(payload: dict[str, Any], *, where: str) -> dict[str, str]:
    """``[{name, option}]`` (a variation) or ``[{name, options: [...]}]`` (a product)."""
    raw = payload.get("attributes") or []
    if not isinstance(raw, list):
        raise TranslationError(f"{where}.attributes: not a list")
    attributes: dict[str, str] = {}
    for index, attribute in enumerate(raw):
        if not isinstance(attribute, dict) or not isinstance(attribute.get("name"), str):
            raise TranslationError(f"{where}.attributes[{index}]: not a named attribute")
        if "option" in attribute:
            attributes[attribute["name"]] = str(attribute["option"])
        elif isinstance(attribute.get("options"), list):
            attributes[attribute["name"]] = ", ".join(str(o) for o in attribute["options"])
    return attributes


def _category(payload: dict[str, Any]) -> str:
    categories = payload.get("categories")
    if isinstance(categories, list) and categories and isinstance(categories[0], dict):
        return str(categories[0].get("name") or "")
    return ""


def _sku_data(
    payload: dict[str, Any],
    *,
    where: str,
    currency: str,
    parent_name: str = "",
    parent_tax_class: str = "standard",
) -> ChannelSKUData:
    item_id = _positive_id(payload.get("id"), where=f"{where}.id")
    attributes = _attributes(payload, where=where)
    name = _text(payload, "name", where=where)
    if not name:
        options = " / ".join(attributes.values())
        name = f"{parent_name} — {options}" if parent_name and options else parent_name
    if not name:
        raise TranslationError(f"{where}.name: missing")
    status = payload.get("status", "publish")
    return ChannelSKUData(
        external_id=str(item_id),
        code=_fits(
            _text(payload, "sku", where=where) or f"woo-product-{item_id}", 64, where=f"{where}.sku"
        ),
        name=name[:255],
        attributes=attributes,
        price=_price(payload, where=where),
        currency=currency,
        is_active=status == "publish",
        barcode=_fits(
            _text(payload, "global_unique_id", where=where), 64, where=f"{where}.global_unique_id"
        ),
        source_updated_at=product_modified_at(payload),
        regular_price=_optional_price(payload, "regular_price", where=where),
        sale_price=_optional_price(payload, "sale_price", where=where),
        sale_from=_sale_date(payload, "date_on_sale_from_gmt", where=where),
        sale_to=_sale_date(payload, "date_on_sale_to_gmt", where=where),
        tax_class=_fits(
            tax_class_of(_text(payload, "tax_class", where=where), parent=parent_tax_class),
            32,
            where=f"{where}.tax_class",
        ),
    )


def translate_product(
    payload: Any,
    *,
    source_system: str,
    currency: str,
    variations: list[Any] | None = None,
    channel: str = "",
) -> ChannelProductData:
    """A product from ``/products`` (or a ``product.*`` webhook) and, for a variable parent,
    its ``variations`` as ``/products/<id>/variations`` renders them (None: not read yet).
    With ``channel`` (its code) each SKU's prices, sale schedule and tax class are kept for it."""
    if not isinstance(payload, dict):
        raise TranslationError("product payload must be a JSON object")
    payload = storable(payload)
    variations = storable(variations) if variations is not None else None
    product_id = _positive_id(payload.get("id"), where="id")
    kind = payload.get("type", "simple")
    if kind not in PRODUCT_TYPES:
        raise TranslationError(f"type: unknown product type {kind!r}")
    name = _text(payload, "name", where="product", required=True)
    tax_class = _fits(
        tax_class_of(_text(payload, "tax_class", where="product")), 32, where="tax_class"
    )
    is_variable = kind == "variable"
    if is_variable:
        listed = payload.get("variations", [])
        if not isinstance(listed, list):
            raise TranslationError("variations: not a list")
        skus = tuple(
            _sku_data(
                v,
                where=f"variations[{i}]",
                currency=currency,
                parent_name=name,
                parent_tax_class=tax_class,
            )
            if isinstance(v, dict)
            else _not_an_object(f"variations[{i}]")
            for i, v in enumerate(variations or [])
        )
    else:
        skus = (_sku_data(payload, where="product", currency=currency),)
    return ChannelProductData(
        system=SystemKind.WOOCOMMERCE,
        source_system=source_system,
        external_id=str(product_id),
        code=_fits(
            _text(payload, "sku", where="product") or f"woo-product-{product_id}",
            64,
            where="product.sku",
        ),
        name=name[:255],
        category=_category(payload)[:100],
        tax_class=tax_class,
        is_variable=is_variable,
        skus=skus,
        source_updated_at=product_modified_at(payload),
        channel=channel,
    )


def _not_an_object(where: str) -> ChannelSKUData:
    raise TranslationError(f"{where}: not an object")
