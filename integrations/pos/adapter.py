"""POS connector (docs/contracts/pos.md): the stores' till transactions, stock counts and
end-of-day closes, applied through the domain services in the inbox's one transaction.

- ``transaction.completed`` (a sale): the order on the connection's POS channel, born accepted
  with its lines at the store (``orders.services.pos.create_till_order``: reserved there), its
  tenders captured at the till (``payments.till``: one Payment per tender, by method), handed
  over (``fulfil_at_till``), its receipt recorded as its invoice (``finance.services.
  record_invoice``): the posting gate then books the sale as a web order's.
- ``transaction.completed`` (a return): with a receipt, a Refund on the original sale with its
  lines and the money given back on the sale's tenders of the same method; the original not
  here yet waits (``NotYet``). Without a receipt: recorded in the work queue at the store's
  price, open for a person above ``CT_POS_NO_RECEIPT_LIMIT``.
- ``transaction.voided``: a sale we hold is refunded at the till and ends *refunded*; one we
  never saw is born cancelled (the channel's mapping of ``voided``), with no money.
- ``stock.counted``: the store's figures, through ``inventory.services.record_stock_reports``.
- ``day.closed``: the store's Z report against the transactions we hold (an exception with the
  difference, closed by itself once late transactions make it match).
- ``day.uploaded``: an offline store's day in one event, applied in time / register / sequence
  order, each transaction by the same path as a live one.

Nothing is counted twice: a transaction is the order keyed ``<store>:<register>:<id>`` and its
tenders and refunds are keyed under it, so a live event, an upload and a second upload of the same
sale leave one order, one set of payments. Everything an event holds is checked before any of it
is applied; what cannot be applied is a :class:`~integrations.pos.translate.TranslationError`
naming the transaction and the field (dead-lettered with that text, nothing applied).
"""

from __future__ import annotations

import logging
from decimal import Decimal
from typing import Any

from django.conf import settings

from controltower.catalog.choices import SystemKind
from controltower.catalog.models import Channel, Location
from controltower.core.errors import NotYet
from controltower.finance.services import DocumentData, DocumentLineData, record_invoice
from controltower.inventory.services import StockFeedRefused, record_stock_reports
from controltower.orders.choices import OrderState
from controltower.orders.models import Order
from controltower.orders.services import UnmappedChannelStatus
from controltower.orders.services.pos import (
    TillRefused,
    check_skus,
    create_till_order,
    fulfil_at_till,
    till_store,
    void_till_order,
)
from controltower.payments.services import PaymentError
from controltower.payments.till import (
    TillTenderData,
    UnreceiptedReturnData,
    recheck_day_close,
    record_day_close,
    record_till_refunds,
    record_till_tenders,
    record_unreceipted_return,
)
from controltower.returns.services import (
    ChannelRefundData,
    ChannelRefundLineData,
    RefundError,
    record_channel_refunds,
    record_refund_lines,
)
from integrations.pos.translate import (
    DAY_CLOSED,
    DAY_UPLOADED,
    RETURN,
    STOCK_COUNTED,
    TillTransaction,
    TranslationError,
    translate_close,
    translate_count,
    translate_transaction,
    translate_upload,
)
from integrations.runtime.models import Connection, InboundEvent
from integrations.runtime.registry import Ignored, inbound
from integrations.runtime.signing import parse_event

logger = logging.getLogger(__name__)

ENDED = frozenset({OrderState.CANCELLED, OrderState.FAILED, OrderState.REFUNDED})


def _channel(connection: Connection) -> Channel:
    if connection.channel_id is None:
        raise TranslationError(f"connection {connection.slug} has no POS channel configured")
    return connection.channel


def _no_receipt_limit() -> Decimal:
    return Decimal(str(settings.CT_POS_NO_RECEIPT_LIMIT)).quantize(Decimal("0.01"))


