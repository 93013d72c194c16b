"""Line-level cancellation of backorders, from the order page: the warehouse short-picked, ops
decide the rest will not come — the lines shrink, the order counts as shipped, and the money
follows (captured: refunded for those units; authorized: the last capture takes only what is
still on the order)."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import pytest
from django.test import Client

from controltower.catalog.choices import CaptureMode
from controltower.core.context import acting_as
from controltower.fulfilment.services import (
    ShipmentLineData,
    cancel_order_lines,
    record_backorder,
)
from controltower.orders.choices import FulfilmentStatus, OrderEventType
from controltower.orders.models import Order
from integrations.runtime.models import Connection, OutboundMessage
from tests.factories import lifecycle

URL = "/fulfilment/orders/{}/cancel-backorders/"


def _gateway() -> None:
    connection = Connection(slug="gateway", name="Gateway", kind="payments", base_url="http://x:9")
    connection.set_credentials({"secret_key": "sk"})
    connection.save()


def _order(*, capture: str) -> Order:
    """Web order 1001, its method taking the money ``capture``, paid (or authorized),
    registered in the ERP and released to the warehouse."""
    order = lifecycle.web_order()
    lifecycle.payment_method(order.payment_method, capture_mode=capture)
    order = lifecycle.pay(order, capture=capture == CaptureMode.AT_CHECKOUT)
    return lifecycle.release(lifecycle.register(order))


def _short_pick(order: Order) -> tuple[Any, Any]:
    first, second = order.lines.order_by("line_number")[:2]
    with acting_as("sync.wms"):
        record_backorder(
            order,
            lines=[ShipmentLineData(second.line_number, second.sku_code, second.quantity)],
            reference=order.wms_reference,
        )
    assert lifecycle.ship(order, "SHP-1", {first.line_number: first.quantity}) is not None
    order.refresh_from_db()
    assert order.fulfilment_status == FulfilmentStatus.PARTIALLY_SHIPPED
    return first, second


@pytest.mark.django_db
def test_ops_cancel_a_backorder_and_the_captured_money_for_it_is_refunded(
    client: Client, ops_user: Any
) -> None:
    _gateway()
    order = _order(capture=CaptureMode.AT_CHECKOUT)
    _first, second = _short_pick(order)
    client.force_login(ops_user)
    page = client.get(f"/orders/{order.pk}/")
    assert "Backordered: will they come?" in page.content.decode()
    # when
    response = client.post(
        URL.format(order.pk), {"line": [second.line_number], "reason": "supplier discontinued"}
    )
    # then
    assert response.status_code == 302
    order.refresh_from_db()
    second.refresh_from_db()
    assert (second.quantity_cancelled, second.quantity_backordered) == (second.quantity, 0)
    assert order.fulfilment_status == FulfilmentStatus.SHIPPED
    refund = OutboundMessage.objects.get(kind="payments.refund.create")
    assert Decimal(refund.payload["total"]) == second.total_amount + second.tax_amount
    assert order.events.filter(type=OrderEventType.LINES_CANCELLED).exists()
    assert "Cancelled" in client.get(f"/orders/{order.pk}/").content.decode()


@pytest.mark.django_db
def test_an_authorization_is_captured_only_for_what_is_still_on_the_order(
    client: Client, ops_user: Any
) -> None:
    _gateway()
    order = _order(capture=CaptureMode.AT_SHIPMENT)
    _first, second = _short_pick(order)
    partial = OutboundMessage.objects.get(kind="payments.intent.capture")
    # when: the backordered line is cancelled, the order has all shipped
    with acting_as(ops_user):
        cancel_order_lines(order, {second.line_number: second.quantity}, actor=ops_user, reason="x")
    # then: the final capture takes the order's value less the cancelled units, not the rest of
    # the authorization
    finals = OutboundMessage.objects.filter(kind="payments.intent.capture").exclude(pk=partial.pk)
    final = finals.get()
    assert final.payload["final_capture"] is True
    still_on_order = order.total_amount - second.total_amount - second.tax_amount
    assert Decimal(partial.payload["total"]) + Decimal(final.payload["total"]) == still_on_order
    assert not OutboundMessage.objects.filter(kind="payments.refund.create").exists()


@pytest.mark.django_db
def test_a_cancel_without_reason_or_line_changes_nothing_and_others_may_not(
    client: Client, ops_user: Any, finance_requester: Any
) -> None:
    order = _order(capture=CaptureMode.AT_CHECKOUT)
    _first, second = _short_pick(order)
    client.force_login(ops_user)
    told = client.post(URL.format(order.pk), {"line": [second.line_number]}, HTTP_HX_REQUEST="1")
    assert told.status_code == 400
    assert told.content.decode() == "A reason is required to cancel backordered units."
    told = client.post(URL.format(order.pk), {"reason": "x"}, HTTP_HX_REQUEST="1")
    assert told.content.decode() == "Tick at least one line with backordered units."
    client.force_login(finance_requester)
    assert client.post(URL.format(order.pk), {"line": [2], "reason": "x"}).status_code == 403
    second.refresh_from_db()
    assert second.quantity_cancelled == 0
