"""Nothing acknowledged is lost and nothing is done twice, whatever process dies when."""

from __future__ import annotations

import random
import threading
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest

from controltower.orders.choices import OrderEventType, OrderState
from controltower.orders.models import Order
from integrations.runtime.models import InboundEvent, OutboundMessage
from tests.conftest import FAST_RETRIES, CeleryWorker, wait_for
from tests.factories.integrations import ERP_TOKEN, erp_connection, woo_connection
from tests.factories.woocommerce import body_of, webhook_headers, woo_order

pytestmark = [pytest.mark.slow, pytest.mark.django_db(transaction=True)]

T0 = datetime(2026, 11, 22, 10, 0, tzinfo=UTC)


def erp_sales_orders(sim: Any) -> list[dict[str, Any]]:
    return httpx.get(
        f"{sim.url}/api/v1/sales-orders", headers={"Authorization": f"Bearer {ERP_TOKEN}"}
    ).json()["results"]


def test_worker_killed_mid_delivery_loses_and_duplicates_nothing(
    live_server, erp_simulator
) -> None:
    # given: 20 accepted orders, an ERP that takes 300 ms per request
    woo_connection()
    erp_connection(base_url=erp_simulator.url)
    httpx.post(f"{erp_simulator.url}/_sim/faults", json={"latency_ms": 300})
    with httpx.Client(base_url=live_server.url) as client:
        for number in range(9001, 9021):
            body = body_of(woo_order(number))
            response = client.post(
                "/hooks/woocommerce/woo-web/", content=body, headers=webhook_headers(body)
            )
            assert response.status_code == 200
    first = CeleryWorker(**FAST_RETRIES)

    def some_delivered() -> bool:
        """a few orders reached the ERP"""
        return OutboundMessage.objects.filter(status="delivered").count() >= 3

    try:
        first.wait_ready()
        wait_for(some_delivered, timeout=60)
        # when: the worker dies mid-batch (SIGKILL, pool included), and a new one starts
        first.kill()
    finally:
        first.stop()
    in_flight = OutboundMessage.objects.exclude(status="delivered").count()
    assert in_flight > 0, "the kill came too late to test anything"
    second = CeleryWorker(**FAST_RETRIES)
    try:
        second.wait_ready()
        # then: every order reaches the ERP exactly once
        wait_for(
            lambda: Order.objects.filter(state=OrderState.REGISTERED).count() == 20, timeout=90
        )
    finally:
        second.stop()
    refs = sorted(o["external_ref"] for o in erp_sales_orders(erp_simulator))
    assert refs == sorted(f"web-{n}" for n in range(9001, 9021))
    assert OutboundMessage.objects.filter(status="delivered").count() == 20


def test_duplicate_and_out_of_order_webhook_storm_ends_in_one_order_in_the_last_state(
    live_server, erp_simulator
) -> None:
    # given: three versions of one order, each delivered five times, shuffled, concurrently
    woo_connection()
    erp_connection(base_url=erp_simulator.url)
    versions = [
        woo_order(9100, status="pending", modified=T0),
        woo_order(9100, status="processing", modified=T0 + timedelta(seconds=5)),
        woo_order(9100, status="completed", modified=T0 + timedelta(seconds=9)),
    ]
    deliveries = [body_of(v) for v in versions for _ in range(5)]
    random.Random(11).shuffle(deliveries)
    answers: list[int] = []

    def post_all(bodies: list[bytes]) -> None:
        with httpx.Client(base_url=live_server.url) as client:
            for body in bodies:
                response = client.post(
                    "/hooks/woocommerce/woo-web/",
                    content=body,
                    headers=webhook_headers(body, topic="order.updated"),
                )
                answers.append(response.status_code)

    threads = [threading.Thread(target=post_all, args=(deliveries[i::4],)) for i in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert answers == [200] * 15
    assert InboundEvent.objects.count() == 3  # the 12 redeliveries were recognised
    # when: a worker processes the storm
    worker = CeleryWorker(**FAST_RETRIES)
    try:
        worker.wait_ready()
        wait_for(
            lambda: InboundEvent.objects.filter(status__in=["processed", "ignored"]).count() == 3,
            timeout=30,
        )
    finally:
        worker.stop()
    # then: one order, in the newest version's state; older versions were refused and recorded
    order = Order.objects.get()
    assert order.channel_status == "completed"
    assert order.state == OrderState.COMPLETED
    assert order.source_updated_at == T0 + timedelta(seconds=9)
    types = list(order.events.values_list("type", flat=True))
    assert types.count(OrderEventType.RECEIVED) == 1
    stale = types.count(OrderEventType.STALE_UPDATE_REFUSED)
    refused = types.count(OrderEventType.TRANSITION_REFUSED)
    assert stale + refused + types.count(OrderEventType.STATE_CHANGED) >= 2
    assert OutboundMessage.objects.count() <= 1
