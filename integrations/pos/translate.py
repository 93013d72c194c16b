"""The POS contract (docs/contracts/pos.md) ⇄ the domain's data classes; pure functions, no I/O.

A till transaction (a sale or a return) is read whole and checked before anything is applied:
every field's type, amounts that are decimal strings ≥ 0, each line's total = quantity × unit
price − discount (prices include tax), the lines adding up to the transaction's total, and the
tenders adding up to it too. Anything wrong is a :class:`TranslationError` naming the
transaction and the field; the inbox dead-letters the event with that text (an exception for
ops, replayable edited) and nothing of it is applied.

A transaction's identity is (store, register, transaction id): ``<store>:<register>:<id>`` is the
order's external id, so the live event, the offline upload and a second upload of the same sale
are one order.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from decimal import Decimal, InvalidOperation
from typing import Any

from controltower.inventory.services import StockReport
from controltower.orders.services import ChannelOrderData, ChannelOrderLineData
from controltower.payments.till import DayCloseData, TillTenderData
from integrations.runtime.registry import PoisonMessage

TRANSACTION_COMPLETED = "transaction.completed"
TRANSACTION_VOIDED = "transaction.voided"
STOCK_COUNTED = "stock.counted"
DAY_CLOSED = "day.closed"
DAY_UPLOADED = "day.uploaded"
EVENT_TYPES = (TRANSACTION_COMPLETED, TRANSACTION_VOIDED, STOCK_COUNTED, DAY_CLOSED, DAY_UPLOADED)

SALE, RETURN = "sale", "return"
COMPLETED, VOIDED = "completed", "voided"
TENDER_TYPES = frozenset({"card", "cash", "gift_card", "store_credit"})
CODE_MAX = 64
MAX_LINES = 500
MAX_TRANSACTIONS = 5000
AMOUNT = re.compile(r"^\d{1,12}(\.\d{1,2})?$")
ZERO = Decimal(0)


class TranslationError(PoisonMessage):
    """The payload is not a POS message we can apply; the message names the field."""


# --- field readers: each names the field it refuses ----------------------------------------------
def _obj(value: Any, where: str) -> dict[str, Any]:
    if not isinstance(value, dict):
        raise TranslationError(f"{where}: must be an object")
    return value


def _text(obj: dict[str, Any], name: str, *, where: str, required: bool = True) -> str:
    value = obj.get(name)
    if value is None or value == "":
        if required:
            raise TranslationError(f"{where}.{name}: missing")
        return ""
    if not isinstance(value, str) or not value.strip():
        raise TranslationError(f"{where}.{name}: must be a non-empty string")
    if len(value) > 255 or "\x00" in value:
        raise TranslationError(f"{where}.{name}: longer than 255 characters or not text")
    return value.strip()


def _code(obj: dict[str, Any], name: str, *, where: str) -> str:
    value = _text(obj, name, where=where)
    if len(value) > CODE_MAX or ":" in value:
        raise TranslationError(f"{where}.{name}: at most {CODE_MAX} characters, without ':'")
    return value


def _count(obj: dict[str, Any], name: str, *, where: str, positive: bool = True) -> int:
    value = obj.get(name)
    if name not in obj or value is None:
        raise TranslationError(f"{where}.{name}: missing")
    if isinstance(value, bool) or not isinstance(value, int):
        raise TranslationError(f"{where}.{name}: must be a whole number, not {str(value)[:20]!r}")
    if value < (1 if positive else 0):
        raise TranslationError(
            f"{where}.{name}: must be {'positive' if positive else 'zero or more'}, not {value}"
        )
    return value


def _amount(obj: dict[str, Any], name: str, *, where: str, default: str | None = None) -> Decimal:
    value = obj.get(name, default)
    if value is None:
        raise TranslationError(f"{where}.{name}: missing")
    if isinstance(value, str) and value.startswith("-"):
        raise TranslationError(f"{where}.{name}: must not be negative ({value})")
    if not isinstance(value, str) or not AMOUNT.match(value):
        raise TranslationError(
            f'{where}.{name}: must be a decimal string like "12.50", not {str(value)[:20]!r}'
        )
    try:
        return Decimal(value)
    except InvalidOperation:  # pragma: no cover - the pattern admits only decimals
        raise TranslationError(f"{where}.{name}: not a decimal") from None


def _moment(obj: dict[str, Any], name: str, *, where: str) -> datetime:
    value = _text(obj, name, where=where)
    try:
        moment = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        raise TranslationError(f"{where}.{name}: not an ISO 8601 time ({value[:40]!r})") from None
    if moment.tzinfo is None:
        raise TranslationError(f"{where}.{name}: needs a UTC offset ({value[:40]!r})")
    return moment.astimezone(UTC)


def _day(obj: dict[str, Any], name: str, *, where: str) -> date:
    value = _text(obj, name, where=where)
    try:
        return date.fromisoformat(value)
    except ValueError:
        raise TranslationError(f"{where}.{name}: not a date YYYY-MM-DD ({value[:20]!r})") from None


def _list(obj: dict[str, Any], name: str, *, where: str, limit: int) -> list[Any]:
    value = obj.get(name)
    if not isinstance(value, list):
        raise TranslationError(f"{where}.{name}: must be a list")
    if len(value) > limit:
        raise TranslationError(f"{where}.{name}: more than {limit} entries")
    return value


# --- till transactions ---------------------------------------------------------------------------
@dataclass(frozen=True)
class OriginalRef:
    """The sale a return's receipt names."""

    store: str
    register: str
    transaction_id: str

    @property
    def key(self) -> str:
        return f"{self.store}:{self.register}:{self.transaction_id}"


