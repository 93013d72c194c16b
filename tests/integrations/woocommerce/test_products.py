"""WooCommerce products against the simulator over HTTP: the scheduled pull (watermark, SyncRun),
product webhooks (a variable parent's variations read after commit), product.deleted, bad input,
and our side of ``products/batch`` and ``products/<id>/variations/batch``."""

from __future__ import annotations

import time
from decimal import Decimal
from typing import Any

import httpx
import pytest
from django.test import Client

from controltower.catalog.models import SKU, Product, SKUCrossReference
from controltower.core.context import acting_as
from integrations.runtime.inbox import claim_inbound, process_inbound_event
from integrations.runtime.models import Connection, InboundEvent, SyncCursor
from integrations.woocommerce import products, tasks
from integrations.woocommerce.client import WooCommerceError, get_json, request_json, woo_client
from tests.factories.integrations import woo_connection
from tests.factories.woocommerce import body_of, webhook_headers

URL = "/hooks/woocommerce/woo-web/"
SIMPLE, VARIABLE = 110, 130  # Organic Cotton Tee; Merino Crew Sweater (variations 131-133)
SELLABLE = 20  # 12 simple products + 3 + 3 + 2 variations in the simulator's default catalog


def drain() -> None:
    while ids := claim_inbound(50):
        for event_id in ids:
            process_inbound_event(event_id)


def deliver(client: Client, payload: Any, topic: str) -> InboundEvent:
    body = body_of(payload)
    response = client.post(
        URL, data=body, content_type="application/json", headers=webhook_headers(body, topic=topic)
    )
    assert response.status_code == 200, response.content
    drain()
    return InboundEvent.objects.latest("id")


def store(connection: Connection, method: str, path: str, body: Any = None) -> Any:
    with woo_client(connection) as woo:
        return request_json(woo, method, path, json_body=body)


@pytest.fixture
def connection(woo_simulator: Any, db: None) -> Connection:
    return woo_connection(base_url=woo_simulator.url)


def _history() -> tuple[int, int, int]:
    return (Product.history.count(), SKU.history.count(), SKUCrossReference.history.count())


# --- the scheduled pull --------------------------------------------------------------------------
@pytest.mark.django_db
def test_pull_products_brings_products_and_variations_into_the_catalog(
    connection: Connection,
) -> None:
    # given: an empty catalog
    assert not SKU.objects.exists()
    # when
    with acting_as("sync.woocommerce"):
        run = products.pull_products(connection)
    # then
    assert run.status == "succeeded", run.error
    assert run.counts["refused"] == 0
    assert SKU.objects.count() == SELLABLE
    merino = Product.objects.get(source_system="woocommerce:woo-web", external_id=str(VARIABLE))
    assert merino.name == "Merino Crew Sweater"
    assert sorted(merino.skus.values_list("code", flat=True)) == [
        "KN-MER-L",
        "KN-MER-M",
        "KN-MER-S",
    ]
    sku = SKU.objects.get(code="KN-MER-M")
    assert sku.attributes == {"Size": "M"}
    assert (sku.price_amount, sku.currency, sku.is_active) == (Decimal("79.00"), "EUR", True)
    assert sku.cross_references.get().system_code == "132"
    assert SKU.objects.get(code="APP-TEE-001").cross_references.get().system_code == str(SIMPLE)
    assert SKU.objects.get(code="APP-TEE-001").history.get().history_user.username == (
        "sync.woocommerce"
    )
    assert SyncCursor.objects.get(connection=connection, name="products.pull").watermark


@pytest.mark.django_db
def test_pull_products_again_writes_no_history(connection: Connection) -> None:
    # given
    products.pull_products(connection)
    before = _history()
    # when
    run = products.pull_products(connection)
    # then
    assert run.status == "succeeded"
    assert run.counts["changed"] == run.counts["created"] == 0
    assert _history() == before


@pytest.mark.django_db
def test_pull_products_applies_a_price_change_once(connection: Connection) -> None:
    # given
    products.pull_products(connection)
    time.sleep(1.1)  # the store's modification times have 1 s resolution
    store(connection, "PUT", f"/products/{SIMPLE}", {"regular_price": "17.50"})
    before = SKU.history.count()
    # when
    run = products.pull_products(connection)
    # then
    assert run.counts["changed"] == 1, run.counts
    tee = SKU.objects.get(code="APP-TEE-001")
    assert tee.price_amount == Decimal("17.50")
    assert SKU.history.count() == before + 1
    assert tee.history.first().history_change_reason.startswith(
        "SKU master data from woocommerce:woo-web: updated price_amount"
    )


