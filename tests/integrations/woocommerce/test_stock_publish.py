"""Stock published to WooCommerce (``integrations/woocommerce/stock.py``) against the simulator over
HTTP: ATS changes → ``woocommerce.publish_stock`` → outbox messages of at most 100 items per
batch endpoint → the shop's stock; per-item refusals, retries, superseded figures, hostile
payloads, the per-channel coalescing, and the whole path with a real Celery worker."""

from __future__ import annotations

import statistics
import time
import uuid
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from django.conf import settings
from django.utils import timezone

from controltower.catalog.choices import LocationType
from controltower.catalog.models import SKU, Channel, Location
from controltower.core.context import acting_as
from controltower.core.writepath import service_scope
from controltower.exceptions.models import OpsException
from controltower.inventory.choices import PublicationState
from controltower.inventory.models import ChannelAllocationRule, StockPublication
from controltower.inventory.services import StockReport, record_stock_reports
from integrations.runtime.choices import OutboundStatus
from integrations.runtime.models import Connection, OutboundMessage
from integrations.runtime.outbox import claim_outbound, deliver_outbound_message, enqueue_outbound
from integrations.runtime.redis_store import redis_client
from integrations.woocommerce import products, stock
from integrations.woocommerce.client import WooCommerceError, get_json, request_json, woo_client
from integrations.woocommerce.simulator import WooCommerceSimulator
from integrations.woocommerce.simulator.server import DEFAULT_CATALOG
from tests.conftest import wait_for
from tests.factories.catalog import LocationFactory, SKUFactory
from tests.factories.integrations import woo_connection

SIMPLE, OTHER, VARIABLE = 110, 111, 130  # Organic Cotton Tee, Canvas Tote; Merino Crew Sweater
BULK_FIRST, BULK = 5000, 250  # the bulk shop's extra simple products: ids 5000-5249
BATCH_PATH = "/wp-json/wc/v3/products/batch"


# --- set-up --------------------------------------------------------------------------------------
def bulk_catalog() -> list[dict[str, Any]]:
    extra = [
        {
            "sku": f"BULK-{n:03d}",
            "name": f"Bulk item {n}",
            "price": "5.00",
            "product_id": BULK_FIRST + n,
        }
        for n in range(BULK)
    ]
    return [*DEFAULT_CATALOG, *extra]


@pytest.fixture
def bulk_shop() -> Iterator[WooCommerceSimulator]:
    sim = WooCommerceSimulator(
        consumer_key="ck_t", consumer_secret="cs_t", seed=7, catalog=bulk_catalog()
    )
    sim.serve_in_thread()
    try:
        yield sim
    finally:
        sim.shutdown()


def selling(sim: WooCommerceSimulator) -> tuple[Connection, Location]:
    """The web channel's connection with the shop's products pulled (cross references as the
    pull files them), and a warehouse whose whole stock the channel may sell."""
    connection = woo_connection(base_url=sim.url)
    with acting_as("sync.woocommerce"):
        run = products.pull_products(connection)
    assert run.status == "succeeded", run.error
    warehouse = LocationFactory(code="wh-1", name="Warehouse 1", type=LocationType.WAREHOUSE)
    with service_scope():
        ChannelAllocationRule.objects.create(
            channel=connection.channel, location=warehouse, percent=100
        )
    sim.clear_request_log()
    return connection, warehouse


def counted(warehouse: Location, figures: dict[str, int]) -> None:
    """The warehouse's WMS reports these on-hand figures now: ATS changes for the channel."""
    with acting_as("sync.wms"):
        record_stock_reports(
            "wms",
            [
                StockReport(
                    sku=code, location=warehouse.code, on_hand=on_hand, as_of=timezone.now()
                )
                for code, on_hand in figures.items()
            ],
            source="wms:test",
        )


def publish(channel: Channel) -> int:
    """The task's body, as the worker runs it (no on-commit hop in a test transaction)."""
    return stock.publish_stock(channel_id=channel.pk)


def deliver_all() -> list[str]:
    statuses = []
    with acting_as("system.runtime"):
        while ids := claim_outbound(50):
            statuses += [deliver_outbound_message(message_id) for message_id in ids]
    return statuses


def messages() -> list[OutboundMessage]:
    return list(OutboundMessage.objects.filter(kind=stock.STOCK_PUBLISH).order_by("pk"))


