"""WooCommerce REST v3 order JSON → canonical order data. Pure functions, no I/O."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

from controltower.core.money import MoneyError, to_decimal
from controltower.orders.services import ChannelOrderData, ChannelOrderLineData
from integrations.runtime.registry import PoisonMessage


class TranslationError(PoisonMessage):
    """The payload is not a WooCommerce order we can understand."""


def parse_gmt(value: Any, *, field: str) -> datetime:
    """WooCommerce ``*_gmt`` fields: ``2026-11-22T10:11:12`` in UTC, without an offset."""
    if not isinstance(value, str) or not value:
        raise TranslationError(f"{field}: missing")
    try:
        parsed = datetime.fromisoformat(value)
    except ValueError as exc:
        raise TranslationError(f"{field}: not a date: {value!r}") from exc
    return parsed.replace(tzinfo=UTC) if parsed.tzinfo is None else parsed.astimezone(UTC)


def _amount(payload: dict[str, Any], key: str, *, where: str = "order") -> Decimal:
    try:
        return to_decimal(payload.get(key) or "0")
    except MoneyError as exc:
        raise TranslationError(f"{where}.{key}: {exc}") from exc


def _name(address: dict[str, Any]) -> str:
    return " ".join(p for p in (address.get("first_name"), address.get("last_name")) if p).strip()


TRASH_STATUS = "trash"  # what WooCommerce's REST API shows for a trashed order


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
    order_id = payload.get("id")
    if not isinstance(order_id, int) or order_id <= 0:
        raise TranslationError("id: missing or not a positive integer")
    status = payload.get("status")
    if not isinstance(status, str) or not status:
        raise TranslationError("status: missing")
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
        subtotal = _amount(item, "subtotal", where=where)
        total = _amount(item, "total", where=where)
        lines.append(
            ChannelOrderLineData(
                external_id=str(item.get("id", index)),
                sku_code=str(sku),
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
        number=str(payload.get("number") or order_id),
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
