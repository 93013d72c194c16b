"""Status and notes back to the store, through the outbox, against the WooCommerce simulator over
HTTP (OAuth 1.0a over http, as a real shop checks it)."""

from __future__ import annotations

import time
from typing import Any

import httpx
import pytest
from django.test import Client

from controltower.orders.choices import OrderState
from controltower.orders.models import Order
from controltower.orders.services import cancel_order
from integrations.runtime.choices import OutboundStatus
from integrations.runtime.inbox import claim_inbound, process_inbound_event
from integrations.runtime.models import OutboundMessage
from integrations.runtime.outbox import claim_outbound, deliver_outbound_message
from integrations.woocommerce.adapter import ORDER_NOTE, ORDER_UPDATE, queue_customer_note
from integrations.woocommerce.backfill import backfill_orders
from integrations.woocommerce.client import get_json, woo_client
from tests.factories.integrations import woo_connection
from tests.factories.woocommerce import body_of, webhook_headers


def drain_inbox() -> None:
    while ids := claim_inbound(50):
        for event_id in ids:
            process_inbound_event(event_id)


def deliver_all() -> None:
    while ids := claim_outbound(50):
        for message_id in ids:
            deliver_outbound_message(message_id)


def store_order(connection: Any, order_id: str) -> dict[str, Any]:
    with woo_client(connection) as client:
        return get_json(client, f"/orders/{order_id}")


def one_order_from_the_store(sim: Any) -> tuple[Any, Order]:
    connection = woo_connection(base_url=sim.url)
    response = httpx.post(f"{sim.url}/_sim/orders", json={"count": 1, "status": "processing"})
    assert response.status_code in (200, 201), response.text
    backfill_orders(connection)
    drain_inbox()
    order = Order.objects.get()
    assert order.state == OrderState.ACCEPTED, order.state
    return connection, order


@pytest.mark.django_db
def test_cancel_order_by_a_person_updates_the_store_once(woo_simulator, ops_user) -> None:
    # given
    connection, order = one_order_from_the_store(woo_simulator)
    # when: ops cancels it here
    cancel_order(order, actor=ops_user, reason="customer phoned")
    deliver_all()
    # then: cancelled here, history names the person, the store's order is cancelled
    order.refresh_from_db()
    assert order.state == OrderState.CANCELLED
    assert order.history.first().history_user == ops_user
    assert "customer phoned" in order.history.first().history_change_reason
    message = OutboundMessage.objects.get(kind=ORDER_UPDATE)
    assert message.status == OutboundStatus.DELIVERED, message.last_error
    assert message.payload == {"order_id": order.external_id, "body": {"status": "cancelled"}}
    assert store_order(connection, order.external_id)["status"] == "cancelled"


@pytest.mark.django_db
def test_cancel_order_store_echo_does_not_loop(client: Client, woo_simulator, ops_user) -> None:
    # given: cancelled here and in the store
    connection, order = one_order_from_the_store(woo_simulator)
    cancel_order(order, actor=ops_user, reason="fraud check")
    deliver_all()
    sent = OutboundMessage.objects.count()
    # when: WooCommerce fires order.updated for the change we made
    body = body_of(store_order(connection, order.external_id))
    response = client.post(
        f"/hooks/woocommerce/{connection.slug}/",
        data=body,
        content_type="application/json",
        headers=webhook_headers(body, topic="order.updated"),
    )
    assert response.status_code == 200
    drain_inbox()
    # then: applied (nothing to change), nothing sent back
    order.refresh_from_db()
    assert order.state == OrderState.CANCELLED
    assert OutboundMessage.objects.count() == sent


@pytest.mark.django_db
def test_cancel_order_reported_by_the_store_is_not_sent_back(client: Client, woo_simulator) -> None:
    # given
    connection, order = one_order_from_the_store(woo_simulator)
    time.sleep(1.1)  # date_modified_gmt has 1 s resolution: a same-second change is not newer
    with woo_client(connection) as http:
        cancelled = http.put(f"/orders/{order.external_id}", json={"status": "cancelled"}).json()
    # when: the store's own cancel arrives
    body = body_of(cancelled)
    client.post(
        f"/hooks/woocommerce/{connection.slug}/",
        data=body,
        content_type="application/json",
        headers=webhook_headers(body, topic="order.updated"),
    )
    drain_inbox()
    # then
    order.refresh_from_db()
    assert order.state == OrderState.CANCELLED
    assert not OutboundMessage.objects.filter(kind=ORDER_UPDATE).exists()


@pytest.mark.django_db
def test_customer_note_is_posted_once_even_when_retried(woo_simulator) -> None:
    # given
    connection, order = one_order_from_the_store(woo_simulator)
    note = "Verzonden met PostNL — track & trace 3SABCD1234567"
    # when: queued twice for the same shipment, delivered, then retried as after a lost answer
    assert queue_customer_note(order, note=note, key="shipment:1") is True
    assert queue_customer_note(order, note=note, key="shipment:1") is False
    deliver_all()
    message = OutboundMessage.objects.get(kind=ORDER_NOTE)
    assert message.status == OutboundStatus.DELIVERED, message.last_error
    OutboundMessage.objects.filter(pk=message.pk).update(status=OutboundStatus.PENDING)
    deliver_all()
    # then: one customer note in the store
    with woo_client(connection) as http:
        notes = get_json(http, f"/orders/{order.external_id}/notes")
    ours = [n for n in notes if n["note"] == note]
    assert len(ours) == 1
    assert ours[0]["customer_note"] is True
    assert OutboundMessage.objects.get(kind=ORDER_NOTE).attempts == 2
