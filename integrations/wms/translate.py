"""Canonical order ⇄ the warehouse's generic release/shipment JSON (docs/contracts/wms.md).
Pure functions, no I/O.

Outbound, an order becomes a *release*: its open lines by line number, the ERP's sales order, the
ship-to address. Inbound, a webhook envelope's ``data.object`` (a release or a shipment) becomes
a :class:`ReleaseEvent` or a :class:`ShipmentEvent`. The warehouse is trusted for nothing it
cannot prove: every field it sends is checked for type, presence and size here, so that the
domain only ever sees sane data and a payload that can never apply is refused whole, naming the
field, before anything is written (a :class:`TranslationError`, dead-lettered at once). Whether
a shipment *fits* the order (a line never released, more than is left) is the domain's rule
(``fulfilment.services.record_shipment``), not repeated here.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from controltower.fulfilment.services import ShipmentData, ShipmentLineData
from controltower.orders.models import Order
from integrations.runtime.registry import PoisonMessage

DEFAULT_WAREHOUSE = "main"
RELEASE_STATUSES = frozenset(
    {"released", "picking", "packed", "partially_shipped", "shipped", "cancelled"}
)
RELEASE_EVENTS = frozenset(
    {
        "release.picking",
        "release.packed",
        "release.backordered",
        "release.shipped",
        "release.cancelled",
    }
)
SHIPMENT_EVENTS = frozenset({"shipment.shipped"})
STOCK_EVENTS = frozenset({"inventory.snapshot", "inventory.adjusted"})  # integrations/wms/stock.py
EVENT_TYPES = RELEASE_EVENTS | SHIPMENT_EVENTS | STOCK_EVENTS
# A release line's quantities are ours, echoed: nothing real ships a million units of one line,
# and a bigger number is an attacker's (or a bug's), refused before it reaches a column.
MAX_QUANTITY = 1_000_000
MAX_LINE_NUMBER = 100_000
MAX_LINES = 1_000
REFERENCE_MAX = 64  # order.wms_reference, shipment.release_reference
CARRIER_MAX = 64
TRACKING_MAX = 128
REASON_MAX = 200


class TranslationError(PoisonMessage):
    """The payload is not a warehouse message we can apply; the message names the field."""


# --- outbound ------------------------------------------------------------------------------------
def order_reference(order: Order) -> str:
    """How the warehouse knows the order (``<channel code>-<number>``, as the ERP and the gateway
    do): the release's ``external_ref``, unique per WMS, readable on a pick list."""
    return order.reference


def _ship_to(order: Order) -> dict[str, Any]:
    """The contract's free-form address, filled from the channel's shipping address (WooCommerce
    shape: first/last name, address_1/2) with the customer's name as the fallback."""
    address = order.shipping_address if isinstance(order.shipping_address, dict) else {}
    name = " ".join(
        str(p) for p in (address.get("first_name"), address.get("last_name")) if p
    ).strip()
    street = " ".join(
        str(p) for p in (address.get("address_1"), address.get("address_2")) if p
    ).strip()
    ship_to = {
        "name": address.get("name") or name or order.customer_name,
        "company": address.get("company"),
        "street": address.get("street") or street,
        "postcode": address.get("postcode"),
        "city": address.get("city"),
        "state": address.get("state"),
        "country": address.get("country"),
        "phone": address.get("phone"),
    }
    return {key: value for key, value in ship_to.items() if value}


def release_payload(order: Order, *, warehouse: str = "") -> dict[str, Any]:
    """The release of an order's open lines (ordered − cancelled − shipped), keyed by our line
    numbers: every later message of the warehouse names lines by them."""
    lines = []
    # .all(): lines the caller prefetched are used as they are (the model orders them by number)
    for line in sorted(order.lines.all(), key=lambda held: held.line_number):
        open_quantity = line.quantity - line.quantity_cancelled - line.quantity_shipped
        if open_quantity > 0:
            lines.append(
                {"line_number": line.line_number, "sku": line.sku_code, "quantity": open_quantity}
            )
    return {
        "external_ref": order_reference(order),
        "correlation_id": str(order.correlation_id),
        "sales_order": order.erp_reference,
        "warehouse": warehouse or DEFAULT_WAREHOUSE,
        "ship_to": _ship_to(order),
        "lines": lines,
    }


# --- inbound -------------------------------------------------------------------------------------
@dataclass(frozen=True)
class Subject:
    """Which order a warehouse object is about: our reference and the transaction it echoes."""

    external_ref: str
    correlation_id: uuid.UUID


@dataclass(frozen=True)
class ReleaseEvent:
    subject: Subject
    reference: str  # the warehouse's release id
    status: str
    backorders: list[ShipmentLineData] = field(default_factory=list)
    shipments: list[str] = field(default_factory=list)
    cancel_reason: str = ""


@dataclass(frozen=True)
class ShipmentEvent:
    subject: Subject
    data: ShipmentData


def _text(obj: dict[str, Any], name: str, *, where: str, limit: int = REFERENCE_MAX) -> str:
    value = obj.get(name)
    if name not in obj or value is None:
        raise TranslationError(f"{where}.{name}: missing")
    if not isinstance(value, str) or not value.strip():
        raise TranslationError(f"{where}.{name}: must be a non-empty string")
    if len(value) > limit or "\x00" in value:
        raise TranslationError(f"{where}.{name}: longer than {limit} characters or not text")
    return value.strip()


