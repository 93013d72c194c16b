"""Authorize at checkout, capture as it ships: each parcel the warehouse ships captures what it
shipped at the gateway (through the outbox, with an idempotency key), the last one what remains
and releases the rest — against the gateway simulator over HTTP."""

from __future__ import annotations

from decimal import Decimal

import pytest
from django.test import Client

from controltower.catalog.choices import CaptureMode
from controltower.orders.choices import PaymentStatus
from controltower.orders.models import Order
from controltower.payments.models import Payment
from integrations.payments.adapter import INTENT_CAPTURE
from integrations.runtime.models import OutboundMessage
from integrations.runtime.outbox import claim_outbound, deliver_outbound_message
from tests.factories import lifecycle
from tests.integrations.payments.conftest import (
    ORDER_TOTAL_MINOR,
    checkout,
    drain,
    gateway_connection,
    relay,
)


def _ship(order: Order, ref: str, line_number: int) -> None:
    line = order.lines.get(line_number=line_number)
    assert lifecycle.ship(order, ref, {line_number: line.quantity}) is not None


def _deliver_captures() -> list[OutboundMessage]:
    for message_id in claim_outbound(10):
        deliver_outbound_message(message_id)
    return list(OutboundMessage.objects.filter(kind=INTENT_CAPTURE).order_by("id"))


@pytest.mark.django_db
def test_each_parcel_captures_what_it_shipped_and_the_last_the_rest(
    client: Client, gateway, order: Order
) -> None:
    # given: a method captured at shipment, an authorization at the gateway for the order
    lifecycle.payment_method(
        order.payment_method, capture_mode=CaptureMode.AT_SHIPMENT, name="Pay later"
    )
    gateway_connection(base_url=gateway.url)
    intent = checkout(gateway, correlation_id=str(order.correlation_id), capture_method="manual")
    seen: list[str] = []
    relay(client, gateway, seen)
    drain()
    order.refresh_from_db()
    assert order.payment_status == PaymentStatus.AUTHORIZED
    order = lifecycle.release(lifecycle.register(order, "SO-1"), "REL-1")
    numbers = sorted(order.lines.values_list("line_number", flat=True))
    assert len(numbers) >= 2
    # when: the first parcel ships
    _ship(order, "SHP-1", numbers[0])
    first = _deliver_captures()
    # then: one capture asked for and delivered, for what that parcel is worth, not final
    assert [m.status for m in first] == ["delivered"]
    line = order.lines.get(line_number=numbers[0])
    assert Decimal(first[0].payload["total"]) == line.total_amount + order.shipping_amount
    assert first[0].payload["final_capture"] is False
    relay(client, gateway, seen)
    drain()
    order.refresh_from_db()
    assert order.payment_status == PaymentStatus.PARTIALLY_CAPTURED
    # when: the rest ships
    for n, number in enumerate(numbers[1:], start=2):
        _ship(order, f"SHP-{n}", number)
    every = _deliver_captures()
    relay(client, gateway, seen)
    drain()
    # then: the last capture took what remained of the authorization; the order is captured,
    # with the gateway's fees, and asking again (a replayed shipment) captures nothing more
    assert all(m.status == "delivered" for m in every), [m.last_error for m in every]
    order.refresh_from_db()
    assert order.payment_status == PaymentStatus.CAPTURED
    payment = Payment.objects.get(external_id=intent["id"])
    assert payment.captured_amount == Decimal(ORDER_TOTAL_MINOR) / 100
    assert payment.fee_amount > 0
    keys = [m.idempotency_key for m in every]
    assert len(keys) == len(set(keys)) == len(numbers)
