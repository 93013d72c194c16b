"""End to end on real processes: a WooCommerce order delivered to the web tier, paid at the
gateway simulator's checkout, the gateway's signed webhook arriving at /hooks/payments/<slug>/,
a Celery worker reading the intent back and recording the payment."""

from __future__ import annotations

from decimal import Decimal

import httpx
import pytest

from controltower.orders.choices import PaymentStatus
from controltower.orders.models import Order
from controltower.payments.choices import PaymentState
from controltower.payments.models import Payment
from tests.conftest import wait_for
from tests.factories.catalog import SKUFactory
from tests.factories.integrations import woo_connection
from tests.factories.woocommerce import body_of, webhook_headers, woo_order
from tests.integrations.payments.conftest import (
    HOOK,
    ORDER_TOTAL_MINOR,
    WEBHOOK_SECRET,
    checkout,
    gateway_connection,
)

pytestmark = [pytest.mark.slow, pytest.mark.django_db(transaction=True)]


def test_order_paid_at_checkout_ends_captured(web_server, celery_worker, gateway) -> None:
    # given: the store and the gateway connected, the gateway sending to our web tier
    woo_connection()
    gateway_connection(base_url=gateway.url)
    SKUFactory(code="NW-TEE-001-BLK-M")
    SKUFactory(code="NW-CAP-002-NAV-OS")
    gateway.webhooks.add_endpoint(f"{web_server.url}{HOOK}", WEBHOOK_SECRET)
    body = body_of(woo_order(1001))
    stored = httpx.post(
        f"{web_server.url}/hooks/woocommerce/woo-web/",
        content=body,
        headers={"Content-Type": "application/json", **webhook_headers(body)},
    )
    assert stored.status_code == 200, stored.text
    order = wait_for(lambda: Order.objects.filter(number="1001").first(), timeout=30)
    # when: the customer pays at the storefront's checkout (captured at once)
    intent = checkout(
        gateway,
        correlation_id=str(order.correlation_id),
        amount=ORDER_TOTAL_MINOR,
        capture_method="automatic",
    )

    def captured() -> bool:
        """the order's payment is captured"""
        return Order.objects.filter(pk=order.pk, payment_status=PaymentStatus.CAPTURED).exists()

    try:
        wait_for(captured, timeout=40)
    except AssertionError:
        print(celery_worker.log())
        raise
    # then
    payment = Payment.objects.get()
    assert (payment.external_id, payment.state, payment.captured_amount) == (
        intent["id"],
        PaymentState.CAPTURED,
        Decimal("70.77"),
    )
    assert payment.fee_amount == Decimal("1.31")  # 1.5 % of 70.77 + 0.25
    assert payment.correlation_id == order.correlation_id
    deliveries = gateway.webhooks.deliveries()
    assert {d["type"] for d in deliveries} == {"payment_intent.succeeded"}
    assert all(d["status"] == 200 for d in deliveries)