def _count(value: Any, *, where: str, allow_zero: bool = False) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise TranslationError(f"{where}: must be an integer, not {type(value).__name__}")
    if value < 0 or (value == 0 and not allow_zero):
        raise TranslationError(f"{where}: must be {'≥ 0' if allow_zero else 'positive'}")
    if value > MAX_QUANTITY:
        raise TranslationError(f"{where}: {value} is more than {MAX_QUANTITY}")
    return value


def _line_number(value: Any, *, where: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or not 0 < value <= MAX_LINE_NUMBER:
        raise TranslationError(f"{where}: must be an integer from 1 to {MAX_LINE_NUMBER}")
    return value


def _lines(obj: dict[str, Any], name: str, *, where: str) -> list[ShipmentLineData]:
    """``[{line_number, sku?, quantity}]``: quantities positive and bounded."""
    items = obj.get(name)
    if not isinstance(items, list) or not items:
        raise TranslationError(f"{where}.{name}: must be a non-empty list")
    if len(items) > MAX_LINES:
        raise TranslationError(f"{where}.{name}: more than {MAX_LINES} lines")
    lines = []
    for index, item in enumerate(items):
        at = f"{where}.{name}[{index}]"
        if not isinstance(item, dict):
            raise TranslationError(f"{at}: must be an object")
        sku = item.get("sku")
        if sku is not None and (not isinstance(sku, str) or len(sku) > REFERENCE_MAX):
            raise TranslationError(f"{at}.sku: must be a string of at most {REFERENCE_MAX}")
        lines.append(
            ShipmentLineData(
                line_number=_line_number(item.get("line_number"), where=f"{at}.line_number"),
                sku_code=sku or "",
                quantity=_count(item.get("quantity"), where=f"{at}.quantity"),
            )
        )
    return lines


def _subject(obj: dict[str, Any], *, where: str) -> Subject:
    external_ref = _text(obj, "external_ref", where=where, limit=191)
    raw = _text(obj, "correlation_id", where=where)
    try:
        correlation_id = uuid.UUID(raw)
    except ValueError:
        raise TranslationError(f"{where}.correlation_id: not one of ours ({raw[:40]!r})") from None
    return Subject(external_ref=external_ref, correlation_id=correlation_id)


def _object(envelope: Any, expected: str) -> dict[str, Any]:
    if not isinstance(envelope, dict):
        raise TranslationError("the event must be a JSON object")
    data = envelope.get("data")
    obj = data.get("object") if isinstance(data, dict) else None
    if not isinstance(obj, dict):
        raise TranslationError("data.object: must be an object")
    if obj.get("object") != expected:
        raise TranslationError(
            f"data.object.object: a {envelope.get('type')!s:.40} event carries a {expected}, "
            f"not {str(obj.get('object'))[:40]!r}"
        )
    return obj


def translate_release(envelope: Any) -> ReleaseEvent:
    """A ``release.*`` event's release: its id, status and (for a short pick) backorders."""
    obj = _object(envelope, "release")
    where = "data.object"
    status = _text(obj, "status", where=where)
    if status not in RELEASE_STATUSES:
        raise TranslationError(
            f"{where}.status: unknown status {status[:40]!r} "
            f"(one of {', '.join(sorted(RELEASE_STATUSES))})"
        )
    backorders: list[ShipmentLineData] = []
    if envelope.get("type") == "release.backordered":
        backorders = _lines(obj, "backorders", where=where)
    shipments = obj.get("shipments", [])
    if not isinstance(shipments, list) or not all(
        isinstance(s, str) and 0 < len(s) <= REFERENCE_MAX for s in shipments
    ):
        raise TranslationError(f"{where}.shipments: must be a list of shipment ids")
    reason = obj.get("cancel_reason")
    if reason is not None and not isinstance(reason, str):
        raise TranslationError(f"{where}.cancel_reason: must be a string")
    return ReleaseEvent(
        subject=_subject(obj, where=where),
        reference=_text(obj, "id", where=where),
        status=status,
        backorders=backorders,
        shipments=list(shipments),
        cancel_reason=(reason or "").replace("\x00", "")[:REASON_MAX],
    )


def _moment(obj: dict[str, Any], name: str, *, where: str) -> datetime:
    value = _text(obj, name, where=where)
    try:
        moment = datetime.fromisoformat(value)
    except ValueError:
        raise TranslationError(f"{where}.{name}: not an ISO 8601 time: {value[:40]!r}") from None
    if moment.tzinfo is None:
        raise TranslationError(f"{where}.{name}: must carry its UTC offset (…Z)")
    return moment


def translate_shipment(envelope: Any, *, source_system: str) -> ShipmentEvent:
    """A ``shipment.shipped`` event's parcel: the domain's shipment data, lines by our line
    numbers, its tracking number; ``source_system`` is the WMS connection's slug."""
    obj = _object(envelope, "shipment")
    where = "data.object"
    return ShipmentEvent(
        subject=_subject(obj, where=where),
        data=ShipmentData(
            source_system=source_system,
            external_id=_text(obj, "id", where=where),
            release_reference=_text(obj, "release", where=where),
            carrier=_text(obj, "carrier", where=where, limit=CARRIER_MAX),
            tracking_number=_text(obj, "tracking_number", where=where, limit=TRACKING_MAX),
            shipped_at=_moment(obj, "shipped_at", where=where),
            lines=_lines(obj, "lines", where=where),
        ),
    )
