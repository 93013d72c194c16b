"""The inbox: a signed webhook, claimed and processed in-process (no worker), into an order and
an ERP outbox row in the same transaction; redeliveries are harmless; poison is dead-lettered."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

import pytest
from django.test import Client

from controltower.exceptions.choices import ExceptionState, ExceptionType, Severity
from controltower.exceptions.models import OpsException
from controltower.orders.choices import OrderEventType, OrderState
from controltower.orders.models import Order
from integrations.erp.adapter import SALES_ORDER_CREATE
from integrations.runtime.choices import InboundStatus, OutboundStatus
from integrations.runtime.inbox import claim_inbound, process_inbound_event
from integrations.runtime.models import InboundEvent, OutboundMessage
from tests.factories.catalog import SKUFactory
from tests.factories.integrations import erp_connection, woo_connection
from tests.factories.woocommerce import body_of, webhook_headers, woo_order

URL = "/hooks/woocommerce/woo-web/"
T0 = datetime(2026, 11, 22, 10, 0, tzinfo=UTC)


@pytest.fixture
def connections(db: None) -> None:
    woo_connection()
    erp_connection(base_url="http://127.0.0.1:9")
    SKUFactory(code="NW-TEE-001-BLK-M")
    SKUFactory(code="NW-CAP-002-NAV-OS")


@pytest.fixture
def no_commit_callbacks(django_capture_on_commit_callbacks: Any) -> Iterator[list[Any]]:
    """Keep kicks and pushes from leaving the test (no worker, no Redis traffic)."""
    with django_capture_on_commit_callbacks(execute=False) as callbacks:
        yield callbacks


def _deliver(client: Client, payload: dict[str, Any] | bytes) -> str:
    body = payload if isinstance(payload, bytes) else body_of(payload)
    response = client.post(
        URL, data=body, content_type="application/json", headers=webhook_headers(body)
    )
    assert response.status_code == 200, response.content
    return response.json()["status"]


def _drain() -> dict[int, str]:
    return {event_id: process_inbound_event(event_id) for event_id in claim_inbound(10)}


@pytest.mark.usefixtures("connections", "no_commit_callbacks")
def test_process_inbound_event_creates_order_and_erp_outbox_row(client: Client) -> None:
    # given
    assert _deliver(client, woo_order(1001)) == "accepted"
    # when
    outcome = _drain()
    # then
    assert list(outcome.values()) == [InboundStatus.PROCESSED]
    event = InboundEvent.objects.get()
    order = Order.objects.get()
    assert event.correlation_id == order.correlation_id
    assert (event.status, event.error, event.attempts) == (InboundStatus.PROCESSED, "", 1)
    assert event.processed_at is not None and event.claimed_until is None
    assert order.state == OrderState.ACCEPTED
    assert (order.source_system, order.external_id) == ("woocommerce:woo-web", "1001")
    message = OutboundMessage.objects.get()
    assert message.idempotency_key == f"erp:erp-main:sales-order:{order.correlation_id}"
    assert message.correlation_id == order.correlation_id
    assert (message.kind, message.status) == (
        SALES_ORDER_CREATE,
        OutboundStatus.PENDING,
    )
    assert (message.subject_type, message.subject_id) == ("orders.order", str(order.pk))
    requested = order.events.get(type=OrderEventType.ERP_REQUESTED)
    assert requested.parameters == {
        "connection": "erp-main",
        "idempotency_key": message.idempotency_key,
    }
    record = order.history.order_by("history_id").first()
    assert record.history_user.username == "sync.woocommerce"
    assert record.history_change_reason == (
        "received from woocommerce:woo-web; received → accepted: channel status processing"
    )


@pytest.mark.usefixtures("no_commit_callbacks")
def test_process_inbound_event_without_erp_connection_queues_nothing(
    client: Client, db: None
) -> None:
    # given
    woo_connection()
    _deliver(client, woo_order(1001))
    # when
    _drain()
    # then
    assert Order.objects.get().state == OrderState.ACCEPTED
    assert not OutboundMessage.objects.exists()


@pytest.mark.usefixtures("connections", "no_commit_callbacks")
def test_webhook_delivered_twice_yields_one_order_and_one_outbox_row(client: Client) -> None:
    # given
    payload = woo_order(1001)
    # when
    answers = [_deliver(client, payload), _deliver(client, payload)]
    _drain()
    # then
    assert answers == ["accepted", "duplicate"]
    assert InboundEvent.objects.count() == 1
    assert Order.objects.count() == 1
    assert OutboundMessage.objects.count() == 1


@pytest.mark.usefixtures("connections", "no_commit_callbacks")
def test_same_order_in_two_events_yields_one_order_and_one_outbox_row(client: Client) -> None:
    # given: the store sends order.created and then order.updated for the same order
    _deliver(client, woo_order(1001, modified=T0))
    _deliver(client, woo_order(1001, modified=T0 + timedelta(minutes=1)))
    # when
    outcome = _drain()
    # then
    assert list(outcome.values()) == [InboundStatus.PROCESSED, InboundStatus.PROCESSED]
    order = Order.objects.get()
    assert order.source_updated_at == T0 + timedelta(minutes=1)
    assert set(InboundEvent.objects.values_list("correlation_id", flat=True)) == {
        order.correlation_id
    }
    assert OutboundMessage.objects.count() == 1


@pytest.mark.usefixtures("connections", "no_commit_callbacks")
def test_process_inbound_event_twice_is_a_no_op(client: Client) -> None:
    # given
    _deliver(client, woo_order(1001))
    (event_id,) = _drain()
    # when
    again = process_inbound_event(event_id)
    # then
    assert again == InboundStatus.PROCESSED
    assert claim_inbound(10) == []
    assert Order.objects.count() == 1
    assert OutboundMessage.objects.count() == 1


@pytest.mark.usefixtures("connections", "no_commit_callbacks")
@pytest.mark.parametrize(
    ("poison", "error"),
    [
        ({**woo_order(1005), "currency": 978}, "currency: missing or not a 3-letter code"),
        (
            woo_order(1002, lines=[("NW-TEE-001-BLK-M", 0, "19.95")]),
            "line_items[0].quantity: must be a positive integer",
        ),
        (woo_order(1003, status="checkout-draft"), "has no mapping for status 'checkout-draft'"),
    ],
    ids=["bad-currency", "zero-quantity", "unmapped-status"],
)
def test_poison_event_is_dead_lettered_and_the_good_one_processed(
    client: Client, poison: dict[str, Any], error: str
) -> None:
    # given: a poison payload (valid JSON, correctly signed) between two good ones
    _deliver(client, woo_order(1001))
    _deliver(client, poison)
    _deliver(client, woo_order(1004))
    bad = InboundEvent.objects.get(resource_id=str(poison["id"]))
    # when
    outcome = _drain()
    # then
    assert sorted(outcome.values()) == ["failed", "processed", "processed"]
    bad.refresh_from_db()
    assert bad.status == InboundStatus.FAILED
    assert error in bad.error
    assert bad.claimed_until is None
    assert sorted(Order.objects.values_list("external_id", flat=True)) == ["1001", "1004"]
    assert OutboundMessage.objects.count() == 2
    dead = OpsException.objects.get()
    assert (dead.type, dead.state, dead.severity) == (
        ExceptionType.DEAD_LETTER,
        ExceptionState.OPEN,
        Severity.HIGH,
    )
    assert dead.dedupe_key == f"inbound:{bad.pk}"
    assert dead.title == f"Inbound order.created {poison['id']} could not be processed"
    assert error in dead.detail
    assert (dead.subject_type, dead.subject_id) == ("integrations.inboundevent", str(bad.pk))
    assert dead.context == {"connection": "woo-web", "topic": "order.created"}


@pytest.mark.usefixtures("connections", "no_commit_callbacks")
def test_constraint_violation_is_dead_lettered_at_once_without_partial_order(
    client: Client,
) -> None:
    # given: translation passes, but the second line breaks a database constraint
    payload = woo_order(1001)
    payload["line_items"][1]["total"] = "-1.00"
    _deliver(client, json.dumps(payload).encode())
    # when
    first = _drain()
    # then: retrying cannot make the data valid, so it is dead-lettered on the first attempt
    assert list(first.values()) == [InboundStatus.FAILED]
    event = InboundEvent.objects.get()
    assert (event.status, event.attempts) == (InboundStatus.FAILED, 1)
    assert event.error.startswith("refused by the canonical model")
    assert "orders_orderline_amounts_nonneg" in event.error
    assert OpsException.objects.get().dedupe_key == f"inbound:{event.pk}"
    assert not Order.objects.exists()
    assert not OutboundMessage.objects.exists()


@pytest.mark.usefixtures("connections", "no_commit_callbacks")
def test_poison_event_dead_letter_carries_the_orders_money_at_risk(client: Client) -> None:
    # given: an order the adapter cannot translate (a line with quantity 0)
    payload = woo_order(1301)
    payload["line_items"][0]["quantity"] = 0
    _deliver(client, payload)
    # when
    _drain()
    # then
    exception = OpsException.objects.get(type=ExceptionType.DEAD_LETTER)
    assert exception.money_at_risk_amount == Decimal(payload["total"])
    assert exception.currency == "EUR"
