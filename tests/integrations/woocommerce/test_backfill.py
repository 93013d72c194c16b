"""The backfill poll catches orders whose webhooks never arrived; the re-arm watcher revives
webhooks WooCommerce disabled. Both against the WooCommerce simulator over real HTTP."""

from __future__ import annotations

import time
from typing import Any

import httpx
import pytest

from controltower.orders.choices import OrderState
from controltower.orders.models import Order
from integrations.runtime.inbox import claim_inbound, process_inbound_event
from integrations.runtime.models import InboundEvent, OutboundMessage, SyncCursor
from integrations.woocommerce.backfill import backfill_orders, rearm_webhooks
from integrations.woocommerce.client import SIGNATURE_HMAC_SHA256, WooOAuth1Auth
from tests.conftest import CeleryWorker, wait_for
from tests.factories.integrations import WOO_SECRET, erp_connection, woo_connection
from tests.factories.woocommerce import body_of, webhook_headers

# Over plain http WooCommerce takes only OAuth 1.0a: sign as our client does.
AUTH = WooOAuth1Auth(
    "ck_t", client_secret="cs_t", signature_method=SIGNATURE_HMAC_SHA256, signature_type="QUERY"
)


def woo(sim: Any, method: str, path: str, **kwargs: Any) -> httpx.Response:
    return httpx.request(method, f"{sim.url}/wp-json/wc/v3{path}", auth=AUTH, **kwargs)


def drain() -> None:
    while ids := claim_inbound(50):
        for event_id in ids:
            process_inbound_event(event_id)


@pytest.mark.django_db
def test_backfill_orders_queues_missed_orders_once(woo_simulator) -> None:
    # given: three orders placed while no webhook was registered
    connection = woo_connection(base_url=woo_simulator.url)
    assert httpx.post(f"{woo_simulator.url}/_sim/orders", json={"count": 3}).status_code in (
        200,
        201,
    )
    # when
    run = backfill_orders(connection)
    drain()
    # then
    assert run.status == "succeeded", run.error
    assert run.counts["fetched"] == 3 and run.counts["queued"] == 3
    assert Order.objects.count() == 3
    assert set(InboundEvent.objects.values_list("topic", flat=True)) == {"order.backfill"}
    cursor = SyncCursor.objects.get(connection=connection)
    assert cursor.watermark is not None
    # when: it runs again with nothing new
    again = backfill_orders(connection)
    # then: nothing is queued twice
    assert again.counts["queued"] == 0
    assert again.counts["current"] == again.counts["fetched"]
    assert InboundEvent.objects.count() == 3


@pytest.mark.django_db
def test_backfill_orders_failure_is_recorded_as_a_failed_run(woo_simulator) -> None:
    # given: wrong credentials
    connection = woo_connection(base_url=woo_simulator.url, consumer_secret="wrong")
    # when
    run = backfill_orders(connection)
    # then
    assert run.status == "failed"
    assert "HTTP 401" in run.error
    assert not InboundEvent.objects.exists()


@pytest.mark.django_db
def test_rearm_webhooks_reactivates_our_disabled_webhook(woo_simulator) -> None:
    # given: our webhook points at a receiver that is down, so WooCommerce disables it
    connection = woo_connection(base_url=woo_simulator.url)
    hook = woo(
        woo_simulator,
        "POST",
        "/webhooks",
        json={
            "name": "Control Tower",
            "topic": "order.created",
            "delivery_url": "http://127.0.0.1:9/hooks/woocommerce/woo-web/",
            "secret": WOO_SECRET,
            "status": "active",
        },
    ).json()
    httpx.post(f"{woo_simulator.url}/_sim/orders", json={"count": 6})

    def disabled() -> bool:
        """WooCommerce disabled the webhook after repeated failures"""
        return woo(woo_simulator, "GET", f"/webhooks/{hook['id']}").json()["status"] == "disabled"

    wait_for(disabled, timeout=30)
    # when
    run = rearm_webhooks(connection, receiver_path="/hooks/woocommerce/woo-web/")
    # then
    assert run.status == "succeeded", run.error
    assert run.counts["rearmed"] == 1
    assert woo(woo_simulator, "GET", f"/webhooks/{hook['id']}").json()["status"] == "active"