def receipt_document(order: Order, txn: TillTransaction, source_system: str) -> DocumentData:
    """The till's receipt as the sale's invoice: prices include tax, so each line's net is its
    total less its tax."""
    lines = [
        DocumentLineData(
            line_number=line.line_number,
            sku_code=line.sku_code,
            quantity=line.quantity,
            unit_price=line.unit_price_amount,
            discount=line.discount_amount,
            net=line.total_amount - line.tax_amount,
            tax=line.tax_amount,
            tax_code=line.tax_code,
            total=line.total_amount,
        )
        for line in order.lines.order_by("line_number")
    ]
    net = sum((line.net for line in lines), Decimal(0))
    tax = sum((line.tax for line in lines), Decimal(0))
    return DocumentData(
        source_system=source_system,
        external_id=f"receipt:{txn.key}",
        number=txn.receipt_number[:64],
        currency=txn.currency,
        net_total=net,
        tax_total=tax,
        total=net + tax,
        issued_at=txn.occurred_at,
        lines=lines,
    )


def _void(order: Order, txn: TillTransaction, source_system: str) -> None:
    """Every tender of the sale given back at the till, a Refund for what was left, the order
    ended *refunded*."""
    payments = list(order.payments.all().order_by("pk"))
    given_back = [
        TillTenderData(
            external_id=f"{txn.key}:void:{payment.pk}",
            method=payment.method,
            amount=payment.captured_amount - payment.refunded_amount,
        )
        for payment in payments
        if payment.captured_amount > payment.refunded_amount
    ]
    record_till_refunds(order, given_back, source_system=source_system, at=txn.updated_at)
    amount = sum((t.amount for t in given_back), Decimal(0))
    if amount > 0:
        record_channel_refunds(
            order,
            [ChannelRefundData(external_id=f"void:{txn.key}", amount=amount, reason="voided")],
            source_system=source_system,
        )
    void_till_order(order, reason=f"voided at the till {txn.register} of {txn.store}")


def _apply_sale(connection: Connection, txn: TillTransaction) -> Any:
    assert txn.order is not None
    slug = connection.slug
    store = till_store(txn.store)
    check_skus([line.sku_code for line in txn.order.lines], where=f"sale {txn.transaction_id}")
    held = Order.objects.filter(source_system=slug, external_id=txn.key).first()
    if held is not None:  # live and upload overlap, a second upload, a redelivery
        if txn.voided and held.state not in ENDED:
            _void(held, txn, slug)
            recheck_day_close(slug, txn.store, txn.business_day)
        return held.correlation_id
    result = create_till_order(_channel(connection), txn.order, store=store)
    order = result.order
    if txn.voided or order.state != OrderState.ACCEPTED:
        return order.correlation_id
    record_till_tenders(order, list(txn.tenders), source_system=slug, at=txn.occurred_at)
    fulfil_at_till(order, store=store, at=txn.occurred_at)
    record_invoice(order, receipt_document(order, txn, slug))
    recheck_day_close(slug, txn.store, txn.business_day)
    return order.correlation_id


