"""The outbox drainer limit holds when each ERP call takes longer than a slot's TTL: a real
worker, the ERP simulator answering after 11 s (KICK_TTL_MS is 10 s), the sweeper kicking every
second; no more deliveries overlap than ``CT_OUTBOX_DRAINERS``."""

from __future__ import annotations

from datetime import timedelta

import httpx
import pytest

from controltower.orders.choices import OrderState
from controltower.orders.models import Order
from integrations.runtime import kick, tasks
from integrations.runtime.models import DeliveryAttempt, OutboundMessage
from integrations.runtime.redis_store import redis_client
from tests.conftest import CeleryWorker, wait_for
from tests.factories.integrations import ERP_TOKEN, erp_connection, woo_connection
from tests.factories.woocommerce import body_of, webhook_headers, woo_order

LATENCY_MS = kick.KICK_TTL_MS + 1_000
ORDERS = 6
DRAINERS = 2


def max_overlap(attempts: list[DeliveryAttempt]) -> int:
    """The most delivery attempts in progress at one instant."""
    edges: list[tuple[object, int]] = []
    for attempt in attempts:
        edges.append((attempt.started_at, 1))
        edges.append((attempt.started_at + timedelta(milliseconds=attempt.duration_ms), -1))
    running = peak = 0
    for _at, step in sorted(edges, key=lambda edge: (edge[0], edge[1])):
        running += step
        peak = max(peak, running)
    return peak


@pytest.mark.slow
@pytest.mark.django_db(transaction=True)
def test_drain_limit_holds_while_erp_calls_outlast_the_slot_ttl(live_server, erp_simulator) -> None:
    # given: six accepted orders, an ERP that answers after 11 s, two drainers allowed, a worker
    # with four processes (room for more drains than allowed) and the sweeper kicking every 1 s
    woo_connection()
    erp_connection(base_url=erp_simulator.url, timeout_s=LATENCY_MS / 1000 + 5)
    httpx.post(f"{erp_simulator.url}/_sim/faults", json={"latency_ms": LATENCY_MS})
    with httpx.Client(base_url=live_server.url) as client:
        for number in range(7001, 7001 + ORDERS):
            body = body_of(woo_order(number))
            response = client.post(
                "/hooks/woocommerce/woo-web/", content=body, headers=webhook_headers(body)
            )
            assert response.status_code == 200
    worker = CeleryWorker(concurrency=4, CT_OUTBOX_DRAINERS=str(DRAINERS), CT_OUTBOX_BATCH="1")
    try:
        worker.wait_ready()
        # when: every order reaches the ERP
        wait_for(
            lambda: Order.objects.filter(state=OrderState.REGISTERED).count() == ORDERS,
            timeout=ORDERS * LATENCY_MS / 1000 + 60,
        )
    finally:
        worker.stop()
    # then: never more than two calls at once, each order delivered once
    attempts = list(DeliveryAttempt.objects.all())
    assert len(attempts) == ORDERS, [(a.message_id, a.status_code, a.error) for a in attempts]
    assert max_overlap(attempts) == DRAINERS
    assert OutboundMessage.objects.filter(status="delivered").count() == ORDERS
    httpx.post(f"{erp_simulator.url}/_sim/faults", json={"latency_ms": 0})
    sales_orders = httpx.get(
        f"{erp_simulator.url}/api/v1/sales-orders",
        headers={"Authorization": f"Bearer {ERP_TOKEN}"},
    ).json()["results"]
    assert len(sales_orders) == ORDERS


@pytest.mark.django_db
def test_drain_whose_slot_another_drain_holds_leaves_without_claiming() -> None:
    # given: slot 0 held by another drain's lease (this task's kick lapsed while it was queued)
    other = kick.SlotLease("outbox", 0, "other-token")
    assert other.start()
    claimed: list[int] = []
    try:
        # when
        done = tasks._drain(
            "outbox",
            0,
            lambda limit: claimed.append(limit) or [],
            lambda ids: {},
            lambda items, task, held: [],
            1,
            "",
            token="late-token",
            unclaim=lambda ids: None,
        )
        # then: nothing claimed, and the other drain still holds the slot
        assert (done, claimed) == (0, [])
        assert redis_client().get(kick.kick_key("outbox", 0)) == b"other-token"
    finally:
        other.release()
    assert redis_client().get(kick.kick_key("outbox", 0)) is None


def test_release_with_a_lapsed_token_leaves_the_new_owners_slot() -> None:
    # given: a slot now owned by a second drain
    key = kick.kick_key("outbox", 1)
    redis_client().set(key, "second", px=kick.KICK_TTL_MS)
    # when: the first drain, whose lease lapsed, releases late
    kick.release("outbox", 1, "first")
    # then
    assert redis_client().get(key) == b"second"
    kick.release("outbox", 1, "second")
    assert redis_client().get(key) is None
