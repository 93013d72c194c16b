"""Captures, voids and refunds delivered to the gateway simulator over HTTP, in-process: one
Idempotency-Key per domain request, retries on 5xx / 429 / a lost answer without a second
capture, and the gateway's refusals dead-lettered with its reason."""

from __future__ import annotations

from decimal import Decimal

import pytest
from django.test import Client
from django.utils import timezone

from controltower.exceptions.choices import ExceptionType
from controltower.exceptions.models import OpsException
from controltower.orders.choices import PaymentStatus
from controltower.orders.models import Order
from controltower.payments.choices import PaymentState
from controltower.payments.models import Payment
from controltower.payments.services import compensate_payments
from controltower.payments.signals import payment_capture_due, payment_refund_due
from integrations.payments.adapter import INTENT_CANCEL, INTENT_CAPTURE, REFUND_CREATE
from integrations.payments.simulator import PaymentsSimulator
from integrations.runtime.choices import OutboundStatus
from integrations.runtime.models import OutboundMessage
from integrations.runtime.outbox import claim_outbound, deliver_outbound_message
from tests.integrations.payments.conftest import (
    checkout,
    drain,
    gateway_connection,
    gateway_post,
    relay,
)

pytestmark = pytest.mark.django_db


def authorized(client: Client, gateway: PaymentsSimulator, **connection: object) -> Payment:
    gateway_connection(base_url=gateway.url, **connection)
    checkout(gateway)
    relay(client, gateway, [])
    drain()
    return Payment.objects.get(state=PaymentState.AUTHORIZED)


def deliver_due() -> dict[int, str]:
    """Deliver what is due now, as a worker would (messages waiting for a retry made due)."""
    OutboundMessage.objects.filter(status=OutboundStatus.PENDING).update(
        next_attempt_at=timezone.now()
    )
    return {pk: deliver_outbound_message(pk) for pk in claim_outbound(10)}


def capture(payment: Payment, amount: str, *, final: bool, key: str) -> None:
    payment_capture_due.send(
        sender=Payment, payment=payment, amount=Decimal(amount), final=final, key=key, reason="t"
    )


def gateway_calls(gateway: PaymentsSimulator, suffix: str) -> list[tuple[str | None, int]]:
    return [
        (r["idempotency_key"], r["status"])
        for r in gateway.request_log()
        if r["method"] == "POST" and r["path"].endswith(suffix)
    ]


def test_deliver_partial_then_final_capture_resyncs_from_the_answer(
    client: Client, gateway: PaymentsSimulator, order: Order
) -> None:
    # given
    payment = authorized(client, gateway)
    # when: a first shipment's 30.00, then the rest as the final capture
    capture(payment, "30.00", final=False, key="partially_shipped:30.00")
    deliver_due()
    payment.refresh_from_db()
    assert (payment.state, payment.captured_amount) == (PaymentState.AUTHORIZED, Decimal("30"))
    capture(payment, "40.77", final=True, key="shipped:40.77")
    deliver_due()
    # then: applied from the gateway's answers, before any webhook was relayed
    payment.refresh_from_db()
    order.refresh_from_db()
    assert (payment.state, payment.captured_amount) == (PaymentState.CAPTURED, Decimal("70.77"))
    assert order.payment_status == PaymentStatus.CAPTURED
    keys = [m.idempotency_key for m in OutboundMessage.objects.order_by("id")]
    assert keys == [
        f"payments:gw:capture:{payment.external_id}:partially_shipped:30.00",
        f"payments:gw:capture:{payment.external_id}:shipped:40.77",
    ]
    assert gateway_calls(gateway, "/capture") == [(keys[0], 200), (keys[1], 200)]
    assert set(OutboundMessage.objects.values_list("kind", "status")) == {
        (INTENT_CAPTURE, OutboundStatus.DELIVERED)
    }


def test_deliver_capture_retries_5xx_and_429_and_captures_once(
    client: Client, gateway: PaymentsSimulator, order: Order
) -> None:
    # given
    payment = authorized(client, gateway)
    gateway.faults.update({"fail_next": 1, "fail_status": 502})
    capture(payment, "70.77", final=True, key="shipped:70.77")
    # when
    first = deliver_due()
    gateway.faults.update({"rate_limit_next": 1, "retry_after": 7})
    second = deliver_due()
    message = OutboundMessage.objects.get()
    waited = (message.next_attempt_at - timezone.now()).total_seconds()
    third = deliver_due()
    # then
    assert [*first.values(), *second.values(), *third.values()] == [
        OutboundStatus.PENDING,
        OutboundStatus.PENDING,
        OutboundStatus.DELIVERED,
    ]
    assert 5 < waited <= 7  # Retry-After honoured
    codes = list(message.attempt_log.order_by("number").values_list("status_code", flat=True))
    assert codes == [502, 429, 200]
    assert len(gateway_calls(gateway, "/capture")) == 3
    intent = gateway_post(gateway, f"/v1/payment_intents/{payment.external_id}/capture")
    assert intent.json()["error"]["payment_intent"]["amount_received"] == 7077