def shop_stock(connection: Connection, path: str) -> int | None:
    with woo_client(connection) as woo:
        return get_json(woo, path)["stock_quantity"]


def publication(code: str, channel: Channel) -> StockPublication:
    return StockPublication.objects.get(sku__code=code, channel=channel)


def posts(sim: WooCommerceSimulator) -> list[tuple[str, int]]:
    return [(r["path"], r["status"]) for r in sim.request_log() if r["method"] == "POST"]


# --- the batches ---------------------------------------------------------------------------------
@pytest.mark.django_db
def test_publish_stock_250_skus_is_three_requests_of_at_most_100(
    bulk_shop: WooCommerceSimulator,
) -> None:
    # given: 250 SKUs whose ATS changed
    connection, warehouse = selling(bulk_shop)
    figures = {f"BULK-{n:03d}": n % 37 + 1 for n in range(BULK)}
    counted(warehouse, figures)
    # when
    taken = publish(connection.channel)
    statuses = deliver_all()
    # then: three requests, none over the limit, every figure in the shop and published here
    assert taken == BULK
    assert [len(m.payload["items"]) for m in messages()] == [100, 100, 50]
    assert statuses == [OutboundStatus.DELIVERED] * 3
    assert posts(bulk_shop) == [(BATCH_PATH, 200)] * 3
    for n in (0, 99, 100, 249):
        assert shop_stock(connection, f"/products/{BULK_FIRST + n}") == figures[f"BULK-{n:03d}"]
    rows = StockPublication.objects.filter(channel=connection.channel)
    assert rows.count() == BULK
    assert set(rows.values_list("state", flat=True)) == {PublicationState.PUBLISHED}
    assert all(row.published == row.wanted for row in rows)


@pytest.mark.django_db
def test_simulator_refuses_101_items_with_413_and_our_chunks_stay_within_100(
    bulk_shop: WooCommerceSimulator,
) -> None:
    # given: what our chunking protects us from
    connection = woo_connection(base_url=bulk_shop.url)
    body = {"update": [products.stock_update(BULK_FIRST + n, 1) for n in range(101)]}
    # when
    with woo_client(connection) as woo, pytest.raises(WooCommerceError) as refused:
        request_json(woo, "POST", "/products/batch", json_body=body)
    targets = [
        stock.Target(stock.PublishItem(n, f"S{n}", 1), BULK_FIRST + n, None) for n in range(201)
    ]
    # then
    assert refused.value.status_code == 413
    assert refused.value.code == "woocommerce_rest_request_entity_too_large"
    assert [len(chunk) for _, chunk in stock.requests_for(targets)] == [100, 100, 1]


@pytest.mark.django_db
def test_publish_stock_sends_variations_to_their_parents_batch(
    woo_simulator: WooCommerceSimulator,
) -> None:
    # given: a simple product and the three variations of a variable one
    connection, warehouse = selling(woo_simulator)
    counted(warehouse, {"APP-TEE-001": 4, "KN-MER-S": 1, "KN-MER-M": 2, "KN-MER-L": 3})
    # when
    publish(connection.channel)
    deliver_all()
    # then: two requests, each to its endpoint
    sent = [(m.payload["parent_id"], [i["id"] for i in m.payload["items"]]) for m in messages()]
    assert sent == [(None, [SIMPLE]), (VARIABLE, [131, 132, 133])]
    assert posts(woo_simulator) == [
        (BATCH_PATH, 200),
        (f"/wp-json/wc/v3/products/{VARIABLE}/variations/batch", 200),
    ]
    assert shop_stock(connection, f"/products/{SIMPLE}") == 4
    for variation, quantity in ((131, 1), (132, 2), (133, 3)):
        assert shop_stock(connection, f"/products/{VARIABLE}/variations/{variation}") == quantity
    assert publication("KN-MER-M", connection.channel).state == PublicationState.PUBLISHED


@pytest.mark.django_db
def test_publish_stock_many_changes_of_one_sku_are_one_item_with_the_last_figure(
    woo_simulator: WooCommerceSimulator,
) -> None:
    # given: the tee counted four times before the publish runs
    connection, warehouse = selling(woo_simulator)
    for on_hand in (9, 5, 12, 7):
        counted(warehouse, {"APP-TEE-001": on_hand})
    # when
    publish(connection.channel)
    deliver_all()
    # then
    (message,) = messages()
    assert [(i["sku"], i["quantity"]) for i in message.payload["items"]] == [("APP-TEE-001", 7)]
    assert posts(woo_simulator) == [(BATCH_PATH, 200)]
    assert shop_stock(connection, f"/products/{SIMPLE}") == 7
    row = publication("APP-TEE-001", connection.channel)
    assert (row.state, row.wanted, row.published) == (PublicationState.PUBLISHED, 7, 7)


