"""The gateway's events applied, against the simulator over HTTP: each event is confirmed by
reading the intent back, then synced into Payment rows and the order's payment status."""

from __future__ import annotations

from decimal import Decimal

import pytest
from django.test import Client

from controltower.exceptions.choices import ExceptionType
from controltower.exceptions.models import OpsException
from controltower.orders.choices import PaymentStatus
from controltower.orders.models import Order
from controltower.payments.choices import PaymentState
from controltower.payments.models import Payment
from controltower.payments.services import compensate_payments
from integrations.payments.simulator import PaymentsSimulator
from integrations.runtime.choices import InboundStatus
from integrations.runtime.models import InboundEvent
from tests.integrations.payments.conftest import (
    checkout,
    drain,
    gateway_connection,
    gateway_post,
    post_event,
    relay,
)

pytestmark = pytest.mark.django_db


def transactions(payment: Payment) -> list[tuple[str, str, str]]:
    return [
        (t.type, f"{t.amount:.2f}", f"{t.fee_amount:.2f}")
        for t in payment.transactions.order_by("occurred_at", "id")
    ]


def test_inbound_authorize_partial_and_final_capture_then_refund(
    client: Client, gateway: PaymentsSimulator, order: Order
) -> None:
    # given
    gateway_connection(base_url=gateway.url)
    seen: list[str] = []
    intent = checkout(gateway)
    # when: authorized
    assert relay(client, gateway, seen) == ["payment_intent.amount_capturable_updated"]
    drain()
    # then
    payment = Payment.objects.get()
    assert (payment.state, payment.authorized_amount, payment.captured_amount) == (
        PaymentState.AUTHORIZED,
        Decimal("70.77"),
        Decimal("0"),
    )
    order.refresh_from_db()
    assert order.payment_status == PaymentStatus.AUTHORIZED
    # when: 30.00 captured, then the rest as the final capture
    path = f"/v1/payment_intents/{intent['id']}/capture"
    gateway_post(gateway, path, amount_to_capture="3000", final_capture="false")
    relay(client, gateway, seen)
    drain()
    order.refresh_from_db()
    assert order.payment_status == PaymentStatus.PARTIALLY_CAPTURED
    gateway_post(gateway, path, amount_to_capture="4077", final_capture="true")
    relay(client, gateway, seen)
    drain()
    # then: captured, with each capture's fee from its balance transaction
    payment.refresh_from_db()
    order.refresh_from_db()
    assert (payment.state, payment.captured_amount, payment.fee_amount) == (
        PaymentState.CAPTURED,
        Decimal("70.77"),
        Decimal("1.56"),  # 0.70 + 0.86 (1.5 % + 0.25 each)
    )
    assert order.payment_status == PaymentStatus.CAPTURED
    # when: 10.00 refunded (two events: charge.refunded, refund.created)
    gateway_post(gateway, "/v1/refunds", payment_intent=intent["id"], amount="1000")
    assert relay(client, gateway, seen) == ["charge.refunded", "refund.created"]
    drain()
    # then
    payment.refresh_from_db()
    order.refresh_from_db()
    assert (payment.state, payment.refunded_amount) == (
        PaymentState.PARTIALLY_REFUNDED,
        Decimal("10.00"),
    )
    assert order.payment_status == PaymentStatus.PARTIALLY_REFUNDED
    assert transactions(payment) == [
        ("authorize", "70.77", "0.00"),
        ("capture", "30.00", "0.70"),
        ("capture", "40.77", "0.86"),
        ("refund", "10.00", "0.00"),
    ]
    assert set(InboundEvent.objects.values_list("status", flat=True)) == {InboundStatus.PROCESSED}
    assert InboundEvent.objects.filter(correlation_id=order.correlation_id).count() == 5


def test_inbound_duplicate_and_out_of_order_events_change_nothing(
    client: Client, gateway: PaymentsSimulator, order: Order
) -> None:
    # given: captured at checkout, the events then replayed in reverse as new deliveries
    gateway_connection(base_url=gateway.url)
    checkout(gateway, capture_method="automatic")
    relay(client, gateway, [])
    drain()
    history = Payment.objects.get().history.count()
    # when: the same events arrive again, newest first, as new deliveries (new event ids)
    for event in reversed(gateway.webhooks.events()):
        assert post_event(client, {**event, "id": f"{event['id']}_again"}) == "accepted"
    drain()
    # then
    payment = Payment.objects.get()
    assert payment.state == PaymentState.CAPTURED
    assert payment.history.count() == history
    assert payment.transactions.count() == 2


