"""Refund services: refunds recorded from a channel's report once, lines read once, refusals
that change nothing."""

from __future__ import annotations

from decimal import Decimal

import pytest

from controltower.core.context import acting_as
from controltower.orders.choices import OrderState
from controltower.orders.models import Order
from controltower.orders.services import upsert_channel_order
from controltower.returns.choices import RefundEventType, RefundState
from controltower.returns.models import Refund, RefundLine
from controltower.returns.services import (
    ChannelRefundData,
    ChannelRefundLineData,
    RefundError,
    RefundExceedsOrder,
    record_channel_refunds,
    record_refund_lines,
    refuse_refund_lines,
)
from integrations.woocommerce.translate import translate_order
from tests.factories.integrations import web_channel
from tests.factories.woocommerce import woo_order

SOURCE = "woocommerce:woo-web"


@pytest.fixture
def order(db: None) -> Order:
    data = translate_order(woo_order(1001), source_system=SOURCE)  # total 70.77 EUR
    with acting_as("sync.woocommerce"):
        return upsert_channel_order(web_channel(), data).order


def _record(order: Order, *refunds: ChannelRefundData) -> list[Refund]:
    with acting_as("sync.woocommerce"):
        return record_channel_refunds(order, refunds, source_system=SOURCE)


def test_record_channel_refunds_creates_refund_with_history_and_event(order: Order) -> None:
    # given
    report = ChannelRefundData(external_id="726", amount=Decimal("10.00"), reason="Late delivery")
    # when
    [refund] = _record(order, report)
    # then
    refund.refresh_from_db()
    assert (refund.order_id, refund.amount, refund.currency) == (order.pk, Decimal("10"), "EUR")
    assert (refund.source_system, refund.external_id) == (SOURCE, "726")
    assert refund.correlation_id == order.correlation_id
    assert refund.state == RefundState.REQUESTED
    assert refund.reason == "Late delivery"
    assert refund.details_fetched_at is None
    record = refund.history.get()
    assert record.history_user.username == "sync.woocommerce"
    assert record.history_change_reason == f"reported by {SOURCE}"
    event = refund.events.get()
    assert event.type == RefundEventType.RECORDED
    assert event.actor.username == "sync.woocommerce"
    assert event.parameters == {"source": SOURCE, "amount": "10.00", "currency": "EUR"}


def test_record_channel_refunds_twice_makes_one_refund(order: Order) -> None:
    # given
    report = ChannelRefundData(external_id="726", amount=Decimal("10.00"))
    _record(order, report)
    # when
    again = _record(order, report)
    # then
    assert again == []
    assert Refund.objects.count() == 1
    assert Refund.history.count() == 1


def test_record_channel_refunds_partial_leaves_order_state(order: Order) -> None:
    # given
    assert order.state == OrderState.ACCEPTED
    # when
    _record(order, ChannelRefundData(external_id="726", amount=Decimal("10.00")))
    # then
    order.refresh_from_db()
    assert order.state == OrderState.ACCEPTED


def test_record_channel_refunds_more_than_the_order_is_refused_whole(order: Order) -> None:
    # given: one refund held already
    _record(order, ChannelRefundData(external_id="726", amount=Decimal("60.00")))
    # when: two more, together past the order's 70.77
    with pytest.raises(RefundExceedsOrder) as refused:
        _record(
            order,
            ChannelRefundData(external_id="727", amount=Decimal("5.00")),
            ChannelRefundData(external_id="728", amount=Decimal("10.00")),
        )
    # then
    assert str(refused.value) == (
        "refunds of order #1001 would total 75.00 EUR, more than the order's 70.77 EUR"
    )
    assert list(Refund.objects.values_list("external_id", flat=True)) == ["726"]


def _lines(refund: Refund, *lines: tuple[str, int, str, str]) -> Refund:
    data = [
        ChannelRefundLineData(
            external_id=f"{refund.external_id}:{n}",
            order_line_external_id=line,
            quantity=qty,
            amount=Decimal(amount),
            tax=Decimal(tax),
        )
        for n, (line, qty, amount, tax) in enumerate(lines)
    ]
    with acting_as("sync.woocommerce"):
        return record_refund_lines(refund, data)


def test_record_refund_lines_writes_lines_and_tax_once(order: Order) -> None:
    # given
    [refund] = _record(order, ChannelRefundData(external_id="726", amount=Decimal("24.14")))
    # when
    refund = _lines(refund, ("1001:10011", 1, "19.95", "4.19"))
    again = _lines(refund, ("1001:10011", 1, "19.95", "4.19"))
    # then
    line = RefundLine.objects.get()
    assert line.order_line.sku_code == "NW-TEE-001-BLK-M"
    assert (line.quantity, line.amount, line.tax_amount) == (1, Decimal("19.95"), Decimal("4.19"))
    assert line.correlation_id == order.correlation_id
    assert again.tax_amount == Decimal("4.19")
    assert again.details_fetched_at is not None
    assert list(refund.events.values_list("type", flat=True)) == [
        RefundEventType.RECORDED,
        RefundEventType.DETAILS_RECORDED,
    ]


def test_record_refund_lines_unknown_order_line_writes_nothing(order: Order) -> None:
    # given
    [refund] = _record(order, ChannelRefundData(external_id="726", amount=Decimal("30.00")))
    # when
    with pytest.raises(RefundError) as refused:
        _lines(refund, ("1001:10011", 1, "19.95", "0"), ("1001:99999", 1, "5.00", "0"))
    # then
    assert str(refused.value) == "refund 726: line '1001:99999' is not a line of order #1001"
    assert not RefundLine.objects.exists()
    refund.refresh_from_db()
    assert refund.details_fetched_at is None


def test_record_refund_lines_more_than_the_refund_is_refused(order: Order) -> None:
    # given
    [refund] = _record(order, ChannelRefundData(external_id="726", amount=Decimal("10.00")))
    # when
    with pytest.raises(RefundError) as refused:
        _lines(refund, ("1001:10011", 1, "19.95", "4.19"))
    # then
    assert "its lines give back 24.14 EUR, more than the refund's 10.00" in str(refused.value)
    assert not RefundLine.objects.exists()


def test_refuse_refund_lines_records_the_reason(order: Order) -> None:
    # given
    [refund] = _record(order, ChannelRefundData(external_id="726", amount=Decimal("10.00")))
    # when
    with acting_as("sync.woocommerce"):
        refuse_refund_lines(refund, reason="line_items[0]: names no order item")
    # then
    event = refund.events.get(type=RefundEventType.DETAILS_REFUSED)
    assert event.parameters == {"reason": "line_items[0]: names no order item"}
    assert event.actor.username == "sync.woocommerce"