def test_deliver_capture_answer_lost_after_processing_is_replayed_not_repeated(
    client: Client, gateway: PaymentsSimulator, order: Order
) -> None:
    # given: the gateway captures, then answers after our 1 s timeout
    payment = authorized(client, gateway, timeout_s=1)
    gateway.faults.update({"timeout_next": 1, "timeout_seconds": 2})
    capture(payment, "70.77", final=True, key="shipped:70.77")
    # when
    deliver_due()
    deliver_due()
    # then: the retry got the stored answer under the same key
    message = OutboundMessage.objects.get()
    assert message.status == OutboundStatus.DELIVERED
    assert "Timeout" in message.attempt_log.order_by("number").first().error
    calls = gateway_calls(gateway, "/capture")
    assert calls == [(message.idempotency_key, 200), (message.idempotency_key, 200)]
    payment.refresh_from_db()
    assert payment.captured_amount == Decimal("70.77")
    assert payment.transactions.filter(type="capture").count() == 1


def test_deliver_capture_refused_by_the_gateway_is_dead_lettered(
    client: Client, gateway: PaymentsSimulator, order: Order
) -> None:
    # given: voided at the gateway (in its dashboard) while we still think it authorized
    payment = authorized(client, gateway)
    gateway_post(gateway, f"/v1/payment_intents/{payment.external_id}/cancel")
    capture(payment, "70.77", final=True, key="shipped:70.77")
    # when
    deliver_due()
    # then: permanent at once, with the gateway's reason for ops
    message = OutboundMessage.objects.get()
    assert (message.status, message.attempts) == (OutboundStatus.DEAD, 1)
    assert message.last_error.startswith("HTTP 400 payment_intent_unexpected_state:")
    dead = OpsException.objects.open().get(type=ExceptionType.DEAD_LETTER)
    assert dead.title == "Gateway: capture payment to Card gateway dead-lettered"
    assert "status of canceled" in dead.detail
    assert dead.money_at_risk_amount == Decimal("70.77")


def test_deliver_void_on_cancel_voids_the_authorization(
    client: Client, gateway: PaymentsSimulator, order: Order
) -> None:
    # given
    payment = authorized(client, gateway)
    # when: the order is cancelled
    compensate_payments(order, reason="customer cancelled")
    deliver_due()
    # then
    message = OutboundMessage.objects.get()
    assert (message.kind, message.status) == (INTENT_CANCEL, OutboundStatus.DELIVERED)
    payment.refresh_from_db()
    order.refresh_from_db()
    assert payment.state == PaymentState.VOIDED
    assert order.payment_status == PaymentStatus.VOIDED


def test_deliver_void_of_an_intent_already_canceled_counts_as_done(
    client: Client, gateway: PaymentsSimulator, order: Order
) -> None:
    # given
    payment = authorized(client, gateway)
    gateway_post(gateway, f"/v1/payment_intents/{payment.external_id}/cancel")
    # when
    compensate_payments(order, reason="customer cancelled")
    deliver_due()
    # then: nothing for ops; the gateway's own event records the void
    assert OutboundMessage.objects.get().status == OutboundStatus.DELIVERED
    assert not OpsException.objects.open().filter(type=ExceptionType.DEAD_LETTER).exists()
    relay(client, gateway, [])
    drain()
    assert Payment.objects.get().state == PaymentState.VOIDED


def test_deliver_refund_then_its_webhook_records_it(
    client: Client, gateway: PaymentsSimulator, order: Order
) -> None:
    # given: captured
    gateway_connection(base_url=gateway.url)
    checkout(gateway, capture_method="automatic")
    seen: list[str] = []
    relay(client, gateway, seen)
    drain()
    payment = Payment.objects.get()
    # when: a refund of 20.00 is asked, delivered, and the gateway's events arrive
    payment_refund_due.send(
        sender=Payment, payment=payment, amount=Decimal("20.00"), key="return:1", reason="return"
    )
    deliver_due()
    relay(client, gateway, seen)
    drain()
    # then
    message = OutboundMessage.objects.get()
    assert (message.kind, message.status) == (REFUND_CREATE, OutboundStatus.DELIVERED)
    assert message.response["amount"] == 2000
    payment.refresh_from_db()
    assert (payment.state, payment.refunded_amount) == (
        PaymentState.PARTIALLY_REFUNDED,
        Decimal("20.00"),
    )


def test_deliver_refund_over_what_is_left_is_dead_lettered(
    client: Client, gateway: PaymentsSimulator, order: Order
) -> None:
    # given: captured, then refunded in full at the gateway behind our back
    gateway_connection(base_url=gateway.url)
    checkout(gateway, capture_method="automatic")
    relay(client, gateway, [])
    drain()
    payment = Payment.objects.get()
    gateway_post(gateway, "/v1/refunds", payment_intent=payment.external_id)
    # when: the order is cancelled and we ask to refund what we think is captured
    compensate_payments(order, reason="cancelled")
    deliver_due()
    # then
    message = OutboundMessage.objects.get()
    assert message.status == OutboundStatus.DEAD
    assert message.last_error.startswith("HTTP 400 charge_already_refunded:")