# --- refusals ------------------------------------------------------------------------------------
@pytest.mark.django_db
def test_publish_stock_item_the_shop_refuses_is_an_exception_naming_the_sku(
    woo_simulator: WooCommerceSimulator,
) -> None:
    # given: the tee deleted in the shop after we pulled it
    connection, warehouse = selling(woo_simulator)
    with woo_client(connection) as woo:
        request_json(woo, "DELETE", f"/products/{SIMPLE}", params={"force": "true"})
    counted(warehouse, {"APP-TEE-001": 3, "ACC-TOTE-01": 8})
    # when
    publish(connection.channel)
    deliver_all()
    # then: the tote is published, the tee refused with WooCommerce's code and message
    assert messages()[0].status == OutboundStatus.DELIVERED
    assert shop_stock(connection, f"/products/{OTHER}") == 8
    assert publication("ACC-TOTE-01", connection.channel).state == PublicationState.PUBLISHED
    tee = publication("APP-TEE-001", connection.channel)
    why = f"WooCommerce refused product {SIMPLE}: woocommerce_rest_product_invalid_id: Invalid ID."
    assert (tee.state, tee.error) == (PublicationState.FAILED, why)
    exception = OpsException.objects.get(dedupe_key=f"publish:{connection.channel_id}:{tee.sku_id}")
    assert exception.title == "Web store: stock of APP-TEE-001 not published"
    assert exception.detail == f"The storefront refused the stock update: {why}"


@pytest.mark.django_db
def test_publish_stock_sku_without_a_woocommerce_id_is_refused_with_the_reason(
    woo_simulator: WooCommerceSimulator,
) -> None:
    # given: a SKU the shop was never told about, and one it knows
    connection, warehouse = selling(woo_simulator)
    SKUFactory(code="LOCAL-ONLY-1")
    counted(warehouse, {"LOCAL-ONLY-1": 5, "APP-TEE-001": 2})
    # when
    publish(connection.channel)
    deliver_all()
    # then: refused at once, nothing sent for it; the other is published
    why = "no WooCommerce product id for SKU LOCAL-ONLY-1: sync products first"
    local = publication("LOCAL-ONLY-1", connection.channel)
    assert (local.state, local.error) == (PublicationState.FAILED, why)
    exception = OpsException.objects.get(
        dedupe_key=f"publish:{connection.channel_id}:{local.sku_id}"
    )
    assert exception.detail == f"The storefront refused the stock update: {why}"
    assert [[i["sku"] for i in m.payload["items"]] for m in messages()] == [["APP-TEE-001"]]
    assert publication("APP-TEE-001", connection.channel).state == PublicationState.PUBLISHED


@pytest.mark.django_db
def test_publish_stock_accepted_later_closes_the_refusal(
    woo_simulator: WooCommerceSimulator,
) -> None:
    # given: refused once (no id yet), then the SKU is filed by a product pull
    connection, warehouse = selling(woo_simulator)
    tee = SKU.objects.get(code="APP-TEE-001")
    tee.cross_references.update(source_system="")  # as a seed files it: no shop, no parent
    counted(warehouse, {"APP-TEE-001": 6})
    publish(connection.channel)
    assert OpsException.objects.open().filter(dedupe_key__startswith="publish:").count() == 1
    tee.cross_references.update(source_system="woocommerce:woo-web")
    # when: it changes again
    counted(warehouse, {"APP-TEE-001": 5})
    publish(connection.channel)
    deliver_all()
    # then
    assert shop_stock(connection, f"/products/{SIMPLE}") == 5
    assert not OpsException.objects.open().filter(dedupe_key__startswith="publish:").exists()


