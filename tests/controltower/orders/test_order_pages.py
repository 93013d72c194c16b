"""The order page's lifecycle strip (one step per system, what the order waits on and since when)
and the orders list filtered by stage and by who an order waits on, live as before."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

import pytest
from django.contrib.auth.models import User
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext

from controltower.catalog.models import SKU
from controltower.core.context import acting_as
from controltower.core.writepath import service_scope
from controltower.finance.services import DocumentData, DocumentLineData, record_invoice
from controltower.fulfilment.services import (
    ShipmentData,
    ShipmentLineData,
    record_release,
    record_shipment,
)
from controltower.orders.choices import OrderStage, PostingStatus, WaitingOn
from controltower.orders.live import render_orders
from controltower.orders.models import Order
from controltower.orders.services import register_order_in_erp, upsert_channel_order
from controltower.payments.choices import PaymentState, PaymentTransactionType
from controltower.payments.services import (
    GatewayPaymentData,
    GatewayTransactionData,
    sync_gateway_payment,
)
from integrations.woocommerce.translate import translate_order
from tests.factories.catalog import SKUFactory
from tests.factories.integrations import web_channel
from tests.factories.woocommerce import woo_order

T0 = datetime(2026, 11, 22, 10, 0, tzinfo=UTC)


def _place(number: int = 1001) -> Order:
    for code in ("NW-TEE-001-BLK-M", "NW-CAP-002-NAV-OS"):
        if not SKU.objects.filter(code=code).exists():
            SKUFactory(code=code)
    data = translate_order(woo_order(number, modified=T0), source_system="woocommerce:woo-web")
    with acting_as("sync.woocommerce"):
        return upsert_channel_order(web_channel(), data).order


def _capture(order: Order) -> None:
    amount = order.total_amount
    with acting_as("sync.payments"):
        sync_gateway_payment(
            GatewayPaymentData(
                source_system="gateway",
                external_id=f"pi_{order.number}",
                order_reference=f"{order.channel.code}-{order.number}",
                state=PaymentState.CAPTURED,
                currency=order.currency,
                amount=amount,
                authorized=amount,
                captured=amount,
                refunded=Decimal(0),
                transactions=[
                    GatewayTransactionData(
                        f"cap_{order.number}", PaymentTransactionType.CAPTURE, amount, T0
                    )
                ],
            )
        )


def _released(number: int = 1001) -> Order:
    order = _place(number)
    _capture(order)
    register_order_in_erp(order.pk, erp_reference=f"SO-{number}", connection="erp")
    with acting_as("sync.wms"):
        record_release(Order.objects.get(pk=order.pk), reference=f"REL-{number}", connection="wms")
    return Order.objects.get(pk=order.pk)


def _ship(order: Order, ref: str, line_numbers: list[int]) -> None:
    lines = {line.line_number: line for line in order.lines.all()}
    with acting_as("sync.wms"):
        record_shipment(
            order,
            ShipmentData(
                source_system="wms",
                external_id=ref,
                release_reference=order.wms_reference,
                carrier="DHL",
                tracking_number=f"JVGL{ref}",
                shipped_at=T0,
                lines=[
                    ShipmentLineData(n, lines[n].sku_code, lines[n].quantity) for n in line_numbers
                ],
            ),
        )


def _invoice_all(order: Order) -> None:
    rows = [
        DocumentLineData(
            line.line_number,
            line.sku_code,
            line.quantity,
            line.unit_price_amount,
            line.discount_amount,
            line.total_amount,
            line.tax_amount,
            "STD",
            line.total_amount + line.tax_amount,
        )
        for line in order.lines.all()
    ]
    line_tax = sum((row.tax for row in rows), Decimal(0))
    ship_tax = order.tax_amount - line_tax
    net = sum((row.net for row in rows), Decimal(0)) + order.shipping_amount
    with acting_as("sync.erp"):
        record_invoice(
            order,
            DocumentData(
                source_system="erp",
                external_id="INV-1",
                number="INV-1",
                currency=order.currency,
                net_total=net,
                tax_total=line_tax + ship_tax,
                total=net + line_tax + ship_tax,
                issued_at=T0,
                lines=rows,
                shipping_net=order.shipping_amount,
                shipping_tax=ship_tax,
                shipping_tax_code="STD",
            ),
        )


def _entered_stage_ago(order: Order, delta: timedelta) -> None:
    with service_scope():  # a fixture: the order as the domain would have left it, earlier
        order.stage_changed_at = order.stage_changed_at - delta
        order.save(update_fields=["stage_changed_at"])


def _step(html: str, system: str) -> str:
    """The step's <li> (class and content), for assertions on one system's step."""
    start = html.index(f'id="step-{system}"')
    return html[html.rindex("<li", 0, start) : html.index("</li>", start)]


# --- the lifecycle strip -------------------------------------------------------------------
@pytest.mark.django_db
def test_order_page_strip_shows_each_system_and_what_the_order_waits_on(
    client: Client, ops_user: User
) -> None:
    # given: paid, registered, released, one of two lines shipped, in this stage for 3 h 12 min
    order = _released()
    first = min(order.lines.values_list("line_number", flat=True))
    _ship(order, "SHP-1", [first])
    order.refresh_from_db()
    assert (order.stage, order.waiting_on) == (OrderStage.PARTIALLY_SHIPPED, WaitingOn.WMS)
    _entered_stage_ago(order, timedelta(hours=3, minutes=12))
    client.force_login(ops_user)
    # when
    html = client.get(f"/orders/{order.pk}/").content.decode()
    # then: the one line people read first
    assert "Partially shipped: waiting on WMS for 3 h 12 min" in html
    # and a step per system
    storefront, gateway, erp = (_step(html, s) for s in ("storefront", "gateway", "erp"))
    wms, ledger = _step(html, "wms"), _step(html, "ledger")
    assert 'class="step step-done"' in storefront and "Accepted" in storefront
    assert 'class="step step-done"' in gateway and "Captured" in gateway
    assert f"gateway captured {order.total_amount:.2f} EUR" in gateway
    assert 'class="step step-waiting"' in erp and "Registered SO-1001" in erp
    assert 'class="step step-current"' in wms and "waiting on it now" in wms
    assert "Partially shipped" in wms and "release REL-1001" in wms
    assert "shipment SHP-1: DHL JVGLSHP-1" in wms
    assert 'class="step step-waiting"' in ledger and "Not due" in ledger


@pytest.mark.django_db
def test_order_page_strip_shows_a_blocked_posting_with_what_is_missing(
    client: Client, ops_user: User
) -> None:
    # given: shipped and invoiced, but no GL accounts are mapped, so the posting is blocked
    order = _released()
    _ship(order, "SHP-1", list(order.lines.values_list("line_number", flat=True)))
    _invoice_all(Order.objects.get(pk=order.pk))
    order.refresh_from_db()
    assert (order.posting_status, order.waiting_on) == (PostingStatus.BLOCKED, WaitingOn.PEOPLE)
    client.force_login(ops_user)
    # when
    html = client.get(f"/orders/{order.pk}/").content.decode()
    # then
    ledger, erp = _step(html, "ledger"), _step(html, "erp")
    assert 'class="step step-problem"' in ledger and "Blocked" in ledger
    assert "missing:" in ledger
    assert 'class="step step-done"' in erp and "invoice INV-1" in erp
    assert "Invoiced: waiting on people for" in html


@pytest.mark.django_db
def test_order_page_strip_of_a_cancelled_order_waits_on_nothing(
    client: Client, ops_user: User
) -> None:
    # given
    order = _place()
    client.force_login(ops_user)
    client.post(f"/orders/{order.pk}/cancel/", {"reason": "duplicate order"})
    # when
    html = client.get(f"/orders/{order.pk}/").content.decode()
    # then
    assert "Cancelled under a minute ago: waiting on nothing" in html
    assert "step-current" not in html


@pytest.mark.django_db
def test_order_page_queries_stay_bounded_with_more_shipments(
    client: Client, ops_user: User, django_assert_max_num_queries: Any
) -> None:
    # given: an order with one shipment, its page's query count measured
    order = _released()
    first, second = order.lines.order_by("line_number")[:2]
    _ship(order, "SHP-1", [first.line_number])
    client.force_login(ops_user)
    client.get(f"/orders/{order.pk}/")  # warm the per-process memo (service users, mappings)
    with CaptureQueriesContext(connection) as one_shipment:
        client.get(f"/orders/{order.pk}/")
    # when a second shipment arrives
    _ship(Order.objects.get(pk=order.pk), "SHP-2", [second.line_number])
    # then the page costs no more queries, and stays under a fixed ceiling
    with django_assert_max_num_queries(min(len(one_shipment), 40)):
        response = client.get(f"/orders/{order.pk}/")
    assert response.status_code == 200
    assert response.content.decode().count('<div class="step-detail">shipment SHP-') == 2


# --- the list: stage and waiting-on --------------------------------------------------------
@pytest.mark.django_db
def test_order_list_filters_by_stage_and_waiting_on(client: Client, ops_user: User) -> None:
    # given: one order waiting on the gateway, one released to the warehouse
    waiting_for_money = _place(1001)
    released = _released(1002)
    client.force_login(ops_user)
    # when
    by_stage = client.get("/orders/", {"stage": "released"}).content.decode()
    by_system = client.get("/orders/", {"waiting_on": "gateway"}).content.decode()
    # then
    assert "1 order" in by_stage
    assert f'id="order-{released.pk}"' in by_stage
    assert f'id="order-{waiting_for_money.pk}"' not in by_stage
    assert "Released to warehouse" in by_stage and "Warehouse ·" in by_stage
    assert "1 order" in by_system
    assert f'id="order-{waiting_for_money.pk}"' in by_system
    # a filtered list polls but takes no pushes (today's rule)
    assert 'id="orders-live-body"' not in by_stage


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("params", "error"),
    [
        ({"stage": "lost"}, "Select a valid choice. lost is not one of the available choices."),
        ({"waiting_on": "mars"}, "Select a valid choice. mars is not one of the available"),
    ],
)
def test_order_list_unknown_stage_or_system_is_400_with_the_error(
    client: Client, ops_user: User, params: dict[str, str], error: str
) -> None:
    # given
    client.force_login(ops_user)
    # when
    response = client.get("/orders/", params)
    # then
    assert response.status_code == 400
    assert error in response.content.decode()


@pytest.mark.django_db
def test_order_list_unfiltered_is_live_and_shows_stage_columns(
    client: Client, ops_user: User
) -> None:
    # given
    order = _place()
    client.force_login(ops_user)
    # when
    html = client.get("/orders/").content.decode()
    # then
    assert 'id="orders-live-body"' in html
    assert "<th>Stage</th><th>Waiting on</th>" in html
    assert "Payment gateway ·" in html
    assert f'id="order-{order.pk}"' in html


@pytest.mark.django_db
def test_order_push_row_carries_stage_and_waiting_on() -> None:
    # given: an order that moved on to the warehouse
    order = _released()
    # when: the row pushed to the live list is rendered
    html = render_orders({order.pk: False})
    # then: the same columns the list shows, swapped in by the row's id
    assert f'<tr id="order-{order.pk}"' in html
    assert 'hx-swap-oob="true"' in html
    assert "Registered in ERP" in html or "Released to warehouse" in html
    assert "Warehouse ·" in html
