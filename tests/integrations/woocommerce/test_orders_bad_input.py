"""Bad input on every order topic, through the real webhook view with signed bodies: a clear error
or a recorded event, and nothing half-applied (asserted in the database)."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest
from django.test import Client

from controltower.orders.models import Order, OrderLine
from integrations.runtime.inbox import claim_inbound, process_inbound_event
from integrations.runtime.models import InboundEvent, OutboundMessage
from tests.factories.integrations import woo_connection
from tests.factories.woocommerce import body_of, webhook_headers, woo_order

URL = "/hooks/woocommerce/woo-web/"
T0 = datetime(2026, 11, 22, 10, 0, 0, tzinfo=UTC)
FULL_BODY_TOPICS = ("order.created", "order.updated", "order.restored")


def send(client: Client, payload: Any, topic: str) -> InboundEvent:
    body = body_of(payload)
    response = client.post(
        URL, data=body, content_type="application/json", headers=webhook_headers(body, topic=topic)
    )
    assert response.status_code == 200, response.content
    while ids := claim_inbound(50):
        for event_id in ids:
            process_inbound_event(event_id)
    return InboundEvent.objects.filter(topic=topic).latest("id")


def assert_nothing_applied() -> None:
    assert not Order.objects.exists()
    assert not OrderLine.objects.exists()
    assert not OutboundMessage.objects.exists()


@pytest.mark.django_db
@pytest.mark.parametrize("topic", FULL_BODY_TOPICS)
def test_id_only_body_on_a_full_body_topic_fails_with_a_clear_error(
    client: Client, topic: str
) -> None:
    # given
    woo_connection()
    # when
    event = send(client, {"id": 1001}, topic)
    # then
    assert event.status == "failed"
    assert event.error == "status: missing"
    assert_nothing_applied()


@pytest.mark.django_db
def test_id_only_body_on_order_deleted_is_recorded_not_failed(client: Client) -> None:
    # given
    woo_connection()
    # when
    event = send(client, {"id": 1001}, "order.deleted")
    # then
    assert event.status == "ignored"
    assert_nothing_applied()


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("payload", "error"),
    [
        ({"id": "1001"}, "id: missing or not a positive integer"),
        ({"id": -3}, "id: missing or not a positive integer"),
        ({"id": True}, "id: missing or not a positive integer"),
        ({}, "id: missing or not a positive integer"),
    ],
)
def test_order_deleted_with_a_bad_id_is_refused_with_a_clear_error_and_kept(
    client: Client, payload: dict[str, Any], error: str
) -> None:
    # given: no id to dedupe on, so it is refused at the door (400) and kept for ops
    woo_connection()
    body = body_of(payload)
    # when
    response = client.post(
        URL,
        data=body,
        content_type="application/json",
        headers=webhook_headers(body, topic="order.deleted"),
    )
    # then
    assert response.status_code == 400
    assert response.json() == {"detail": error}
    event = InboundEvent.objects.get()
    assert (event.status, event.error) == ("rejected", error)
    assert_nothing_applied()


@pytest.mark.django_db
@pytest.mark.parametrize("topic", FULL_BODY_TOPICS)
def test_unknown_fields_are_ignored_and_the_order_applied(client: Client, topic: str) -> None:
    # given: fields WooCommerce plugins add
    woo_connection()
    payload = {**woo_order(1001, modified=T0), "x_plugin": {"a": [1, 2]}, "_links": {}}
    payload["line_items"][0]["x_bundle"] = "yes"
    # when
    event = send(client, payload, topic)
    # then
    assert event.status == "processed", event.error
    assert Order.objects.get().lines.count() == 2


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("mutate", "error"),
    [
        (
            lambda p: p["line_items"][1].update(quantity="1"),
            "line_items[1].quantity: must be a positive integer",
        ),
        (lambda p: p.update(currency=978), "currency: missing or not a 3-letter code"),
        (lambda p: p.update(line_items={"0": {}}), "line_items: missing"),
        (
            lambda p: p.update(date_created_gmt="yesterday"),
            "date_created_gmt: not a date: 'yesterday'",
        ),
        (lambda p: p["line_items"][0].update(total="1,5"), "line_items[0].total:"),
        (lambda p: p.update(status=["processing"]), "status: missing"),
    ],
)
def test_wrong_types_fail_with_a_clear_error_and_apply_nothing(
    client: Client, mutate: Any, error: str
) -> None:
    # given
    woo_connection()
    payload = woo_order(1001, modified=T0)
    mutate(payload)
    # when
    event = send(client, payload, "order.created")
    # then
    assert event.status == "failed"
    assert event.error.startswith(error)
    assert_nothing_applied()


@pytest.mark.django_db
def test_unicode_names_and_notes_are_kept(client: Client) -> None:
    # given
    woo_connection()
    payload = woo_order(1001, modified=T0, lines=[("SKU-ÅÉ-1", 1, "9.99")])
    payload["billing"].update(first_name="Zoë", last_name="Ōkubo 大久保 🚲")
    payload["customer_note"] = "Bitte klingeln — 谢谢"
    payload["line_items"][0]["name"] = "Tröja «rød» 👕"
    # when
    event = send(client, payload, "order.created")
    # then
    assert event.status == "processed", event.error
    order = Order.objects.get()
    assert order.customer_name == "Zoë Ōkubo 大久保 🚲"
    assert order.lines.get().name == "Tröja «rød» 👕"
    assert order.lines.get().sku_code == "SKU-ÅÉ-1"


@pytest.mark.django_db
def test_a_500_line_order_is_applied_whole(client: Client) -> None:
    # given
    woo_connection()
    lines = [(f"SKU-{n:04d}", 1 + n % 3, "1.25") for n in range(500)]
    # when
    event = send(client, woo_order(1001, modified=T0, lines=lines), "order.created")
    # then
    assert event.status == "processed", event.error
    order = Order.objects.get()
    assert order.lines.count() == 500
    assert sorted(order.lines.values_list("line_number", flat=True)) == list(range(1, 501))


@pytest.mark.django_db
def test_a_500_line_order_with_its_last_line_broken_applies_nothing(client: Client) -> None:
    # given
    woo_connection()
    payload = woo_order(1001, modified=T0, lines=[(f"SKU-{n:04d}", 1, "1.25") for n in range(500)])
    payload["line_items"][499]["quantity"] = 0
    # when
    event = send(client, payload, "order.created")
    # then
    assert event.status == "failed"
    assert event.error == "line_items[499].quantity: must be a positive integer"
    assert_nothing_applied()
