"""WooCommerce refunds against the simulator over HTTP: the refund WooCommerce reports inside
``order.updated`` becomes one Refund (however often it is delivered), its lines are read from
``/orders/<id>/refunds/<rid>`` after the inbox commits, and bad reports change nothing."""

from __future__ import annotations

import time
from decimal import Decimal
from typing import Any

import httpx
import pytest
from django.test import Client

from controltower.orders.choices import OrderState
from controltower.orders.models import Order
from controltower.returns.choices import RefundEventType
from controltower.returns.models import Refund, RefundLine
from integrations.runtime.inbox import claim_inbound, process_inbound_event
from integrations.runtime.models import Connection, InboundEvent
from integrations.woocommerce import refunds as woo_refunds
from integrations.woocommerce import tasks
from integrations.woocommerce.client import get_json, request_json, woo_client
from tests.conftest import CeleryWorker, wait_for
from tests.factories.integrations import WOO_SECRET, woo_connection
from tests.factories.woocommerce import body_of, webhook_headers

URL = "/hooks/woocommerce/woo-web/"


def drain() -> None:
    while ids := claim_inbound(50):
        for event_id in ids:
            process_inbound_event(event_id)


def deliver(client: Client, payload: Any, topic: str = "order.updated") -> InboundEvent:
    """Deliver a signed webhook to our receiver and process the inbox, as a worker would."""
    body = body_of(payload)
    response = client.post(
        URL, data=body, content_type="application/json", headers=webhook_headers(body, topic=topic)
    )
    assert response.status_code == 200, response.content
    drain()
    return InboundEvent.objects.latest("id")


def store_order(connection: Connection) -> dict[str, Any]:
    """One processing order placed in the simulated store, as its REST API renders it."""
    sim = connection.base_url.rstrip("/")
    [order_id] = httpx.post(f"{sim}/_sim/orders", json={"count": 1}).json()["created"]
    with woo_client(connection) as woo:
        return get_json(woo, f"/orders/{order_id}")


def refund_in_store(
    connection: Connection, order: dict[str, Any], *, quantity: int = 1, line: int = 0
) -> dict[str, Any]:
    """Refund ``quantity`` of one line (with its tax) in the store; the order as it is after."""
    time.sleep(1.1)  # the store's modification times have 1 s resolution
    item = order["line_items"][line]
    unit = Decimal(item["total"]) / item["quantity"]
    unit_tax = Decimal(item["total_tax"]) / item["quantity"]
    with woo_client(connection) as woo:
        request_json(
            woo,
            "POST",
            f"/orders/{order['id']}/refunds",
            json_body={
                "reason": "Wrong size",
                "api_refund": False,
                "line_items": [
                    {
                        "id": item["id"],
                        "quantity": quantity,
                        "refund_total": f"{unit * quantity:.2f}",
                        "refund_tax": [
                            {"id": t["id"], "refund_total": f"{unit_tax * quantity:.2f}"}
                            for t in item["taxes"]
                        ]
                        or [],
                    }
                ],
            },
        )
        return get_json(woo, f"/orders/{order['id']}")


@pytest.fixture
def connection(woo_simulator: Any, db: None) -> Connection:
    return woo_connection(base_url=woo_simulator.url)


@pytest.mark.django_db
def test_partial_refund_in_order_updated_is_one_refund_and_lines_are_read_after_commit(
    client: Client, connection: Connection, django_capture_on_commit_callbacks: Any
) -> None:
    # given: the order is held, then refunded in part in the store
    order_json = store_order(connection)
    deliver(client, order_json, topic="order.created")
    refunded_json = refund_in_store(connection, order_json)
    [summary] = refunded_json["refunds"]
    # when: WooCommerce reports it as order.updated
    with django_capture_on_commit_callbacks() as callbacks:
        event = deliver(client, refunded_json)
    # then: the refund is recorded from the summary, and reading its lines waits for the commit
    assert event.status == "processed", event.error
    refund = Refund.objects.get()
    order = Order.objects.get()
    assert refund.order_id == order.pk
    assert (refund.source_system, refund.external_id) == ("woocommerce:woo-web", str(summary["id"]))
    assert refund.amount == -Decimal(summary["total"]) > 0
    assert (refund.currency, refund.reason, refund.state) == ("EUR", "Wrong size", "requested")
    assert refund.correlation_id == order.correlation_id == event.correlation_id
    assert refund.history.get().history_user.username == "sync.woocommerce"
    assert order.state == OrderState.ACCEPTED  # a partial refund does not refund the order
    assert not RefundLine.objects.exists()
    queued = [c for c in callbacks if "record_order_refunds" in c.__qualname__]
    assert len(queued) == 1  # reading the lines waits for the commit
    # when: the task the commit queued runs
    assert tasks.fetch_refund_details.run(refund_id=refund.pk) == "done"
    # then
    line = RefundLine.objects.get()
    item = order_json["line_items"][0]
    assert line.order_line.external_id == f"{order_json['id']}:{item['id']}"
    assert line.quantity == 1
    assert line.amount + line.tax_amount == refund.amount
    refund.refresh_from_db()
    assert refund.tax_amount == line.tax_amount
    assert list(refund.events.values_list("type", flat=True)) == [
        RefundEventType.RECORDED,
        RefundEventType.DETAILS_RECORDED,
    ]
    # when: it runs again (a redelivered task)
    assert tasks.fetch_refund_details.run(refund_id=refund.pk) == "done"
    # then: nothing more
    assert RefundLine.objects.count() == 1


