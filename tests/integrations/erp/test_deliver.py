"""Delivery to the ERP under failure, on real processes: a Celery worker, the ERP simulator over
HTTP with fault injection, webhooks posted to our receiver. Nothing lost, nothing duplicated."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest
from django.test import Client

from controltower.exceptions.models import OpsException
from controltower.orders.choices import OrderState
from controltower.orders.models import Order
from integrations.runtime import breaker
from integrations.runtime.models import MessageAction, OutboundMessage
from tests.conftest import wait_for
from tests.factories.integrations import ERP_TOKEN, erp_connection, woo_connection
from tests.factories.woocommerce import body_of, webhook_headers, woo_order

pytestmark = [pytest.mark.slow, pytest.mark.django_db(transaction=True)]

HOOK = "/hooks/woocommerce/woo-web/"
T0 = datetime(2026, 11, 22, 10, 0, tzinfo=UTC)


def post_order(client: Client, number: int, **kwargs: Any) -> None:
    body = body_of(woo_order(number, **kwargs))
    response = client.post(
        HOOK, data=body, content_type="application/json", headers=webhook_headers(body)
    )
    assert response.status_code == 200, response.content


def faults(sim: Any, **plan: Any) -> None:
    assert httpx.post(f"{sim.url}/_sim/faults", json=plan).status_code == 200


def erp_orders(sim: Any) -> list[dict[str, Any]]:
    response = httpx.get(
        f"{sim.url}/api/v1/sales-orders", headers={"Authorization": f"Bearer {ERP_TOKEN}"}
    )
    return response.json()["results"]


def registered(count: int) -> Any:
    def check() -> bool:
        return Order.objects.filter(state=OrderState.REGISTERED).count() == count

    check.__doc__ = f"{count} order(s) registered in ERP"
    return check


def codes(message: OutboundMessage) -> list[int | None]:
    return list(message.attempt_log.values_list("status_code", flat=True))


def test_erp_failing_three_times_then_ok_delivers_once(
    client: Client, celery_worker, erp_simulator
) -> None:
    # given
    woo_connection()
    erp_connection(base_url=erp_simulator.url)
    faults(erp_simulator, fail_next=3, fail_status=500)
    # when
    post_order(client, 2001)
    # then
    wait_for(registered(1), timeout=40)
    message = OutboundMessage.objects.get()
    assert codes(message) == [500, 500, 500, 201]
    assert message.status == "delivered"
    assert len(erp_orders(erp_simulator)) == 1
    assert not OpsException.objects.open().exists()


def test_erp_down_opens_breaker_loses_nothing_and_drains_when_back(
    client: Client, celery_worker, erp_simulator
) -> None:
    # given: an ERP that refuses connections
    from integrations.erp.simulator import ErpSimulator

    woo_connection()
    erp_connection(base_url=erp_simulator.url)
    port = int(erp_simulator.url.rsplit(":", 1)[1])
    erp_simulator.shutdown()
    # when: ten orders arrive while it is down
    for number in range(3001, 3011):
        post_order(client, number)

    def circuit_open() -> bool:
        """the breaker for the ERP endpoint opened"""
        return breaker.state("erp-main:erp.sales_order.create")["state"] in ("open", "half_open")

    wait_for(circuit_open, timeout=30)
    wait_for(lambda: OutboundMessage.objects.count() == 10, timeout=20)
    # then: messages wait instead of burning attempts (3 failures opened it, probes are rare)
    total_attempts = sum(OutboundMessage.objects.values_list("attempts", flat=True))
    assert total_attempts <= 6, total_attempts
    assert not OutboundMessage.objects.filter(status="dead").exists()
    # when: the ERP comes back on the same address
    revived = ErpSimulator(port=port, token=ERP_TOKEN).serve_in_thread()
    try:
        # then: everything drains, each order exactly once
        wait_for(registered(10), timeout=60)
        refs = [o["external_ref"] for o in erp_orders(revived)]
        assert sorted(refs) == sorted(f"web-{n}" for n in range(3001, 3011))
        assert breaker.state("erp-main:erp.sales_order.create")["state"] == "closed"
    finally:
        revived.shutdown()


def test_erp_429_retry_after_is_honoured(client: Client, celery_worker, erp_simulator) -> None:
    # given
    woo_connection()
    erp_connection(base_url=erp_simulator.url)
    faults(erp_simulator, rate_limit_next=1, retry_after=3)
    # when
    post_order(client, 4001)
    # then
    wait_for(registered(1), timeout=30)
    message = OutboundMessage.objects.get()
    first, second = message.attempt_log.order_by("number")
    assert (first.status_code, second.status_code) == (429, 201)
    assert second.started_at - first.started_at >= timedelta(seconds=3)


def test_erp_timeout_after_creating_the_order_creates_no_duplicate(
    client: Client, celery_worker, erp_simulator
) -> None:
    # given: the ERP creates the order but answers after our 1 s timeout
    woo_connection()
    erp_connection(base_url=erp_simulator.url, timeout_s=1)
    faults(erp_simulator, timeout_next=1, timeout_seconds=3)
    # when
    post_order(client, 5001)
    # then: the retry carries the same Idempotency-Key and gets the stored answer
    wait_for(registered(1), timeout=30)
    message = OutboundMessage.objects.get()
    assert codes(message) == [None, 201]
    assert "Timeout" in message.attempt_log.order_by("number").first().error
    assert len(erp_orders(erp_simulator)) == 1
    order = Order.objects.get()
    assert order.erp_reference == erp_orders(erp_simulator)[0]["id"]


def test_disabled_connection_pauses_outbound_without_losing_it(
    client: Client, celery_worker, erp_simulator
) -> None:
    # given
    import time

    woo_connection()
    connection = erp_connection(base_url=erp_simulator.url, enabled=False)
    # when
    post_order(client, 6001)
    wait_for(lambda: OutboundMessage.objects.exists(), timeout=20)
    time.sleep(3)
    # then: it waits, untouched
    message = OutboundMessage.objects.get()
    assert (message.status, message.attempts) == ("pending", 0)
    assert erp_orders(erp_simulator) == []
    # when: enabled again
    connection.enabled = True
    connection.save(update_fields=["enabled", "updated_at"])
    # then
    wait_for(registered(1), timeout=30)
    assert len(erp_orders(erp_simulator)) == 1


def test_poison_message_is_dead_lettered_at_once_and_others_flow(
    client: Client, celery_worker, erp_simulator
) -> None:
    # given
    woo_connection()
    erp_connection(base_url=erp_simulator.url)
    poison = woo_order(7001)
    poison["line_items"][0]["quantity"] = 0
    body = body_of(poison)
    # when
    client.post(HOOK, data=body, content_type="application/json", headers=webhook_headers(body))
    post_order(client, 7002)
    # then
    wait_for(registered(1), timeout=30)

    def dead_lettered() -> bool:
        """the poison event is dead-lettered"""
        return OpsException.objects.filter(type="dead_letter").exists()

    wait_for(dead_lettered, timeout=10)
    exception = OpsException.objects.get(type="dead_letter")
    assert "quantity: must be a positive integer" in exception.detail
    assert Order.objects.get().number == "7002"


def test_replay_with_edited_payload_is_delivered_and_audited(
    client: Client, celery_worker, erp_simulator, ops_user
) -> None:
    # given: the ERP refuses the order for good (422), so the message is dead-lettered
    woo_connection()
    erp_connection(base_url=erp_simulator.url)
    faults(erp_simulator, fail_next=1, fail_status=422)
    post_order(client, 8001)

    def dead() -> bool:
        """the message is dead-lettered"""
        return OutboundMessage.objects.filter(status="dead").exists()

    wait_for(dead, timeout=30)
    exception = OpsException.objects.get(type="dead_letter")
    assert exception.state == "open"
    assert "422" in exception.detail
    original = OutboundMessage.objects.get()
    order = Order.objects.get()
    assert (exception.money_at_risk_amount, exception.currency) == (order.total_amount, "EUR")
    assert exception.correlation_id == order.correlation_id
    # when: ops replay it with the customer's name corrected, through the API
    edited = {
        **original.payload,
        "customer": {**original.payload["customer"], "name": "A. de Vries"},
    }
    client.force_login(ops_user)
    response = client.post(
        f"/api/v1/exceptions/{exception.pk}/replay/",
        data={"reason": "customer name fixed per ticket 42", "payload": edited},
        content_type="application/json",
    )
    # then
    assert response.status_code == 202, response.content
    wait_for(registered(1), timeout=30)
    erp = erp_orders(erp_simulator)
    assert len(erp) == 1
    assert erp[0]["customer"]["name"] == "A. de Vries"
    action = MessageAction.objects.get()
    assert (action.action, action.edited, action.reason) == (
        "replay",
        True,
        "customer name fixed per ticket 42",
    )
    assert '+    "name": "A. de Vries"' in action.payload_diff
    assert action.actor == ops_user
    assert action.history.first().history_user == ops_user
    exception.refresh_from_db()
    assert exception.state == "resolved"
    trace = client.get(f"/api/v1/traces/{original.correlation_id}/").json()
    kinds = {entry["kind"] for entry in trace["entries"]}
    assert {"inbound", "outbound", "attempt", "action", "event", "history"} <= kinds


def test_outbound_calls_stay_under_the_connections_rate_limit(
    client: Client, celery_worker, erp_simulator
) -> None:
    # given: an ERP connection limited to 4 calls per second (bucket of 4)
    woo_connection()
    erp_connection(base_url=erp_simulator.url, rate_limit_per_s=4)
    # when: 16 orders are accepted at once
    for number in range(8101, 8117):
        post_order(client, number)
    # then: all are delivered, never faster than the bucket allows
    wait_for(registered(16), timeout=60)
    starts = sorted(
        a.started_at for m in OutboundMessage.objects.all() for a in m.attempt_log.all()
    )
    assert len(starts) == 16
    span = (starts[-1] - starts[0]).total_seconds()
    assert span >= (16 - 4) / 4 * 0.9, span  # 4 at once, then 4 per second
    for i, start in enumerate(starts):
        window = [s for s in starts[i:] if (s - start).total_seconds() < 1.0]
        assert len(window) <= 4 + 4, [s.isoformat() for s in window]  # burst + 1 s of refill