# --- retries and superseded figures -------------------------------------------------------------
@pytest.mark.django_db
def test_publish_stock_5xx_is_retried_by_the_outbox(woo_simulator: WooCommerceSimulator) -> None:
    # given: the shop answers the first call 503
    connection, warehouse = selling(woo_simulator)
    httpx.post(f"{woo_simulator.url}/_sim/faults", json={"fail_next": 1, "fail_status": 503})
    counted(warehouse, {"APP-TEE-001": 11})
    publish(connection.channel)
    # when: the first attempt fails, the retry (backoff not waited out) succeeds
    assert deliver_all() == [OutboundStatus.PENDING]
    (message,) = messages()
    assert message.last_status_code == 503
    assert "HTTP 503" in message.last_error
    assert publication("APP-TEE-001", connection.channel).state == PublicationState.SENT
    OutboundMessage.objects.filter(pk=message.pk).update(next_attempt_at=timezone.now())
    assert deliver_all() == [OutboundStatus.DELIVERED]
    # then
    message.refresh_from_db()
    assert message.attempts == 2
    assert [a.status_code for a in message.attempt_log.order_by("number")] == [503, 200]
    assert shop_stock(connection, f"/products/{SIMPLE}") == 11
    assert publication("APP-TEE-001", connection.channel).state == PublicationState.PUBLISHED


@pytest.mark.django_db
def test_deliver_a_retried_batch_never_sets_an_older_figure(
    woo_simulator: WooCommerceSimulator,
) -> None:
    # given: 4 queued for the tee; before it is delivered, the tee is counted 9
    connection, warehouse = selling(woo_simulator)
    counted(warehouse, {"APP-TEE-001": 4, "ACC-TOTE-01": 2})
    publish(connection.channel)
    counted(warehouse, {"APP-TEE-001": 9})
    # when: the old batch is delivered, then the new one
    deliver_all()
    first = messages()[0]
    # then: the old batch left the tee out (its figure was superseded), the new one sets 9
    assert first.response["superseded"] == [SKU.objects.get(code="APP-TEE-001").pk]
    assert shop_stock(connection, f"/products/{SIMPLE}") == 100  # the shop's own, untouched
    assert shop_stock(connection, f"/products/{OTHER}") == 2
    assert publication("APP-TEE-001", connection.channel).state == PublicationState.PENDING
    publish(connection.channel)
    deliver_all()
    assert shop_stock(connection, f"/products/{SIMPLE}") == 9
    row = publication("APP-TEE-001", connection.channel)
    assert (row.state, row.published) == (PublicationState.PUBLISHED, 9)


@pytest.mark.django_db
def test_publish_stock_waits_while_the_channel_has_no_enabled_connection(
    woo_simulator: WooCommerceSimulator,
) -> None:
    # given
    connection, warehouse = selling(woo_simulator)
    Connection.objects.filter(pk=connection.pk).update(enabled=False)
    counted(warehouse, {"APP-TEE-001": 3})
    # when
    taken = publish(connection.channel)
    # then: nothing taken, nothing sent; the row is still pending for later
    assert taken == 0
    assert not messages()
    assert publication("APP-TEE-001", connection.channel).state == PublicationState.PENDING


# --- hostile payloads (an edited replay) --------------------------------------------------------
def _item(n: int = 0, **changes: Any) -> dict[str, Any]:
    return {"sku_id": 1 + n, "sku": f"S{n}", "id": SIMPLE + n, "quantity": 1, **changes}


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("payload", "error"),
    [
        (
            {"parent_id": None, "items": [_item(quantity=-2)]},
            "payload.items[0].quantity must be a whole number ≥ 0, not '-2'",
        ),
        (
            {"parent_id": None, "items": [_item(quantity="7")]},
            "payload.items[0].quantity must be a whole number ≥ 0, not '7'",
        ),
        (
            {"parent_id": None, "items": [{"sku_id": 1, "quantity": 1}]},
            "payload.items[0].id must be a whole number ≥ 1, not 'None'",
        ),
        (
            {"parent_id": None, "items": [_item(n) for n in range(101)]},
            "payload.items has 101 items; WooCommerce takes at most 100 a request",
        ),
        ({"parent_id": None, "items": []}, "payload.items must be a non-empty list"),
        (
            {"parent_id": "../orders", "items": [_item()]},
            "payload.parent_id must be a WooCommerce product id or null, not '../orders'",
        ),
        (
            {"parent_id": None, "items": [_item(), _item(sku_id=9)]},
            "payload.items names a WooCommerce id twice",
        ),
    ],
)
def test_deliver_hostile_payload_is_a_dead_letter_with_a_clear_error(
    woo_simulator: WooCommerceSimulator, payload: dict[str, Any], error: str
) -> None:
    # given
    connection = woo_connection(base_url=woo_simulator.url)
    enqueue_outbound(
        connection,
        kind=stock.STOCK_PUBLISH,
        idempotency_key="edited-replay",
        payload={"channel_id": connection.channel_id, **payload},
        correlation_id=uuid.uuid4(),
    )
    # when
    statuses = deliver_all()
    # then: refused before any call, with the reason; nothing sent to the shop
    message = OutboundMessage.objects.get(idempotency_key="edited-replay")
    assert statuses == [OutboundStatus.DEAD]
    assert message.last_error == error
    assert OpsException.objects.get(dedupe_key=f"outbound:{message.pk}").severity == "high"
    assert posts(woo_simulator) == []


