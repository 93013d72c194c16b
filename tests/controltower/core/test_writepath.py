"""One write path: a process cannot change a domain row around the domain's services."""

from __future__ import annotations

import json

import pytest
from django.db import transaction
from django.test import Client

from controltower.core.context import acting_as
from controltower.core.writepath import WritePathViolation
from controltower.exceptions.models import OpsException
from controltower.orders.choices import OrderState
from controltower.orders.models import Order, OrderEvent
from controltower.orders.services import transition_order, upsert_channel_order
from integrations.runtime import registry
from integrations.runtime.inbox import claim_inbound, process_inbound_event
from integrations.runtime.models import InboundEvent
from integrations.woocommerce.translate import translate_order
from tests.factories.catalog import SKUFactory
from tests.factories.integrations import web_channel, woo_connection
from tests.factories.woocommerce import body_of, webhook_headers, woo_order

TEE = "NW-TEE-001-BLK-M"


@pytest.fixture
def order(db: None) -> Order:
    SKUFactory(code=TEE)
    data = translate_order(woo_order(1001), source_system="woocommerce:woo-web")
    with acting_as("sync.woocommerce"):
        return upsert_channel_order(web_channel(), data).order


def test_direct_save_by_a_sync_is_refused_and_changes_nothing(order: Order) -> None:
    # given
    history_before = order.history.count()
    # when: adapter code saving the row itself instead of calling the service
    order.state = OrderState.CANCELLED
    with (
        acting_as("sync.woocommerce"),
        pytest.raises(WritePathViolation) as refused,
    ):
        order.save()
    # then
    assert str(refused.value) == (
        f"sync.woocommerce tried to change orders.Order {order.pk} outside the orders services"
    )
    order.refresh_from_db()
    assert order.state == OrderState.ACCEPTED
    assert order.history.count() == history_before


def test_direct_delete_and_event_write_by_a_sync_are_refused(order: Order) -> None:
    # given
    event = order.events.earliest("id")
    events_before = order.events.count()
    # when / then
    with acting_as("system.runtime"):
        with (
            pytest.raises(WritePathViolation, match=r"tried to delete orders\.OrderEvent "),
            transaction.atomic(),
        ):
            event.delete()
        with (
            pytest.raises(WritePathViolation, match=r"tried to change orders\.OrderEvent "),
            transaction.atomic(),
        ):
            OrderEvent.objects.create(order=order, type="order_updated", parameters={})
    assert order.events.count() == events_before


def test_the_same_change_through_the_service_is_recorded_with_the_actor(order: Order) -> None:
    # when
    with acting_as("sync.woocommerce"):
        transition_order(order, OrderState.CANCELLED, reason="cancelled in the store")
    # then
    order.refresh_from_db()
    assert order.state == OrderState.CANCELLED
    latest = order.history.latest()
    assert latest.history_user.username == "sync.woocommerce"
    assert order.events.filter(type="state_changed").exists()


def test_a_person_is_not_a_process(order: Order, ops_user: object) -> None:
    # given: people's writes are governed by the pages and the admin, not by this guard
    order.customer_name = "Ada"
    # when
    with acting_as(ops_user):  # type: ignore[arg-type]
        order.save(update_fields=["customer_name"])
    # then
    order.refresh_from_db()
    assert order.customer_name == "Ada"


@pytest.mark.django_db
def test_an_adapter_saving_around_the_services_dead_letters_its_event(
    client: Client, monkeypatch: pytest.MonkeyPatch
) -> None:
    # given: a handler that writes an order row itself
    SKUFactory(code=TEE)
    woo_connection()

    def rogue(event: InboundEvent) -> None:
        payload = json.loads(event.body)
        Order.objects.filter(external_id=str(payload["id"])).first()
        Order(
            channel=web_channel(),
            source_system="woocommerce:woo-web",
            external_id=str(payload["id"]),
        ).save()

    monkeypatch.setitem(registry.INBOUND, "woocommerce", rogue)
    body = body_of(woo_order(1001))
    assert client.post(
        "/hooks/woocommerce/woo-web/",
        data=body,
        content_type="application/json",
        headers=webhook_headers(body),
    ).json() == {"status": "accepted"}
    # when
    for event_id in claim_inbound(10):
        process_inbound_event(event_id)
    # then: nothing applied, and ops see why
    assert not Order.objects.exists()
    event = InboundEvent.objects.get()
    assert event.status == "failed"
    assert "outside the orders services" in event.error
    assert OpsException.objects.get(dedupe_key=f"inbound:{event.pk}").state == "open"
