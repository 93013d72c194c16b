"""``order.deleted`` (body only ``{"id": N}``) and ``order.restored``, through the real webhook view
with signed bodies, the inbox, the outbox and the ERP simulator over HTTP. Never a dead letter."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import httpx
import pytest
from django.test import Client

from controltower.exceptions.models import OpsException
from controltower.orders.choices import OrderEventType, OrderState
from controltower.orders.models import Order
from integrations.erp.adapter import SALES_ORDER_CANCEL, SALES_ORDER_CREATE
from integrations.runtime.choices import OutboundStatus
from integrations.runtime.inbox import claim_inbound, process_inbound_event
from integrations.runtime.models import InboundEvent, OutboundMessage
from integrations.runtime.outbox import claim_outbound, deliver_outbound_message
from tests.factories.integrations import ERP_TOKEN, erp_connection, woo_connection
from tests.factories.woocommerce import body_of, webhook_headers, woo_order

URL = "/hooks/woocommerce/woo-web/"
T0 = datetime(2026, 11, 22, 10, 0, 0, tzinfo=UTC)
T1 = datetime(2026, 11, 22, 11, 0, 0, tzinfo=UTC)
T2 = datetime(2026, 11, 22, 12, 0, 0, tzinfo=UTC)


def send(client: Client, payload: dict[str, Any], topic: str) -> None:
    body = body_of(payload)
    response = client.post(
        URL, data=body, content_type="application/json", headers=webhook_headers(body, topic=topic)
    )
    assert response.status_code == 200, response.content


def drain_inbox() -> None:
    while ids := claim_inbound(50):
        for event_id in ids:
            process_inbound_event(event_id)


def deliver_all() -> None:
    for _ in range(10):
        ids = claim_outbound(50)
        if not ids:
            return
        for message_id in ids:
            deliver_outbound_message(message_id)


def erp_orders(erp: Any) -> list[dict[str, Any]]:
    response = httpx.get(
        f"{erp.url}/api/v1/sales-orders", headers={"Authorization": f"Bearer {ERP_TOKEN}"}
    )
    return response.json()["results"]


@pytest.mark.django_db
def test_order_deleted_registered_order_is_cancelled_here_and_in_the_erp(
    client: Client, erp_simulator
) -> None:
    # given: an accepted order registered in the ERP
    woo_connection()
    erp_connection(base_url=erp_simulator.url)
    send(client, woo_order(1001, modified=T0), "order.created")
    drain_inbox()
    deliver_all()
    order = Order.objects.get()
    assert order.state == OrderState.REGISTERED and order.erp_reference
    # when: the store trashes it (WooCommerce sends only the id)
    send(client, {"id": 1001}, "order.deleted")
    drain_inbox()
    deliver_all()
    # then: trashed and cancelled here, history kept and naming the sync user
    order.refresh_from_db()
    assert order.trashed_at is not None
    assert order.state == OrderState.CANCELLED
    event = InboundEvent.objects.get(topic="order.deleted")
    assert event.status == "processed", event.error
    last = order.history.first()
    assert last.history_user.username == "sync.woocommerce"
    assert "cancelled" in last.history_change_reason
    assert order.history.count() >= 4  # received, accepted, registered, trashed, cancelled
    types = list(order.events.values_list("type", flat=True))
    assert OrderEventType.TRASHED in types and OrderEventType.ERP_CANCELLED in types
    # and the ERP sales order is cancelled, once, under the outbox's idempotency key
    (sales_order,) = erp_orders(erp_simulator)
    assert sales_order["id"] == order.erp_reference
    assert sales_order["status"] == "cancelled"
    cancel = OutboundMessage.objects.get(kind=SALES_ORDER_CANCEL)
    assert cancel.status == OutboundStatus.DELIVERED
    assert not OpsException.objects.exists()


@pytest.mark.django_db
def test_order_deleted_while_create_is_queued_withdraws_the_create(
    client: Client, erp_simulator
) -> None:
    # given: an accepted order whose ERP create has not been delivered yet
    woo_connection()
    erp_connection(base_url=erp_simulator.url)
    send(client, woo_order(1002, modified=T0), "order.created")
    drain_inbox()
    create = OutboundMessage.objects.get(kind=SALES_ORDER_CREATE)
    assert create.status == OutboundStatus.PENDING
    # when: the order is deleted, then the outbox drains
    send(client, {"id": 1002}, "order.deleted")
    drain_inbox()
    deliver_all()
    # then: no sales order was ever created; the create is withdrawn and the cancel skipped
    assert erp_orders(erp_simulator) == []
    create.refresh_from_db()
    assert create.status == OutboundStatus.DELIVERED
    assert create.response["withdrawn"] is True
    assert create.response["reason"] == "order deleted in the channel before it reached the ERP"
    cancel = OutboundMessage.objects.get(kind=SALES_ORDER_CANCEL)
    assert cancel.status == OutboundStatus.DELIVERED
    assert "nothing to cancel" in cancel.response["skipped"]
    order = Order.objects.get()
    assert order.state == OrderState.CANCELLED and not order.erp_reference
    assert order.events.filter(type=OrderEventType.ERP_CREATE_WITHDRAWN).exists()


@pytest.mark.django_db
def test_order_deleted_after_it_completed_opens_an_exception_and_keeps_the_state(
    client: Client,
) -> None:
    # given: a completed order
    woo_connection()
    send(client, woo_order(1003, status="completed", modified=T0), "order.created")
    drain_inbox()
    # when
    send(client, {"id": 1003}, "order.deleted")
    drain_inbox()
    # then: trashed, still completed, the refused move recorded, an exception explains it
    order = Order.objects.get()
    assert order.trashed_at is not None
    assert order.state == OrderState.COMPLETED
    refused = order.events.get(type=OrderEventType.TRANSITION_REFUSED)
    assert refused.parameters["target"] == OrderState.CANCELLED
    exception = OpsException.objects.get()
    assert exception.title == "Order web #1003 was deleted in the store after it was Completed"
    assert "can no longer be cancelled" in exception.detail
    assert exception.money_at_risk_amount == order.total_amount
    assert InboundEvent.objects.get(topic="order.deleted").status == "processed"


@pytest.mark.django_db
def test_order_deleted_unknown_order_is_recorded_and_ignored(client: Client) -> None:
    # given
    woo_connection()
    # when
    send(client, {"id": 4242}, "order.deleted")
    drain_inbox()
    # then: recorded, ignored, not failed, nothing created
    event = InboundEvent.objects.get()
    assert event.status == "ignored"
    assert event.error == (
        "order.deleted for order 4242: no such order here (never received, or deleted before "
        "we saw it)"
    )
    assert not Order.objects.exists()
    assert not OpsException.objects.exists()


@pytest.mark.django_db
def test_order_restored_completed_order_comes_back_and_closes_its_exception(
    client: Client,
) -> None:
    # given: a completed order deleted in the store (exception open)
    woo_connection()
    send(client, woo_order(1004, status="completed", modified=T0), "order.created")
    drain_inbox()
    send(client, {"id": 1004}, "order.deleted")
    drain_inbox()
    assert OpsException.objects.open().count() == 1
    # when: the store restores it
    send(client, woo_order(1004, status="completed", modified=T1), "order.restored")
    drain_inbox()
    # then
    order = Order.objects.get()
    assert order.trashed_at is None
    assert order.state == OrderState.COMPLETED
    assert order.events.filter(type=OrderEventType.RESTORED).exists()
    assert OpsException.objects.open().count() == 0


@pytest.mark.django_db
def test_order_restored_of_a_cancelled_order_is_refused_and_explained(client: Client) -> None:
    # given: an accepted order deleted (→ cancelled) in the store
    woo_connection()
    send(client, woo_order(1005, modified=T0), "order.created")
    drain_inbox()
    send(client, {"id": 1005}, "order.deleted")
    drain_inbox()
    # when: restored as processing
    send(client, woo_order(1005, status="processing", modified=T1), "order.restored")
    drain_inbox()
    # then: un-trashed, still cancelled, the refused move recorded and explained
    order = Order.objects.get()
    assert order.trashed_at is None
    assert order.state == OrderState.CANCELLED
    refused = order.events.filter(type=OrderEventType.TRANSITION_REFUSED).latest("id")
    assert (refused.parameters["current"], refused.parameters["target"]) == (
        OrderState.CANCELLED,
        OrderState.ACCEPTED,
    )
    exception = OpsException.objects.open().get()
    assert exception.title == "Order web #1005 was restored in the store but stays cancelled"
    assert "does not allow cancelled → accepted" in exception.detail
    assert InboundEvent.objects.get(topic="order.restored").status == "processed"


@pytest.mark.django_db
def test_order_updated_with_status_trash_is_handled_as_deleted(client: Client) -> None:
    # given
    woo_connection()
    send(client, woo_order(1006, modified=T0), "order.created")
    drain_inbox()
    # when: a full body whose status is "trash" (what the REST API shows for a trashed order)
    send(client, woo_order(1006, status="trash", modified=T2), "order.updated")
    drain_inbox()
    # then: not a dead letter for an unmapped status
    order = Order.objects.get()
    assert order.trashed_at is not None and order.state == OrderState.CANCELLED
    assert InboundEvent.objects.get(topic="order.updated").status == "processed"


@pytest.mark.django_db
def test_order_deleted_after_the_erp_shipped_dead_letters_the_cancel_with_the_erp_reason(
    client: Client, erp_simulator
) -> None:
    # given: registered here, but the ERP already shipped it
    woo_connection()
    erp_connection(base_url=erp_simulator.url)
    send(client, woo_order(1007, modified=T0), "order.created")
    drain_inbox()
    deliver_all()
    order = Order.objects.get()
    httpx.post(
        f"{erp_simulator.url}/_sim/sales-orders/{order.erp_reference}/status",
        json={"status": "shipped"},
    )
    # when
    send(client, {"id": 1007}, "order.deleted")
    drain_inbox()
    deliver_all()
    # then: the ERP's refusal is permanent and becomes an exception a person sees
    cancel = OutboundMessage.objects.get(kind=SALES_ORDER_CANCEL)
    assert cancel.status == OutboundStatus.DEAD
    assert cancel.last_status_code == 409
    assert "can no longer be cancelled" in cancel.last_error
    assert OpsException.objects.open().filter(dedupe_key=f"outbound:{cancel.pk}").exists()
    assert erp_orders(erp_simulator)[0]["status"] == "shipped"
