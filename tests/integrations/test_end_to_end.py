"""The first order, end to end, on real processes: WooCommerce simulator → signed webhook →
web server → inbox → real Celery worker → canonical order → outbox → ERP simulator over HTTP."""

from __future__ import annotations

import httpx
import pytest

from controltower.orders.choices import OrderEventType, OrderState
from controltower.orders.models import Order
from integrations.runtime.models import InboundEvent, OutboundMessage
from tests.conftest import wait_for
from tests.factories.integrations import WOO_SECRET, erp_connection, woo_connection
from tests.factories.woocommerce import store_auth


@pytest.mark.slow
@pytest.mark.django_db(transaction=True)
def test_storefront_order_reaches_erp(
    live_server, celery_worker, erp_simulator, woo_simulator
) -> None:
    # given: our connections, and a webhook registered in the store pointing at our receiver
    woo_connection()
    erp_connection(base_url=erp_simulator.url)
    auth = store_auth()
    hook = httpx.post(
        f"{woo_simulator.url}/wp-json/wc/v3/webhooks",
        auth=auth,
        json={
            "name": "Control Tower",
            "topic": "order.created",
            "delivery_url": f"{live_server.url}/hooks/woocommerce/woo-web/",
            "secret": WOO_SECRET,
            "status": "active",
        },
    )
    assert hook.status_code == 201, hook.text

    # when: three customers check out
    generated = httpx.post(f"{woo_simulator.url}/_sim/orders", json={"count": 3}, auth=auth)
    assert generated.status_code in (200, 201), generated.text

    # then: each order reaches the ERP exactly once and shows as registered
    def registered() -> bool:
        """three orders registered in ERP"""
        return Order.objects.filter(state=OrderState.REGISTERED).count() == 3

    try:
        wait_for(registered, timeout=45)
    except AssertionError:
        print(celery_worker.log())
        raise
    erp_orders = httpx.get(
        f"{erp_simulator.url}/api/v1/sales-orders",
        headers={"Authorization": "Bearer test-erp-token"},
    ).json()
    erp_orders = (
        erp_orders.get("results", erp_orders) if isinstance(erp_orders, dict) else erp_orders
    )
    assert len(erp_orders) == 3
    for order in Order.objects.all():
        assert order.erp_reference.startswith("SO-")
        assert order.lines.count() >= 1
        types = list(order.events.values_list("type", flat=True))
        assert OrderEventType.RECEIVED in types
        assert OrderEventType.ERP_REGISTERED in types
        # the correlation id ties the raw event, the outbound message and the ERP request
        assert InboundEvent.objects.filter(correlation_id=order.correlation_id).exists()
        message = OutboundMessage.objects.get(correlation_id=order.correlation_id)
        assert message.status == "delivered"
        assert message.attempt_log.count() == 1
    # every outbound call carried the transaction's correlation id as X-Correlation-ID
    assert {o["request_correlation_id"] for o in erp_orders} == {
        o["correlation_id"] for o in erp_orders
    }
    seen = {o["correlation_id"] for o in erp_orders}
    assert seen == {str(c) for c in Order.objects.values_list("correlation_id", flat=True)}
    history_actors = set(Order.history.values_list("history_user__username", flat=True))
    assert {"sync.woocommerce", "sync.erp"} <= history_actors