@dataclass(frozen=True)
class ReturnLine:
    line_id: str
    sku: str
    quantity: int
    total: Decimal  # given back, tax included
    tax: Decimal
    original_line: str = ""  # the original sale's line id (with a receipt)


@dataclass(frozen=True)
class TillTransaction:
    """A sale or a return as the till recorded it, checked."""

    key: str  # <store>:<register>:<id>
    type: str
    status: str
    store: str
    register: str
    transaction_id: str
    sequence: int
    receipt_number: str
    occurred_at: datetime
    updated_at: datetime
    currency: str
    total: Decimal
    tenders: tuple[TillTenderData, ...]
    order: ChannelOrderData | None = None  # a sale
    lines: tuple[ReturnLine, ...] = ()  # a return
    original: OriginalRef | None = None  # a return with its receipt
    reason: str = ""

    @property
    def business_day(self) -> date:
        return self.occurred_at.date()

    @property
    def voided(self) -> bool:
        return self.status == VOIDED


def _sale_line(raw: Any, *, where: str, currency: str) -> ChannelOrderLineData:
    line = _obj(raw, where)
    quantity = _count(line, "quantity", where=where)
    unit_price = _amount(line, "unit_price", where=where)
    discount = _amount(line, "discount", where=where, default="0.00")
    tax = _amount(line, "tax", where=where, default="0.00")
    total = _amount(line, "total", where=where)
    if unit_price * quantity - discount != total:
        raise TranslationError(
            f"{where}: total {total} ≠ {quantity} × {unit_price} − discount {discount}"
        )
    if tax > total:
        raise TranslationError(f"{where}: tax {tax} is more than the line's total {total}")
    return ChannelOrderLineData(
        external_id=_code(line, "id", where=where),
        sku_code=_text(line, "sku", where=where)[:64],
        name=_text(line, "name", where=where, required=False)[:255],
        quantity=quantity,
        unit_price=unit_price,
        discount=discount,
        tax=tax,
        total=total,
        tax_code=_text(line, "tax_code", where=where, required=False)[:16],
    )


def _return_line(raw: Any, *, where: str) -> ReturnLine:
    line = _obj(raw, where)
    total = _amount(line, "total", where=where)
    tax = _amount(line, "tax", where=where, default="0.00")
    if tax > total:
        raise TranslationError(f"{where}: tax {tax} is more than the line's total {total}")
    original = line.get("original_line")
    return ReturnLine(
        line_id=_code(line, "id", where=where),
        sku=_text(line, "sku", where=where)[:64],
        quantity=_count(line, "quantity", where=where),
        total=total,
        tax=tax,
        original_line=_code(line, "original_line", where=where) if original is not None else "",
    )


def _tenders(raw: dict[str, Any], key: str, *, where: str) -> tuple[TillTenderData, ...]:
    tenders, seen = [], set()
    for index, item in enumerate(_list(raw, "tenders", where=where, limit=20)):
        at = f"{where}.tenders[{index}]"
        tender = _obj(item, at)
        tender_id = _code(tender, "id", where=at)
        if tender_id in seen:
            raise TranslationError(f"{at}.id: {tender_id!r} appears twice")
        seen.add(tender_id)
        kind = _text(tender, "type", where=at)
        if kind not in TENDER_TYPES:
            raise TranslationError(
                f"{at}.type: unknown tender {kind[:32]!r} "
                f"(known: {', '.join(sorted(TENDER_TYPES))})"
            )
        amount = _amount(tender, "amount", where=at)
        if amount == 0:
            raise TranslationError(f"{at}.amount: must be more than 0")
        tenders.append(
            TillTenderData(
                external_id=f"{key}:{tender_id}",
                method=kind,
                amount=amount,
                reference=_text(tender, "reference", where=at, required=False)[:64],
            )
        )
    if not tenders:
        raise TranslationError(f"{where}.tenders: a completed transaction needs a tender")
    return tuple(tenders)