@pytest.mark.django_db
def test_pull_products_failure_is_a_failed_run(woo_simulator: Any, db: None) -> None:
    # given: wrong credentials
    connection = woo_connection(base_url=woo_simulator.url, consumer_secret="wrong")
    # when
    run = products.pull_products(connection)
    # then
    assert run.status == "failed"
    assert "HTTP 401" in run.error
    assert not SKU.objects.exists()
    assert SyncCursor.objects.get(name="products.pull").watermark is None


# --- webhooks ------------------------------------------------------------------------------------
@pytest.mark.django_db
def test_product_webhook_simple_product_applies_at_once(
    client: Client, connection: Connection
) -> None:
    # given: a new product with a unicode name and fields we do not know
    created = store(
        connection,
        "POST",
        "/products",
        {"name": "Tasse «Ærø» — 茶杯 ☕", "sku": "HOME-TASSE-1", "regular_price": "8.90"},
    )
    payload = {**created, "x_plugin": {"anything": [1, "ü"]}}
    # when
    event = deliver(client, payload, "product.created")
    # then
    assert event.status == "processed", event.error
    sku = SKU.objects.get(code="HOME-TASSE-1")
    assert sku.name == "Tasse «Ærø» — 茶杯 ☕"
    assert sku.product.name == "Tasse «Ærø» — 茶杯 ☕"
    assert sku.price_amount == Decimal("8.90")
    assert event.correlation_id == sku.product.correlation_id
    assert sku.history.get().history_user.username == "sync.woocommerce"


@pytest.mark.django_db
def test_product_webhook_variable_parent_reads_its_variations_after_commit(
    client: Client, connection: Connection, django_capture_on_commit_callbacks: Any
) -> None:
    # given
    with woo_client(connection) as woo:
        parent = get_json(woo, f"/products/{VARIABLE}")
    assert parent["type"] == "variable" and parent["variations"] == [131, 132, 133]
    # when: the webhook carries the parent only
    with django_capture_on_commit_callbacks() as callbacks:
        event = deliver(client, parent, "product.updated")
    # then: the product is applied; its variations wait for the task queued on commit
    assert event.status == "processed", event.error
    assert Product.objects.get().name == "Merino Crew Sweater"
    assert not SKU.objects.exists()
    assert any("_queue_sync" in c.__qualname__ for c in callbacks)
    # when
    outcome = tasks.sync_product.run(connection_id=connection.pk, product_id=VARIABLE)
    # then
    assert outcome == "applied"
    assert sorted(SKU.objects.values_list("code", flat=True)) == [
        "KN-MER-L",
        "KN-MER-M",
        "KN-MER-S",
    ]
    assert {s.product_id for s in SKU.objects.all()} == {Product.objects.get().pk}


@pytest.mark.django_db
def test_product_deleted_deactivates_skus_and_keeps_them(
    client: Client, connection: Connection
) -> None:
    # given
    products.pull_products(connection)
    # when: the store deletes the variable parent (the body is only its id)
    event = deliver(client, {"id": VARIABLE}, "product.deleted")
    # then
    assert event.status == "processed", event.error
    merino = SKU.objects.filter(code__startswith="KN-MER-")
    assert merino.count() == 3
    assert not merino.filter(is_active=True).exists()
    assert SKU.objects.filter(is_active=True).count() == SELLABLE - 3
    assert merino.first().history.first().history_change_reason == (
        "deleted in woocommerce:woo-web: updated is_active"
    )


@pytest.mark.django_db
def test_product_deleted_for_an_unknown_product_is_ignored(
    client: Client, connection: Connection
) -> None:
    # given
    products.pull_products(connection)
    before = _history()
    # when
    event = deliver(client, {"id": 987654}, "product.deleted")
    # then
    assert event.status == "ignored"
    assert _history() == before
    assert SKU.objects.filter(is_active=True).count() == SELLABLE


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("change", "error"),
    [
        ({"price": "abc"}, "product.price: not an amount: 'abc'"),
        ({"price": 12.5}, "product.price: amounts must not be floats"),
        ({"name": 123}, "product.name: not a string"),
        ({"name": ""}, "product.name: missing"),
        ({"type": "bundle"}, "type: unknown product type 'bundle'"),
        ({"attributes": "Size"}, "product.attributes: not a list"),
    ],
)
def test_product_webhook_bad_input_fails_clearly_and_applies_nothing(
    client: Client, connection: Connection, change: dict[str, Any], error: str
) -> None:
    # given
    with woo_client(connection) as woo:
        good = get_json(woo, f"/products/{SIMPLE}")
    # when
    event = deliver(client, {**good, **change}, "product.updated")
    # then
    assert event.status == "failed"
    assert event.error == error
    assert not SKU.objects.exists()
    assert not Product.objects.exists()