def _apply_return(connection: Connection, txn: TillTransaction) -> Any:
    slug = connection.slug
    till_store(txn.store)
    where = f"return {txn.transaction_id}"
    check_skus([line.sku for line in txn.lines], where=where)
    if txn.voided:
        return Ignored(f"{where} was voided at the till: nothing was given back")
    if txn.original is None:
        found = record_unreceipted_return(
            UnreceiptedReturnData(
                source_system=slug,
                external_id=txn.key,
                number=txn.receipt_number,
                store=txn.store,
                business_date=txn.business_day,
                currency=txn.currency,
                total=txn.total,
                tenders=list(txn.tenders),
                lines=[f"{line.quantity} × {line.sku} ({line.total:.2f})" for line in txn.lines],
                reason=txn.reason,
            ),
            limit=_no_receipt_limit(),
        )
        recheck_day_close(slug, txn.store, txn.business_day)
        return found.correlation_id
    original = Order.objects.filter(source_system=slug, external_id=txn.original.key).first()
    if original is None:
        raise NotYet(f"{where}: its sale {txn.original.key} has not reached us yet")
    skus = {line.external_id: line.sku_code for line in original.lines.all()}
    for line in txn.lines:
        named = skus.get(f"{txn.original.key}:{line.original_line}")
        if named is None:
            raise TranslationError(
                f"{where}: line {line.line_id} names line {line.original_line!r}, which sale "
                f"{txn.original.transaction_id} does not have"
            )
        if named != line.sku:
            raise TranslationError(
                f"{where}: line {line.line_id} returns {line.sku!r}, but line "
                f"{line.original_line} of sale {txn.original.transaction_id} sold {named!r}"
            )
    refunds = record_channel_refunds(
        original,
        [ChannelRefundData(external_id=txn.key, amount=txn.total, reason=txn.reason or "return")],
        source_system=slug,
    )
    for refund in refunds:
        record_refund_lines(
            refund,
            [
                ChannelRefundLineData(
                    external_id=f"{txn.key}:{line.line_id}",
                    order_line_external_id=f"{txn.original.key}:{line.original_line}",
                    quantity=line.quantity,
                    amount=line.total - line.tax,
                    tax=line.tax,
                )
                for line in txn.lines
            ],
        )
        record_till_refunds(original, list(txn.tenders), source_system=slug, at=txn.occurred_at)
    recheck_day_close(slug, txn.store, txn.business_day)
    return original.correlation_id


def apply_transaction(connection: Connection, txn: TillTransaction) -> Any:
    """One till transaction, live or from an upload; a domain refusal becomes the dead letter's
    text (the whole event is rolled back: nothing of it applied)."""
    try:
        if txn.type == RETURN:
            return _apply_return(connection, txn)
        return _apply_sale(connection, txn)
    except (TillRefused, PaymentError, RefundError, UnmappedChannelStatus) as exc:
        raise TranslationError(f"transaction {txn.transaction_id} of {txn.store}: {exc}") from exc


def _store_of(code: str, *, what: str) -> Location:
    try:
        return till_store(code)
    except TillRefused as exc:
        raise TranslationError(f"{what}: {exc}") from exc


def _apply_count(connection: Connection, obj: dict[str, Any]) -> Any:
    store, reports = translate_count(obj)
    _store_of(store, what=f"stock count {obj.get('id')}")
    if not reports:
        return Ignored(f"stock count {obj.get('id')} has no items")
    try:
        record_stock_reports("pos", reports, source=f"{connection.slug} count {obj.get('id')}")
    except StockFeedRefused as exc:
        raise TranslationError(str(exc)) from exc
    return None


@inbound(SystemKind.POS)
def handle_inbound(event: InboundEvent) -> Any:
    """Apply one POS event; returns the correlation id of the (last) transaction it touched."""
    try:
        envelope = parse_event(event.body.encode())
    except ValueError as exc:
        raise TranslationError(f"not a POS event: {exc}") from exc
    connection = event.connection
    kind, obj = envelope["type"], envelope["data"]["object"]
    if kind == STOCK_COUNTED:
        return _apply_count(connection, obj)
    if kind == DAY_CLOSED:
        close = translate_close(obj, source_system=connection.slug)
        _store_of(close.store, what=f"day close {close.external_id}")
        found = record_day_close(close)
        return found.correlation_id if found is not None else None
    if kind == DAY_UPLOADED:
        upload = translate_upload(obj, source_system=connection.slug)
        last = None
        for txn in upload.transactions:
            outcome = apply_transaction(connection, txn)
            last = outcome if not isinstance(outcome, Ignored) else last
        if upload.close is not None:
            _store_of(upload.close.store, what=f"upload {upload.upload_id}")
            record_day_close(upload.close)
        logger.info(
            "POS upload %s of %s: %d transactions",
            upload.upload_id,
            upload.store,
            len(upload.transactions),
        )
        return last or Ignored(f"upload {upload.upload_id} held no transactions")
    txn = translate_transaction(obj, source_system=connection.slug)
    return apply_transaction(connection, txn)
