"""Canonical order → the ERP's generic JSON sales order; a shipment → its delivery
confirmation; the ERP's invoices and credit memos → the finance domain's documents
(docs/contracts/erp.md). Pure functions, no I/O."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal, InvalidOperation
from typing import Any

from controltower.finance.services import DocumentData, DocumentLineData
from controltower.fulfilment.models import Shipment
from controltower.orders.models import Order
from integrations.runtime.registry import PoisonMessage


def _amount(value: Any) -> str:
    return f"{value:.4f}"


def sales_order_payload(order: Order) -> dict[str, Any]:
    return {
        "external_ref": order.reference,
        "correlation_id": str(order.correlation_id),
        "channel": order.channel.code,
        "currency": order.currency,
        "customer": {
            "name": order.customer_name,
            "email": order.customer_email,
            "billing_address": order.billing_address,
            "shipping_address": order.shipping_address,
        },
        "lines": [
            {
                "line_number": line.line_number,
                "sku": line.sku_code,
                "name": line.name,
                "quantity": line.quantity - line.quantity_cancelled,
                "unit_price": _amount(line.unit_price_amount),
                "discount": _amount(line.discount_amount),
                "tax": _amount(line.tax_amount),
                "total": _amount(line.total_amount),
            }
            for line in order.lines.all()
            if line.quantity > line.quantity_cancelled
        ],
        "shipping": _amount(order.shipping_amount),
        "tax": _amount(order.tax_amount),
        "total": _amount(order.total_amount),
        "placed_at": order.placed_at.isoformat(),
    }


# --- shipments out, documents in ------------------------------------------------------------


class TranslationError(PoisonMessage):
    """An ERP payload we cannot apply as it is; the message names the field and the problem."""


MAX_AMOUNT = Decimal("100000000")  # 10^8: larger than any order; a bigger figure is corrupt
MAX_QUANTITY = 1_000_000
EVENT_TYPES = frozenset({"invoice.issued", "credit_memo.issued", "sales_order.cancelled"})


def _iso(value: datetime | None) -> str | None:
    return value.astimezone(UTC).isoformat().replace("+00:00", "Z") if value else None


def shipment_payload(shipment: Shipment) -> dict[str, Any]:
    """The WMS's shipment as the ERP's delivery confirmation (docs/contracts/erp.md)."""
    return {
        "shipment_ref": shipment.external_id,
        "shipped_at": _iso(shipment.shipped_at or shipment.created_at),
        "carrier": shipment.carrier or None,
        "tracking_number": shipment.tracking_number or None,
        "lines": [
            {
                "line_number": line.order_line.line_number,
                "sku": line.order_line.sku_code,
                "quantity": line.quantity,
            }
            for line in shipment.lines.select_related("order_line").order_by("pk")
        ],
    }


def _text(obj: dict[str, Any], name: str, *, required: bool = True, limit: int = 64) -> str:
    value = obj.get(name)
    if value is None and not required:
        return ""
    if not isinstance(value, str) or (required and not value.strip()):
        raise TranslationError(f"{name}: must be a non-empty string")
    if len(value) > limit:
        raise TranslationError(f"{name}: longer than {limit} characters")
    return value.strip()


def _money(obj: dict[str, Any], name: str, where: str = "") -> Decimal:
    label = f"{where}{name}"
    value = obj.get(name)
    if isinstance(value, bool) or not isinstance(value, str | int):
        raise TranslationError(f"{label}: must be a decimal string, not {type(value).__name__}")
    try:
        amount = Decimal(str(value))
    except InvalidOperation:
        raise TranslationError(f"{label}: {str(value)[:32]!r} is not a decimal amount") from None
    if not amount.is_finite():
        raise TranslationError(f"{label}: must be a finite amount")
    if amount < 0:
        raise TranslationError(f"{label}: must not be negative ({amount})")
    if amount >= MAX_AMOUNT:
        raise TranslationError(f"{label}: {amount} is larger than any order")
    if amount != amount.quantize(Decimal("0.0001")):
        raise TranslationError(f"{label}: more than 4 decimals")
    return amount


def _quantity(obj: dict[str, Any], name: str, where: str) -> int:
    value = obj.get(name)
    if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value <= MAX_QUANTITY:
        raise TranslationError(f"{where}{name}: must be an integer from 0 to {MAX_QUANTITY}")
    return value


def _issued_at(obj: dict[str, Any]) -> datetime:
    raw = _text(obj, "issued_at")
    try:
        issued = datetime.fromisoformat(raw.replace("Z", "+00:00"))
    except ValueError:
        raise TranslationError(f"issued_at: {raw!r} is not an ISO 8601 time") from None
    return issued if issued.tzinfo else issued.replace(tzinfo=UTC)


def document_data(obj: dict[str, Any], *, source_system: str) -> DocumentData:
    """An ``invoice`` or ``credit_memo`` object → the finance domain's document."""
    lines = obj.get("lines")
    if not isinstance(lines, list) or not lines:
        raise TranslationError("lines: must be a non-empty list")
    if len(lines) > 1000:
        raise TranslationError("lines: more than 1000")
    parsed = []
    for index, line in enumerate(lines):
        where = f"lines[{index}]."
        if not isinstance(line, dict):
            raise TranslationError(f"lines[{index}]: must be an object")
        number = line.get("line_number")
        if isinstance(number, bool) or not isinstance(number, int) or number <= 0:
            raise TranslationError(f"{where}line_number: must be a positive integer")
        parsed.append(
            DocumentLineData(
                line_number=number,
                sku_code=_text(line, "sku", limit=64),
                quantity=_quantity(line, "quantity", where),
                unit_price=_money(line, "unit_price", where),
                discount=_money(line, "discount", where),
                net=_money(line, "net", where),
                tax=_money(line, "tax", where),
                tax_code=_text(line, "tax_code", required=False, limit=16),
                total=_money(line, "total", where),
            )
        )
    currency = _text(obj, "currency").upper()
    if len(currency) != 3 or not currency.isalpha():
        raise TranslationError(f"currency: {currency!r} is not an ISO 4217 code")
    shipping = obj.get("object") == "invoice"
    return DocumentData(
        source_system=source_system,
        external_id=_text(obj, "id"),
        number=_text(obj, "number"),
        currency=currency,
        net_total=_money(obj, "net_total"),
        tax_total=_money(obj, "tax_total"),
        total=_money(obj, "total"),
        issued_at=_issued_at(obj),
        lines=parsed,
        shipping_net=_money(obj, "shipping_net") if shipping else Decimal(0),
        shipping_tax=_money(obj, "shipping_tax") if shipping else Decimal(0),
        shipping_tax_code=_text(obj, "shipping_tax_code", required=False, limit=16),
        shipment_reference=_text(obj, "shipment_ref", required=False),
        invoice_reference=_text(obj, "invoice", required=False) if not shipping else "",
        reason=_text(obj, "reason", required=False, limit=255),
    )
