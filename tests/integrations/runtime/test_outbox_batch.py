"""A claimed batch of outbound messages: the calls one after another, the outcomes recorded
together (one transaction, one row-lock statement, one insert of the attempts); one outcome that
cannot be recorded never holds up the others. Against the ERP simulator over real HTTP."""

from __future__ import annotations

from typing import Any

import httpx
import pytest
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext

from controltower.core.context import acting_as
from controltower.orders.choices import OrderEventType, OrderState
from controltower.orders.models import Order
from integrations.erp.adapter import SALES_ORDER_CREATE
from integrations.runtime import inbox, outbox, registry
from integrations.runtime.choices import OutboundStatus
from integrations.runtime.models import DeliveryAttempt, OutboundMessage
from tests.factories.integrations import ERP_TOKEN, erp_connection, woo_connection
from tests.factories.woocommerce import body_of, webhook_headers, woo_order

pytestmark = pytest.mark.django_db

HOOK = "/hooks/woocommerce/woo-web/"


def _claimed_batch(client: Client, erp_url: str, count: int) -> list[OutboundMessage]:
    """``count`` orders received and accepted, their sales-order creates claimed as a drain
    claims them."""
    woo_connection()
    erp_connection(base_url=erp_url)
    for number in range(1001, 1001 + count):
        body = body_of(woo_order(number))
        response = client.post(
            HOOK, data=body, content_type="application/json", headers=webhook_headers(body)
        )
        assert response.status_code == 200, response.content
    with acting_as("system.runtime"):
        for event_id in inbox.claim_inbound(100):
            inbox.process_inbound_event(event_id)
    ids = outbox.claim_outbound(count)
    assert len(ids) == count
    loaded = outbox.load_claimed(ids)
    return [loaded[i] for i in ids]


def _sales_orders(erp_url: str) -> list[dict[str, Any]]:
    response = httpx.get(
        f"{erp_url}/api/v1/sales-orders", headers={"Authorization": f"Bearer {ERP_TOKEN}"}
    )
    return response.json()["results"]


def _statements(queries: CaptureQueriesContext, start: str) -> int:
    return sum(1 for q in queries.captured_queries if q["sql"].startswith(start))


def test_a_batch_is_recorded_together_and_every_order_is_registered(
    client: Client, erp_simulator: Any
) -> None:
    # given
    batch = _claimed_batch(client, erp_simulator.url, 5)
    # when
    with acting_as("system.runtime"), CaptureQueriesContext(connection) as queries:
        left = outbox.deliver_outbound_batch(batch, task_id="t-1")
    # then: five sales orders, each order registered under its own, one attempt each
    assert left == []
    created = {so["external_ref"]: so["id"] for so in _sales_orders(erp_simulator.url)}
    assert len(created) == 5
    for order in Order.objects.all():
        assert order.state == OrderState.REGISTERED
        assert order.erp_reference == created[f"{order.channel.code}-{order.number}"]
        # recorded in the ERP connector's name, as one by one
        latest = order.history.first()
        assert latest.history_user.username == "sync.erp"
        assert latest.history_change_reason == (
            f"registered in ERP as {order.erp_reference}; accepted → registered: "
            f"ERP {order.erp_reference}"
        )
        registered = order.events.get(type=OrderEventType.ERP_REGISTERED)
        assert registered.actor.username == "sync.erp"
    assert set(OutboundMessage.objects.values_list("status", flat=True)) == {
        OutboundStatus.DELIVERED
    }
    assert DeliveryAttempt.objects.filter(task_id="t-1", number=1).count() == 5
    # recorded together: one lock statement and one insert of the attempts for the five
    assert _statements(queries, 'SELECT "integrations_outboundmessage"') == 1
    assert _statements(queries, 'INSERT INTO "integrations_deliveryattempt"') == 1


def test_an_outcome_that_cannot_be_recorded_does_not_hold_up_the_others(
    client: Client, erp_simulator: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    # given: the hook of one message raises (a bug, a conflict)
    batch = _claimed_batch(client, erp_simulator.url, 3)
    bad = batch[1]
    real_hook = registry.ON_DELIVERED[SALES_ORDER_CREATE]

    def hook(message: OutboundMessage, result: registry.DeliveryResult) -> None:
        if message.pk == bad.pk:
            raise RuntimeError("the hook broke")
        real_hook(message, result)

    monkeypatch.setitem(registry.ON_DELIVERED, SALES_ORDER_CREATE, hook)
    monkeypatch.delitem(registry.ON_DELIVERED_BATCH, SALES_ORDER_CREATE)  # one hook per message
    # when
    with acting_as("system.runtime"):
        outbox.deliver_outbound_batch(batch)
    # then: the two others are delivered and their orders registered; the bad one is left in
    # flight, untouched, for the sweeper to hand back when its lease lapses (same idempotency key)
    statuses = dict(OutboundMessage.objects.values_list("pk", "status"))
    assert statuses == {
        batch[0].pk: OutboundStatus.DELIVERED,
        bad.pk: OutboundStatus.IN_FLIGHT,
        batch[2].pk: OutboundStatus.DELIVERED,
    }
    assert Order.objects.filter(state=OrderState.REGISTERED).count() == 2
    assert not DeliveryAttempt.objects.filter(message=bad).exists()


def test_a_drain_that_loses_its_slot_stops_calling_and_hands_the_rest_back(
    client: Client, erp_simulator: Any
) -> None:
    # given
    batch = _claimed_batch(client, erp_simulator.url, 4)
    calls = iter([True, True, False])
    # when
    with acting_as("system.runtime"):
        left = outbox.deliver_outbound_batch(batch, held=lambda: next(calls, False))
    # then: two calls made and recorded, two messages not called, still claimed, returned
    assert [m.pk for m in left] == [m.pk for m in batch[2:]]
    assert len(_sales_orders(erp_simulator.url)) == 2
    statuses = dict(OutboundMessage.objects.values_list("pk", "status"))
    assert [statuses[m.pk] for m in batch] == [
        OutboundStatus.DELIVERED,
        OutboundStatus.DELIVERED,
        OutboundStatus.IN_FLIGHT,
        OutboundStatus.IN_FLIGHT,
    ]