def translate_transaction(raw: Any, *, source_system: str) -> TillTransaction:
    """A till transaction (the contract's ``transaction`` object), checked whole."""
    obj = _obj(raw, "transaction")
    txn_id = _code(obj, "id", where="transaction")
    where = f"transaction {txn_id}"
    kind = _text(obj, "type", where=where)
    if kind not in (SALE, RETURN):
        raise TranslationError(f"{where}.type: must be 'sale' or 'return', not {kind[:20]!r}")
    status = _text(obj, "status", where=where)
    if status not in (COMPLETED, VOIDED):
        raise TranslationError(f"{where}.status: must be 'completed' or 'voided'")
    store = _code(obj, "store", where=where)
    register = _code(obj, "register", where=where)
    key = f"{store}:{register}:{txn_id}"
    currency = _text(obj, "currency", where=where)
    if not re.fullmatch(r"[A-Z]{3}", currency):
        raise TranslationError(f"{where}.currency: must be an ISO 4217 code like 'EUR'")
    occurred_at = _moment(obj, "occurred_at", where=where)
    updated_at = _moment(obj, "updated_at", where=where) if obj.get("updated_at") else occurred_at
    total = _amount(_obj(obj.get("totals"), f"{where}.totals"), "total", where=f"{where}.totals")
    tenders = _tenders(obj, key, where=where)
    tendered = sum((t.amount for t in tenders), ZERO)
    if tendered != total:
        raise TranslationError(
            f"{where}: the tenders add up to {tendered:.2f} {currency}, the total is "
            f"{total:.2f} {currency}"
        )
    common: dict[str, Any] = {
        "key": key,
        "type": kind,
        "status": status,
        "store": store,
        "register": register,
        "transaction_id": txn_id,
        "sequence": _count(obj, "sequence", where=where),
        "receipt_number": _text(obj, "receipt_number", where=where, required=False) or txn_id,
        "occurred_at": occurred_at,
        "updated_at": updated_at,
        "currency": currency,
        "total": total,
        "tenders": tenders,
        "reason": _text(obj, "reason", where=where, required=False),
    }
    raw_lines = _list(obj, "lines", where=where, limit=MAX_LINES)
    if not raw_lines:
        raise TranslationError(f"{where}.lines: a transaction needs at least one line")
    if kind == RETURN:
        lines = tuple(
            _return_line(line, where=f"{where}.lines[{i}]") for i, line in enumerate(raw_lines)
        )
        given = sum((line.total for line in lines), ZERO)
        if given != total:
            raise TranslationError(
                f"{where}: the lines add up to {given:.2f}, the total is {total}"
            )
        original = obj.get("original")
        ref = None
        if original is not None:
            at = f"{where}.original"
            found = _obj(original, at)
            ref = OriginalRef(
                store=_code(found, "store", where=at),
                register=_code(found, "register", where=at),
                transaction_id=_code(found, "transaction_id", where=at),
            )
            if any(not line.original_line for line in lines):
                raise TranslationError(
                    f"{where}: a return with its receipt names each line's original_line"
                )
        return TillTransaction(**common, lines=lines, original=ref)
    sale_lines = tuple(
        _sale_line(line, where=f"{where}.lines[{i}]", currency=currency)
        for i, line in enumerate(raw_lines)
    )
    if len({line.external_id for line in sale_lines}) != len(sale_lines):
        raise TranslationError(f"{where}.lines: two lines have the same id")
    subtotal = sum((line.unit_price * line.quantity for line in sale_lines), ZERO)
    discount = sum((line.discount for line in sale_lines), ZERO)
    tax = sum((line.tax for line in sale_lines), ZERO)
    lines_total = sum((line.total for line in sale_lines), ZERO)
    if lines_total != total:
        raise TranslationError(
            f"{where}: the lines add up to {lines_total:.2f} {currency}, the total is "
            f"{total:.2f} {currency}"
        )
    methods = sorted({t.method for t in tenders})
    order = ChannelOrderData(
        source_system=source_system,
        external_id=key,
        number=common["receipt_number"][:64],
        channel_status=status,
        currency=currency,
        subtotal=subtotal,
        discount=discount,
        shipping=ZERO,
        tax=tax,
        total=total,
        placed_at=occurred_at,
        source_updated_at=updated_at,
        customer_name=f"Store {store}",
        payment_method=methods[0] if len(methods) == 1 else "split",
        lines=sale_lines,
    )
    return TillTransaction(**common, order=order)


