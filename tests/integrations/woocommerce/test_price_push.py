"""The ERP price pushed back to WooCommerce (``integrations/woocommerce/prices.py``) against the
simulator over HTTP: the product sync reads a sale that breaks the policy, ops push the ERP price
(page and API), the outbox POSTs the batch endpoint (a simple product and a variation), the
store's answer is recorded, and the next sync closes the exception. Also what the store refuses
and what cannot be pushed at all."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import pytest
from django.test import Client
from django.utils import timezone

from controltower.catalog.models import SKU, ChannelPrice
from controltower.catalog.services import ErpItemPrice, set_sku_erp_prices
from controltower.core.context import acting_as
from controltower.exceptions.choices import ExceptionState, ExceptionType
from controltower.exceptions.models import OpsException
from controltower.pricing.choices import PushState
from controltower.pricing.models import PricePush
from controltower.pricing.services import PricePushError, request_price_push
from integrations.runtime.choices import OutboundStatus
from integrations.runtime.models import Connection, OutboundMessage
from integrations.runtime.outbox import claim_outbound, deliver_outbound_message
from integrations.woocommerce import prices, products
from integrations.woocommerce.client import get_json, request_json, woo_client
from tests.factories.integrations import woo_connection

TEE, SWEATER, SWEATER_M = 110, 130, 132  # APP-TEE-001 (19.95); KN-MER-M (79.00)


@pytest.fixture
def connection(woo_simulator: Any, db: None) -> Connection:
    """The web store's products pulled, and the ERP's prices for two of its SKUs."""
    connection = woo_connection(base_url=woo_simulator.url)
    with acting_as("sync.woocommerce"):
        assert products.pull_products(connection).status == "succeeded"
    with acting_as("sync.erp"):
        set_sku_erp_prices(
            {
                "APP-TEE-001": ErpItemPrice(Decimal("19.95"), "standard", timezone.now()),
                "KN-MER-M": ErpItemPrice(Decimal("79.00"), "standard", timezone.now()),
            }
        )
    assert not OpsException.objects.open().exists()
    return connection


def store(connection: Connection, method: str, path: str, body: Any = None) -> Any:
    with woo_client(connection) as woo:
        return request_json(woo, method, path, json_body=body)


def sync(connection: Connection, product_id: int) -> None:
    with acting_as("sync.woocommerce"):
        products.sync_product(connection, product_id)


def deliver_all() -> list[str]:
    statuses = []
    with acting_as("system.runtime"):
        while ids := claim_outbound(50):
            statuses += [deliver_outbound_message(message_id) for message_id in ids]
    return statuses


def breach(code: str) -> OpsException:
    return OpsException.objects.open().get(type=ExceptionType.PRICE_BELOW_FLOOR, context__sku=code)


@pytest.mark.django_db
def test_push_erp_price_end_to_end_for_a_simple_product(
    connection: Connection, ops_user: Any, woo_simulator: Any
) -> None:
    # given: marketing puts the tee on sale at 9.95, the sync reads it: below the floor
    store(connection, "PUT", f"/products/{TEE}", {"sale_price": "9.95", "tax_class": "zero-rate"})
    sync(connection, TEE)
    exc = breach("APP-TEE-001")
    assert exc.money_at_risk_amount == Decimal("10.0000")
    assert OpsException.objects.open().filter(type=ExceptionType.TAX_CLASS_MISMATCH).exists()
    woo_simulator.clear_request_log()
    # when: ops push the ERP price
    with acting_as(ops_user):
        push = request_price_push(exc, actor=ops_user, reason="marketing had no approval")
    statuses = deliver_all()
    # then: one batch POST with the ERP price, the sale cleared and the ERP's tax class
    assert statuses == [OutboundStatus.DELIVERED]
    (message,) = OutboundMessage.objects.filter(kind=prices.PRICE_PUSH)
    assert message.payload["regular_price"] == "19.95"
    posted = [r for r in woo_simulator.request_log() if r["method"] == "POST"]
    assert [(r["path"], r["status"]) for r in posted] == [("/wp-json/wc/v3/products/batch", 200)]
    shown = store(connection, "GET", f"/products/{TEE}")
    assert (shown["regular_price"], shown["sale_price"], shown["price"], shown["tax_class"]) == (
        "19.95",
        "",
        "19.95",
        "",
    )
    push.refresh_from_db()
    assert push.state == PushState.ACCEPTED
    assert (push.answer["regular_price"], push.answer["sale_price"]) == ("19.95", "")
    assert push.requested_by == ops_user
    assert push.history.first().history_change_reason == "the store accepted"
    # and: the exception stays open until the next sync shows the price in policy
    exc.refresh_from_db()
    assert exc.state == ExceptionState.OPEN
    sync(connection, TEE)
    exc.refresh_from_db()
    assert exc.state == ExceptionState.RESOLVED
    assert not OpsException.objects.open().filter(type__startswith="price").exists()
    assert not OpsException.objects.open().exists()
    held = ChannelPrice.objects.get(sku__code="APP-TEE-001")
    assert (held.sale_price_amount, held.tax_class) == (None, "standard")


@pytest.mark.django_db
def test_push_erp_price_for_a_variation_uses_its_parents_batch(
    connection: Connection, ops_user: Any, woo_simulator: Any
) -> None:
    # given
    store(connection, "PUT", f"/products/{SWEATER}/variations/{SWEATER_M}", {"sale_price": "39.00"})
    sync(connection, SWEATER)
    exc = breach("KN-MER-M")
    woo_simulator.clear_request_log()
    # when
    with acting_as(ops_user):
        request_price_push(exc, actor=ops_user, reason="over the limit")
    deliver_all()
    # then
    posted = [r["path"] for r in woo_simulator.request_log() if r["method"] == "POST"]
    assert posted == [f"/wp-json/wc/v3/products/{SWEATER}/variations/batch"]
    shown = store(connection, "GET", f"/products/{SWEATER}/variations/{SWEATER_M}")
    assert (shown["regular_price"], shown["sale_price"]) == ("79.00", "")
    sync(connection, SWEATER)
    exc.refresh_from_db()
    assert exc.state == ExceptionState.RESOLVED


@pytest.mark.django_db
def test_push_erp_price_from_the_exception_page(connection: Connection, ops_user: Any) -> None:
    # given
    store(connection, "PUT", f"/products/{TEE}", {"sale_price": "9.95"})
    sync(connection, TEE)
    exc = breach("APP-TEE-001")
    client = Client()
    client.force_login(ops_user)
    page = client.get(f"/exceptions/{exc.pk}/")
    assert "Push the ERP price to the store" in page.content.decode()
    # when: without a reason, then with one
    refused = client.post(f"/pricing/exceptions/{exc.pk}/push/", {"reason": ""})
    done = client.post(f"/pricing/exceptions/{exc.pk}/push/", {"reason": "not approved"})
    # then
    assert refused.status_code == 400
    assert "A reason is required." in refused.content.decode()
    assert done.status_code == 302
    assert PricePush.objects.get().reason == "not approved"
    # when: pushed again while the first is on its way
    again = client.post(f"/pricing/exceptions/{exc.pk}/push/", {"reason": "again"})
    # then
    assert again.status_code == 409
    assert (
        "a push of APP-TEE-001 to web is already on its way; wait for the store&#x27;s answer"
        in again.content.decode()
    )
    assert PricePush.objects.count() == 1


@pytest.mark.django_db
def test_push_erp_price_through_the_api(
    connection: Connection, ops_user: Any, finance_requester: Any
) -> None:
    # given
    store(connection, "PUT", f"/products/{TEE}", {"sale_price": "9.95"})
    sync(connection, TEE)
    exc = breach("APP-TEE-001")
    client = Client()
    # when: finance may not, ops may
    client.force_login(finance_requester)
    forbidden = client.post(
        "/api/v1/price-pushes/",
        {"exception": exc.pk, "reason": "x"},
        content_type="application/json",
    )
    client.force_login(ops_user)
    created = client.post(
        "/api/v1/price-pushes/",
        {"exception": exc.pk, "reason": "not approved"},
        content_type="application/json",
    )
    listed = client.get("/api/v1/price-pushes/")
    # then
    assert forbidden.status_code == 403
    assert created.status_code == 201, created.content
    assert (created.json()["sku"], created.json()["state"]) == ("APP-TEE-001", "queued")
    assert created.json()["regular_price_amount"] == "19.9500"
    assert listed.json()["results"][0]["id"] == created.json()["id"]


@pytest.mark.django_db
def test_push_erp_price_refused_by_the_store_is_recorded(
    connection: Connection, ops_user: Any
) -> None:
    # given: a breach, then the product is deleted in the store
    store(connection, "PUT", f"/products/{TEE}", {"sale_price": "9.95"})
    sync(connection, TEE)
    exc = breach("APP-TEE-001")
    with acting_as(ops_user):
        push = request_price_push(exc, actor=ops_user, reason="not approved")
    store(connection, "DELETE", f"/products/{TEE}?force=true")
    # when
    deliver_all()
    # then: the store's words on the push; the exception stays open
    push.refresh_from_db()
    assert push.state == PushState.REFUSED
    assert push.answer["message"] == (
        f"WooCommerce refused product {TEE}: woocommerce_rest_product_invalid_id: Invalid ID."
    )
    exc.refresh_from_db()
    assert exc.state == ExceptionState.OPEN


@pytest.mark.django_db
def test_push_erp_price_refusals_name_the_reason(connection: Connection, ops_user: Any) -> None:
    # given: a breach, and an exception of another kind
    store(connection, "PUT", f"/products/{TEE}", {"sale_price": "9.95"})
    sync(connection, TEE)
    exc = breach("APP-TEE-001")
    other = OpsException.objects.create(
        type=ExceptionType.DEAD_LETTER, dedupe_key="x", title="x", context={"sku_id": 1}
    )
    # then
    with acting_as(ops_user), pytest.raises(PricePushError) as not_pricing:
        request_price_push(other, actor=ops_user, reason="r")
    assert str(not_pricing.value) == (
        "“Dead-lettered message” is not a price-policy exception: there is no ERP price to push"
    )
    # when: the store's connection is switched off
    Connection.objects.filter(pk=connection.pk).update(enabled=False)
    with acting_as(ops_user), pytest.raises(PricePushError) as no_store:
        request_price_push(exc, actor=ops_user, reason="r")
    # then: nothing recorded, nothing queued
    assert str(no_store.value) == (
        "no enabled storefront connection sells channel web: nothing was sent"
    )
    assert not PricePush.objects.exists()
    assert not OutboundMessage.objects.filter(kind=prices.PRICE_PUSH).exists()
    assert SKU.objects.get(code="APP-TEE-001").erp_price_amount == Decimal("19.9500")


@pytest.mark.django_db
def test_price_push_message_edited_badly_is_a_poison_message(
    connection: Connection, ops_user: Any
) -> None:
    # given: a queued push whose payload someone edited to a negative price
    store(connection, "PUT", f"/products/{TEE}", {"sale_price": "9.95"})
    sync(connection, TEE)
    with acting_as(ops_user):
        request_price_push(breach("APP-TEE-001"), actor=ops_user, reason="r")
    message = OutboundMessage.objects.get(kind=prices.PRICE_PUSH)
    OutboundMessage.objects.filter(pk=message.pk).update(
        payload={**message.payload, "regular_price": "-1"}
    )
    # when
    statuses = deliver_all()
    # then: dead-lettered with the reason, nothing sent to the store
    message.refresh_from_db()
    assert statuses == [OutboundStatus.DEAD]
    assert "payload.regular_price must be a decimal string ≥ 0, not '-1'" in message.last_error
    with woo_client(connection) as woo:
        assert get_json(woo, f"/products/{TEE}")["sale_price"] == "9.95"