@pytest.mark.slow
@pytest.mark.django_db(transaction=True)
def test_redelivered_webhook_and_backfill_make_one_order_and_one_erp_order(
    live_server, woo_simulator, erp_simulator
) -> None:
    # given: our receiver subscribed; WooCommerce delivers every webhook five times
    connection = woo_connection(base_url=woo_simulator.url)
    erp_connection(base_url=erp_simulator.url)
    woo(
        woo_simulator,
        "POST",
        "/webhooks",
        json={
            "name": "Control Tower",
            "topic": "order.created",
            "delivery_url": f"{live_server.url}/hooks/woocommerce/woo-web/",
            "secret": WOO_SECRET,
            "status": "active",
        },
    )
    httpx.post(f"{woo_simulator.url}/_sim/faults", json={"duplicate_deliveries": 4})
    # when: one order is placed, and the backfill poll also fetches it before any worker runs
    httpx.post(f"{woo_simulator.url}/_sim/orders", json={"count": 1})

    def delivered_five_times() -> bool:
        """five deliveries reached the receiver"""
        deliveries = httpx.get(f"{woo_simulator.url}/_sim/deliveries").json()
        items = (
            deliveries.get("deliveries", deliveries) if isinstance(deliveries, dict) else deliveries
        )
        return sum(1 for d in items if d.get("topic") == "order.created") >= 5

    wait_for(delivered_five_times, timeout=20)
    run = backfill_orders(connection)
    assert run.counts["fetched"] == 1
    worker = CeleryWorker()
    try:
        worker.wait_ready()
        # then: one order, one ERP sales order
        wait_for(lambda: Order.objects.filter(state=OrderState.REGISTERED).count() == 1, timeout=30)
        time.sleep(2)  # give any duplicate the chance to surface
    finally:
        worker.stop()
    assert Order.objects.count() == 1
    assert OutboundMessage.objects.count() == 1
    erp = httpx.get(
        f"{erp_simulator.url}/api/v1/sales-orders",
        headers={"Authorization": "Bearer test-erp-token"},
    ).json()
    assert erp["count"] == 1


@pytest.mark.django_db
def test_backfill_orders_skips_orders_whose_version_waits_in_a_lagging_inbox(
    client: Any, woo_simulator
) -> None:
    # given: three orders whose webhooks arrived but wait, unprocessed, in the inbox
    connection = woo_connection(base_url=woo_simulator.url)
    httpx.post(f"{woo_simulator.url}/_sim/orders", json={"count": 3})
    orders = woo(woo_simulator, "GET", "/orders").json()
    for order in orders:
        body = body_of(order)
        response = client.post(
            "/hooks/woocommerce/woo-web/",
            data=body,
            content_type="application/json",
            headers=webhook_headers(body),
        )
        assert response.status_code == 200, response.content
    assert InboundEvent.objects.filter(status="pending").count() == 3
    # when: the backfill polls while the inbox lags
    run = backfill_orders(connection)
    # then: nothing is queued a second time
    assert run.status == "succeeded", run.error
    assert (run.counts["fetched"], run.counts["queued"], run.counts["in_inbox"]) == (3, 0, 3)
    assert InboundEvent.objects.count() == 3
    # when: the store changes one order (a newer version than the inbox holds; WooCommerce's
    # modification time has whole seconds, so in a later second)
    time.sleep(1.1)
    changed = woo(woo_simulator, "PUT", f"/orders/{orders[0]['id']}", json={"status": "completed"})
    assert changed.status_code == 200, changed.text
    again = backfill_orders(connection)
    # then: that version is queued, the others still wait
    assert (again.counts["queued"], again.counts["in_inbox"]) == (1, 2)
    drain()
    assert Order.objects.count() == 3
