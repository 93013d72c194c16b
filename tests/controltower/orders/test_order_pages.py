"""The order page's lifecycle strip (one step per system, what the order waits on and since when)
and the orders list filtered by stage and by who an order waits on, live as before."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
from django.contrib.auth.models import User
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext

from controltower.core.writepath import service_scope
from controltower.orders.choices import OrderStage, PostingStatus, WaitingOn
from controltower.orders.live import render_orders
from controltower.orders.models import Order
from tests.factories import lifecycle


def _released(number: int = 1001) -> Order:
    return lifecycle.take_to(lifecycle.web_order(number), "released")


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
    first = order.lines.order_by("line_number").first()
    lifecycle.ship(order, "SHP-1", {first.line_number: first.quantity})
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
    lifecycle.ship(order, "SHP-1")
    lifecycle.invoice(order, "INV-1")
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
    order = lifecycle.web_order()
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
    lifecycle.ship(order, "SHP-1", {first.line_number: first.quantity})
    client.force_login(ops_user)
    client.get(f"/orders/{order.pk}/")  # warm the per-process memo (service users, mappings)
    with CaptureQueriesContext(connection) as one_shipment:
        client.get(f"/orders/{order.pk}/")
    # when a second shipment arrives
    lifecycle.ship(order, "SHP-2", {second.line_number: second.quantity})
    # then the page costs no more queries, and stays under a fixed ceiling
    with django_assert_max_num_queries(min(len(one_shipment), 40)):
        response = client.get(f"/orders/{order.pk}/")
    assert response.status_code == 200
    assert response.content.decode().count('<div class="step-detail">shipment SHP-') == 2


# --- the list: stage and waiting-on --------------------------------------------------------
@pytest.mark.django_db
def test_order_list_filters_by_stage_and_waiting_on(client: Client, ops_user: User) -> None:
    # given: one order waiting on the gateway, one released to the warehouse
    waiting_for_money = lifecycle.web_order(1001)
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
    order = lifecycle.web_order()
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