@pytest.mark.django_db
def test_deliver_payload_for_another_channel_is_refused(
    woo_simulator: WooCommerceSimulator,
) -> None:
    # given
    connection = woo_connection(base_url=woo_simulator.url)
    enqueue_outbound(
        connection,
        kind=stock.STOCK_PUBLISH,
        idempotency_key="other-channel",
        payload={"channel_id": connection.channel_id + 1, "parent_id": None, "items": [_item()]},
        correlation_id=uuid.uuid4(),
    )
    # when
    deliver_all()
    # then
    message = OutboundMessage.objects.get(idempotency_key="other-channel")
    assert message.status == OutboundStatus.DEAD
    assert message.last_error == (
        f"payload.channel_id {str(connection.channel_id + 1)!r} is not the channel of connection "
        f"woo-web ({connection.channel_id})"
    )


# --- scheduling ----------------------------------------------------------------------------------
@pytest.mark.django_db
def test_schedule_publish_is_once_per_channel_until_the_task_starts() -> None:
    # given
    client = redis_client()
    queue = settings.CELERY_TASK_DEFAULT_QUEUE
    try:
        # when / then: the first asks, the next ones in the window do not, another channel does
        assert stock.schedule_publish(9_001) is True
        assert stock.schedule_publish(9_001) is False
        assert stock.schedule_publish(9_002) is True
        ttl = client.pttl(stock.schedule_key(9_001))
        assert 0 < ttl <= stock.COALESCE_MS
        # the task starting frees the key: a change during its run asks for another
        stock.publish_stock(channel_id=9_001)
        assert stock.schedule_publish(9_001) is True
        time.sleep(stock.COALESCE_MS / 1000 + 0.05)
        assert stock.schedule_publish(9_002) is True  # the window passed
    finally:
        client.delete(queue, stock.schedule_key(9_001), stock.schedule_key(9_002))


# --- the whole path, with a worker ---------------------------------------------------------------
@pytest.mark.django_db(transaction=True)
def test_stock_events_reach_the_shop_through_a_real_worker(
    celery_worker: Any, woo_simulator: WooCommerceSimulator
) -> None:
    # given: a real worker; stock events committed one after another
    connection, warehouse = selling(woo_simulator)
    Connection.objects.filter(pk=connection.pk).update(rate_limit_per_s=100)
    latencies = []
    # when
    for on_hand in range(20, 40):
        started = time.monotonic()
        counted(warehouse, {"APP-TEE-001": on_hand, "KN-MER-M": on_hand + 1})

        def shown(expected: int = on_hand) -> bool:
            """the shop shows the new figures"""
            return shop_stock(connection, f"/products/{SIMPLE}") == expected and (
                shop_stock(connection, f"/products/{VARIABLE}/variations/132") == expected + 1
            )

        wait_for(shown, timeout=15, interval=0.02)
        latencies.append(time.monotonic() - started)
    # then: every event published, the last figures recorded; p95 reported
    p95 = statistics.quantiles(latencies, n=20)[-1]
    print(f"stock event → shop: p50 {statistics.median(latencies):.3f}s, p95 {p95:.3f}s")
    assert p95 < 3.0, latencies  # the target is < 1 s; a shared test box gets slack

    def recorded() -> bool:
        """both publications recorded as published"""
        rows = StockPublication.objects.filter(channel=connection.channel)
        return {(r.state, r.published) for r in rows} == {
            (PublicationState.PUBLISHED, 39),
            (PublicationState.PUBLISHED, 40),
        }

    wait_for(recorded, timeout=10)