@pytest.mark.django_db
def test_redelivered_refund_webhook_and_backfill_make_one_refund(
    client: Client, connection: Connection
) -> None:
    # given
    order_json = store_order(connection)
    deliver(client, order_json, topic="order.created")
    refunded_json = refund_in_store(connection, order_json)
    deliver(client, refunded_json)
    # when: the same webhook again, and the same order through the backfill topic
    deliver(client, refunded_json)
    body = body_of(refunded_json)
    client.post(
        URL,
        data=body,
        content_type="application/json",
        headers=webhook_headers(body, topic="order.backfill"),
    )
    drain()
    # then
    assert Refund.objects.count() == 1
    assert Refund.history.count() == 1


@pytest.mark.django_db
def test_full_refund_follows_the_store_status(client: Client, connection: Connection) -> None:
    # given: an order refunded whole in the store
    order_json = store_order(connection)
    deliver(client, order_json, topic="order.created")
    time.sleep(1.1)  # the store's modification times have 1 s resolution
    with woo_client(connection) as woo:
        request_json(
            woo,
            "POST",
            f"/orders/{order_json['id']}/refunds",
            json_body={"amount": order_json["total"], "api_refund": False},
        )
        refunded_json = get_json(woo, f"/orders/{order_json['id']}")
    assert refunded_json["status"] == "refunded"
    # when
    event = deliver(client, refunded_json)
    # then
    assert event.status == "processed", event.error
    assert Order.objects.get().state == OrderState.REFUNDED
    assert Refund.objects.get().amount == Decimal(order_json["total"])


@pytest.mark.django_db
def test_refund_larger_than_the_order_fails_clearly_and_applies_nothing(
    client: Client, connection: Connection
) -> None:
    # given: the order is held; a report claims a refund beyond its total, with a status change
    order_json = store_order(connection)
    deliver(client, order_json, topic="order.created")
    bogus = {
        **order_json,
        "status": "completed",
        "date_modified_gmt": "2099-01-01T00:00:00",
        "refunds": [{"id": 9001, "reason": "", "total": "-9999.00"}],
    }
    # when
    event = deliver(client, bogus)
    # then
    assert event.status == "failed"
    assert event.error == (
        f"refunds of order #{order_json['number']} would total 9999.00 EUR, "
        f"more than the order's {Decimal(order_json['total']):.2f} EUR"
    )
    assert not Refund.objects.exists()
    assert Order.objects.get().state == OrderState.ACCEPTED  # the status change rolled back too


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("refunds", "error"),
    [
        ([{"id": 9001, "reason": "", "total": "ten euros"}], "refunds[0].total: not an amount"),
        ([{"id": 9001, "reason": "", "total": 10.5}], "refunds[0].total: amounts must not be"),
        ([{"id": "9001", "total": "-1.00"}], "refunds[0].id: missing or not a positive integer"),
        ([{"id": 9001}], "refunds[0].total: missing"),
        ({"id": 9001}, "refunds: not a list"),
    ],
)
def test_malformed_refunds_summary_fails_clearly_and_applies_nothing(
    client: Client, connection: Connection, refunds: Any, error: str
) -> None:
    # given
    order_json = store_order(connection)
    # when: the order arrives first with a bad refunds array
    event = deliver(client, {**order_json, "refunds": refunds}, topic="order.created")
    # then
    assert event.status == "failed"
    assert event.error.startswith(error), event.error
    assert not Order.objects.exists()
    assert not Refund.objects.exists()