def test_inbound_void_on_cancel_voids_the_authorization(
    client: Client, gateway: PaymentsSimulator, order: Order
) -> None:
    # given: authorized
    gateway_connection(base_url=gateway.url)
    seen: list[str] = []
    intent = checkout(gateway)
    relay(client, gateway, seen)
    drain()
    # when: the order is cancelled; the void our adapter queues is what the gateway then does
    asked = compensate_payments(order, reason="customer cancelled")
    gateway_post(gateway, f"/v1/payment_intents/{intent['id']}/cancel")
    assert relay(client, gateway, seen) == ["payment_intent.canceled"]
    drain()
    # then
    assert asked == [f"void {intent['id']}"]
    payment = Payment.objects.get()
    order.refresh_from_db()
    assert payment.state == PaymentState.VOIDED
    assert order.payment_status == PaymentStatus.VOIDED
    assert ("void", "70.77", "0.00") in transactions(payment)


def test_inbound_payment_for_another_amount_is_applied_and_flagged(
    client: Client, gateway: PaymentsSimulator, order: Order
) -> None:
    # given
    gateway_connection(base_url=gateway.url)
    checkout(gateway, amount=5000, capture_method="automatic")
    # when
    relay(client, gateway, [])
    drain()
    # then
    assert Payment.objects.get().captured_amount == Decimal("50.00")
    flagged = OpsException.objects.open().get(type=ExceptionType.PAYMENT_MISMATCH)
    assert flagged.detail == "the payment is for 50.00 EUR, the order totals 70.77 EUR"


def test_inbound_payment_in_another_currency_is_refused(
    client: Client, gateway: PaymentsSimulator, order: Order
) -> None:
    # given
    gateway_connection(base_url=gateway.url)
    checkout(gateway, currency="usd", capture_method="automatic")
    # when
    relay(client, gateway, [])
    drain()
    # then: recorded on the order, nothing applied
    assert not Payment.objects.exists()
    event = InboundEvent.objects.get()
    assert (event.status, event.correlation_id) == (InboundStatus.PROCESSED, order.correlation_id)
    refused = OpsException.objects.open().get(type=ExceptionType.STEP_REFUSED)
    assert refused.detail == "the payment is in USD, the order in EUR"
    order.refresh_from_db()
    assert order.payment_status == PaymentStatus.NONE


def test_inbound_declined_payment_marks_the_order_failed(
    client: Client, gateway: PaymentsSimulator, order: Order
) -> None:
    # given
    gateway_connection(base_url=gateway.url)
    checkout(gateway, decline=True)
    # when
    assert relay(client, gateway, []) == ["payment_intent.payment_failed"]
    drain()
    # then
    assert Payment.objects.get().state == PaymentState.FAILED
    order.refresh_from_db()
    assert order.payment_status == PaymentStatus.FAILED


def test_inbound_payment_for_an_unknown_order_waits_then_is_refused(
    client: Client, gateway: PaymentsSimulator, order: Order, settings
) -> None:
    # given: a payment for an order the storefront never delivered
    gateway_connection(base_url=gateway.url)
    checkout(gateway, order_ref="web-9999")
    relay(client, gateway, [])
    # when
    drain()
    # then: held, not failed
    event = InboundEvent.objects.get()
    assert event.status == InboundStatus.PENDING
    assert event.error == "waiting: no order 'web-9999' yet"
    # when: past the patience of the inbox
    settings.CT_INBOUND_WAIT_S = 0
    InboundEvent.objects.filter(pk=event.pk).update(claimed_until=None)
    drain()
    # then
    event.refresh_from_db()
    assert event.status == InboundStatus.FAILED
    assert event.error.startswith("refused: no order 'web-9999' yet")
    assert not Payment.objects.exists()
    assert OpsException.objects.open().filter(dedupe_key=f"inbound:{event.pk}").exists()


def test_inbound_event_for_an_intent_the_gateway_does_not_know_is_dead_lettered(
    client: Client, gateway: PaymentsSimulator, order: Order
) -> None:
    # given: a genuinely signed event naming an intent the gateway never had
    gateway_connection(base_url=gateway.url)
    event = checkout(gateway) and gateway.webhooks.events()[0]
    post_event(client, {**event, "data": {"object": {"id": "pi_forged", "object": "x"}}})
    # when
    drain()
    # then
    event = InboundEvent.objects.get()
    assert event.status == InboundStatus.FAILED
    assert event.error.startswith("the gateway has no payment intent pi_forged")
    assert not Payment.objects.exists()


def test_inbound_gateway_down_holds_the_event_for_a_retry(
    client: Client, gateway: PaymentsSimulator, order: Order
) -> None:
    # given
    gateway_connection(base_url=gateway.url)
    checkout(gateway, capture_method="automatic")
    relay(client, gateway, [])
    gateway.faults.update({"fail_next": 1, "fail_status": 503})
    # when
    drain()
    # then: waiting, then applied once the gateway answers
    event = InboundEvent.objects.get()
    assert event.status == InboundStatus.PENDING
    assert "could not say what" in event.error
    InboundEvent.objects.filter(pk=event.pk).update(claimed_until=None)
    drain()
    assert Payment.objects.get().state == PaymentState.CAPTURED