@pytest.mark.django_db
def test_product_webhook_id_only_body_on_updated_reads_the_product_from_the_store(
    client: Client, connection: Connection, django_capture_on_commit_callbacks: Any
) -> None:
    # given: the product is held
    products.pull_products(connection)
    before = _history()
    # when: an update that carries only the id
    with django_capture_on_commit_callbacks() as callbacks:
        event = deliver(client, {"id": SIMPLE}, "product.updated")
    # then: nothing is guessed from it (no deactivation); the product is read again on commit
    assert event.status == "ignored"
    assert _history() == before
    assert SKU.objects.get(code="APP-TEE-001").is_active
    assert any("_queue_sync" in c.__qualname__ for c in callbacks)


# --- batches -------------------------------------------------------------------------------------
@pytest.mark.django_db
def test_batch_update_products_splits_into_requests_of_100_and_reads_item_errors(
    connection: Connection,
) -> None:
    # given: 150 updates, two of them for products the store does not have
    updates = [products.stock_update(SIMPLE, 40)] * 148 + [
        products.stock_update(999_001, 1),
        products.price_update(999_002, Decimal("5.00")),
    ]
    # when
    with woo_client(connection) as woo:
        result = products.batch_update_products(woo, updates)
        tee = get_json(woo, f"/products/{SIMPLE}")
    # then
    assert result.requests == 2
    assert len(result.updated) == 148
    assert [(e.id, e.code, e.status) for e in result.errors] == [
        (999_001, "woocommerce_rest_product_invalid_id", 400),
        (999_002, "woocommerce_rest_product_invalid_id", 400),
    ]
    assert all(e.message for e in result.errors)
    assert not result.ok
    assert tee["stock_quantity"] == 40


@pytest.mark.django_db
def test_batch_update_variations_sets_stock_and_price(connection: Connection) -> None:
    # given
    updates = [products.stock_update(131, 7), products.price_update(132, Decimal("74.5"))]
    # when
    with woo_client(connection) as woo:
        result = products.batch_update_variations(woo, VARIABLE, updates)
        small = get_json(woo, f"/products/{VARIABLE}/variations/131")
        medium = get_json(woo, f"/products/{VARIABLE}/variations/132")
    # then
    assert result.ok and result.requests == 1
    assert small["stock_quantity"] == 7
    assert medium["regular_price"] == "74.50"


@pytest.mark.django_db
def test_batch_of_more_than_100_is_refused_by_the_store(connection: Connection) -> None:
    # given: what our splitting protects us from
    body = {"update": [products.stock_update(SIMPLE, 1)] * 101}
    # when
    with woo_client(connection) as woo, pytest.raises(WooCommerceError) as refused:
        request_json(woo, "POST", "/products/batch", json_body=body)
    # then
    assert refused.value.status_code == 413
    assert refused.value.code == "woocommerce_rest_request_entity_too_large"
    assert "more than 100 items" in refused.value.message


def test_chunks_never_exceed_the_limit() -> None:
    # given
    items = list(range(201))
    # when
    sizes = [len(chunk) for chunk in products.chunks(items)]
    # then
    assert sizes == [100, 100, 1]
    assert [c for c in products.chunks([])] == []
    with pytest.raises(TypeError, match="Decimal, not float"):
        products.price_update(1, 9.99)  # type: ignore[arg-type]


def test_batch_against_a_store_that_is_down_raises(db: None) -> None:
    # given
    connection = woo_connection(base_url="http://127.0.0.1:9/")
    # when / then
    with woo_client(connection) as woo, pytest.raises(httpx.ConnectError):
        products.batch_update_products(woo, [products.stock_update(SIMPLE, 1)])


@pytest.mark.django_db
def test_sync_product_gone_from_the_store_deactivates_it(connection: Connection) -> None:
    # given: held, then deleted for good in the store
    products.pull_products(connection)
    store(connection, "DELETE", f"/products/{SIMPLE}?force=true")
    # when
    outcome = tasks.sync_product.run(connection_id=connection.pk, product_id=SIMPLE)
    # then
    assert outcome == "deactivated"
    tee = SKU.objects.get(code="APP-TEE-001")
    assert not tee.is_active
    assert SKU.objects.filter(is_active=True).count() == SELLABLE - 1


def test_beat_pulls_products_and_sweeps_refund_details(settings: Any) -> None:
    # given / when
    schedule = settings.CELERY_BEAT_SCHEDULE
    # then
    assert schedule["woocommerce.pull_products"]["task"] == tasks.pull_products.name
    assert schedule["woocommerce.detail_refunds"]["task"] == tasks.detail_refunds.name