@pytest.mark.django_db
def test_refund_with_unknown_fields_is_recorded(client: Client, connection: Connection) -> None:
    # given
    order_json = store_order(connection)
    deliver(client, order_json, topic="order.created")
    refunded_json = refund_in_store(connection, order_json)
    refunded_json["refunds"][0]["x_plugin_field"] = {"nested": ["ünïcødé"]}
    refunded_json["refunds"][0]["reason"] = "Größe falsch — 尺寸不对"
    # when
    event = deliver(client, refunded_json)
    # then
    assert event.status == "processed", event.error
    assert Refund.objects.get().reason == "Größe falsch — 尺寸不对"


@pytest.mark.django_db
def test_refund_details_the_store_no_longer_has_are_recorded_as_refused(
    client: Client, connection: Connection
) -> None:
    # given: the refund is recorded, then deleted in the store before its lines are read
    order_json = store_order(connection)
    deliver(client, order_json, topic="order.created")
    refunded_json = refund_in_store(connection, order_json)
    deliver(client, refunded_json)
    refund = Refund.objects.get()
    with woo_client(connection) as woo:
        request_json(
            woo, "DELETE", f"/orders/{order_json['id']}/refunds/{refund.external_id}?force=true"
        )
    # when
    outcome = tasks.fetch_refund_details.run(refund_id=refund.pk)
    # then: refused with WooCommerce's own words, not retried, and not swept again
    assert outcome == "refused"
    event = refund.events.get(type=RefundEventType.DETAILS_REFUSED)
    assert (
        "HTTP 404 woocommerce_rest_shop_order_refund_invalid_id: Invalid ID."
        in (event.parameters["reason"])
    )
    assert not RefundLine.objects.exists()
    assert woo_refunds.refunds_to_detail(older_than=woo_refunds.SWEEP_AFTER * 0) == []


@pytest.mark.django_db
def test_refund_details_while_the_store_is_down_are_retried(connection: Connection) -> None:
    # given: a refund held, and a store that does not answer
    from controltower.orders.services import upsert_channel_order
    from controltower.returns.services import ChannelRefundData, record_channel_refunds
    from integrations.woocommerce.translate import translate_order

    order_json = store_order(connection)
    data = translate_order(order_json, source_system="woocommerce:woo-web")
    order = upsert_channel_order(connection.channel, data).order
    [refund] = record_channel_refunds(
        order,
        [ChannelRefundData(external_id="9001", amount=Decimal("1.00"))],
        source_system="woocommerce:woo-web",
    )
    connection.base_url = "http://127.0.0.1:9/"
    connection.save(update_fields=["base_url"])
    # when / then
    with pytest.raises(woo_refunds.RetryableFetch, match="ConnectError"):
        woo_refunds.fetch_refund_details(refund, connection)
    assert not refund.events.filter(type=RefundEventType.DETAILS_REFUSED).exists()
    assert woo_refunds.refunds_to_detail(older_than=woo_refunds.SWEEP_AFTER * 0) == [refund.pk]
    assert tasks.detail_refunds.run() == 0  # the sweep leaves it to its own retries for now


@pytest.mark.slow
@pytest.mark.django_db(transaction=True)
def test_refund_webhook_end_to_end_through_a_worker(live_server: Any, woo_simulator: Any) -> None:
    # given: the store sends its webhooks to our receiver; a real worker drains the inbox
    connection = woo_connection(base_url=woo_simulator.url)
    with woo_client(connection) as woo:
        for topic in ("order.created", "order.updated"):
            request_json(
                woo,
                "POST",
                "/webhooks",
                json_body={
                    "name": f"Control Tower {topic}",
                    "topic": topic,
                    "delivery_url": f"{live_server.url}{URL}",
                    "secret": WOO_SECRET,
                    "status": "active",
                },
            )
    worker = CeleryWorker()
    try:
        worker.wait_ready()
        order_json = store_order(connection)
        wait_for(lambda: Order.objects.filter(external_id=str(order_json["id"])).exists())
        # when: a partial refund in the store
        refund_in_store(connection, order_json)
        # then: the refund arrives, and its lines follow
        wait_for(lambda: RefundLine.objects.exists(), timeout=30)
        time.sleep(1)
    finally:
        worker.stop()
    refund = Refund.objects.get()
    assert refund.details_fetched_at is not None
    assert RefundLine.objects.get().refund_id == refund.pk
    assert Order.objects.get().state in (OrderState.ACCEPTED, OrderState.REGISTERED)