# --- counts, closes, uploads ---------------------------------------------------------------------
def translate_count(raw: Any) -> tuple[str, list[StockReport]]:
    """A store's stock count: (store, one report per item). Figures are checked by the stock
    domain (a negative or fractional on-hand, an unknown SKU refuse the whole count)."""
    obj = _obj(raw, "stock_count")
    count_id = _code(obj, "id", where="stock_count")
    where = f"stock count {count_id}"
    store = _code(obj, "store", where=where)
    as_of = _moment(obj, "as_of", where=where)
    reports = []
    for index, item in enumerate(_list(obj, "items", where=where, limit=MAX_LINES * 10)):
        at = f"{where}.items[{index}]"
        entry = _obj(item, at)
        reports.append(
            StockReport(
                sku=_text(entry, "sku", where=at),
                location=store,
                on_hand=entry.get("on_hand"),
                as_of=as_of,
                reference=f"{count_id}#{index + 1}",
            )
        )
    return store, reports


def _signed(value: Any, *, where: str) -> Decimal:
    """A net figure, which may be negative (a day of more returns than sales)."""
    if value is None:
        raise TranslationError(f"{where}: missing")
    if not isinstance(value, str) or not AMOUNT.match(value.removeprefix("-")):
        raise TranslationError(
            f'{where}: must be a decimal string like "-12.50", not {str(value)[:20]!r}'
        )
    return Decimal(value)


def translate_close(raw: Any, *, source_system: str) -> DayCloseData:
    """The store's end-of-day close: net takings per tender, which must add up to its total."""
    obj = _obj(raw, "day_close")
    close_id = _code(obj, "id", where="day_close")
    where = f"day close {close_id}"
    tenders_raw = _obj(obj.get("tenders"), f"{where}.tenders")
    tenders: dict[str, Decimal] = {}
    for method, value in tenders_raw.items():
        if method not in TENDER_TYPES:
            raise TranslationError(f"{where}.tenders: unknown tender {str(method)[:32]!r}")
        tenders[method] = _signed(value, where=f"{where}.tenders.{method}")
    net_total = _signed(obj.get("net_total"), where=f"{where}.net_total")
    if sum(tenders.values(), ZERO) != net_total:
        raise TranslationError(
            f"{where}: the tenders add up to {sum(tenders.values(), ZERO):.2f}, net_total is "
            f"{net_total:.2f}"
        )
    currency = _text(obj, "currency", where=where)
    return DayCloseData(
        source_system=source_system,
        store=_code(obj, "store", where=where),
        business_date=_day(obj, "business_date", where=where),
        external_id=close_id,
        currency=currency,
        transaction_count=_count(obj, "transaction_count", where=where, positive=False),
        tenders=tenders,
    )


@dataclass(frozen=True)
class Upload:
    """An offline store's day, sent later in one POST: its transactions (in the order to apply
    them: time, then register and sequence) and, if the day was closed, its close."""

    upload_id: str
    store: str
    transactions: list[TillTransaction] = field(default_factory=list)
    close: DayCloseData | None = None


def translate_upload(raw: Any, *, source_system: str) -> Upload:
    obj = _obj(raw, "upload")
    upload_id = _code(obj, "id", where="upload")
    where = f"upload {upload_id}"
    store = _code(obj, "store", where=where)
    transactions = []
    keys: set[str] = set()
    for item in _list(obj, "transactions", where=where, limit=MAX_TRANSACTIONS):
        txn = translate_transaction(item, source_system=source_system)
        if txn.store != store:
            raise TranslationError(
                f"{where}: transaction {txn.transaction_id} is of store {txn.store!r}, "
                f"the upload of {store!r}"
            )
        if txn.key in keys:  # the same transaction twice in one upload: its latest version
            transactions = [
                t for t in transactions if t.key != txn.key or t.updated_at > txn.updated_at
            ]
            if any(t.key == txn.key for t in transactions):
                continue
        keys.add(txn.key)
        transactions.append(txn)
    transactions.sort(key=lambda t: (t.occurred_at, t.register, t.sequence))
    close = obj.get("close")
    return Upload(
        upload_id=upload_id,
        store=store,
        transactions=transactions,
        close=translate_close(close, source_system=source_system) if close is not None else None,
    )
