"""Hostile bodies and headers on the WooCommerce webhook: each gets a 4xx naming the problem (and
is kept for ops when it was signed), text PostgreSQL refuses is made safe instead of failing the
order, permanent errors are never retried, and the dedupe key comes from the signed body only."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import pytest
from django.db import connection as db_connection
from django.test import Client

from controltower.exceptions.choices import ExceptionType
from controltower.exceptions.models import OpsException
from controltower.orders.models import Order
from integrations.runtime import registry
from integrations.runtime.choices import InboundStatus
from integrations.runtime.inbox import claim_inbound, process_inbound_event, raw_body
from integrations.runtime.models import InboundEvent
from tests.factories.catalog import SKUFactory
from tests.factories.integrations import woo_connection
from tests.factories.woocommerce import body_of, signature, webhook_headers, woo_order

URL = "/hooks/woocommerce/woo-web/"


@pytest.fixture
def woo(db: None) -> None:
    woo_connection()


@pytest.fixture
def no_commit_callbacks(django_capture_on_commit_callbacks: Any) -> Iterator[list[Any]]:
    with django_capture_on_commit_callbacks(execute=False) as callbacks:
        yield callbacks


def post(client: Client, body: bytes, headers: dict[str, str]) -> Any:
    return client.post(URL, data=body, content_type="application/json", headers=headers)


def _drain() -> dict[int, str]:
    return {event_id: process_inbound_event(event_id) for event_id in claim_inbound(10)}


def _rejected_kept(body: bytes, detail: str) -> InboundEvent:
    event = InboundEvent.objects.get()
    assert event.status == InboundStatus.REJECTED
    assert raw_body(event) == body
    assert detail in event.error
    exception = OpsException.objects.get(type=ExceptionType.REJECTED_INBOUND)
    assert exception.subject_id == str(event.pk)
    return event


# --- bodies ----------------------------------------------------------------------------------
@pytest.mark.usefixtures("woo")
def test_receive_webhook_deeply_nested_json_is_400_and_kept(client: Client) -> None:
    # given: 100,000 levels of nesting, signed
    body = b"[" * 100_000 + b"]" * 100_000
    # when
    response = post(client, body, webhook_headers(body))
    # then
    assert response.status_code == 400
    assert response.json()["detail"] == "malformed JSON: nested deeper than 64 levels"
    _rejected_kept(body, "nested deeper than 64 levels")


@pytest.mark.usefixtures("woo")
def test_receive_webhook_raw_nul_byte_is_400_and_kept_byte_exact(client: Client) -> None:
    # given: a raw NUL inside a string, which JSON forbids and PostgreSQL text cannot hold
    body = body_of(woo_order(1001)).replace(b'"Anna"', b'"An\x00na"', 1)
    # when
    response = post(client, body, webhook_headers(body))
    # then
    assert response.status_code == 400
    assert response.json()["detail"].startswith("malformed JSON: ")
    event = _rejected_kept(body, "malformed JSON")
    assert event.headers["ct:body-encoding"] == "base64"


@pytest.mark.usefixtures("woo")
def test_receive_webhook_body_not_utf8_is_400_and_kept_byte_exact(client: Client) -> None:
    # given
    body = body_of(woo_order(1001)).replace(b"Anna", b"\xffnna", 1)
    # when
    response = post(client, body, webhook_headers(body))
    # then
    assert response.status_code == 400
    assert response.json()["detail"].startswith("the body is not UTF-8")
    _rejected_kept(body, "not UTF-8")


@pytest.mark.usefixtures("woo")
def test_receive_webhook_nan_is_not_json(client: Client) -> None:
    # given
    body = body_of(woo_order(1001)).replace(b'"total": "', b'"x": NaN, "total": "', 1)
    # when
    response = post(client, body, webhook_headers(body))
    # then
    assert response.status_code == 400
    assert response.json()["detail"] == "malformed JSON: NaN is not a JSON value"
    _rejected_kept(body, "NaN")


@pytest.mark.usefixtures("woo")
@pytest.mark.parametrize(
    ("order_id", "detail"),
    [
        (10**70, "id: out of range (at most 19 digits)"),
        ("1001", "id: missing or not a positive integer"),
        (None, "id: missing or not a positive integer"),
        (-4, "id: missing or not a positive integer"),
    ],
)
def test_receive_webhook_bad_resource_id_is_400_and_kept(
    client: Client, order_id: Any, detail: str
) -> None:
    # given
    body = body_of({**woo_order(1001), "id": order_id})
    # when
    response = post(client, body, webhook_headers(body))
    # then
    assert response.status_code == 400
    assert response.json()["detail"] == detail
    event = _rejected_kept(body, detail)
    assert event.resource_id == ""


# --- headers ---------------------------------------------------------------------------------
@pytest.mark.usefixtures("woo")
@pytest.mark.parametrize(
    ("header", "limit"),
    [
        ("X-WC-Webhook-Topic", 64),
        ("X-WC-Webhook-Resource", 32),
        ("X-WC-Webhook-Delivery-ID", 128),
    ],
)
def test_receive_webhook_over_long_header_is_400_not_503(
    client: Client, header: str, limit: int
) -> None:
    # given
    body = body_of(woo_order(1001))
    headers = {**webhook_headers(body), header: "o" * 5000}
    # when
    response = post(client, body, headers)
    # then: permanent, so not "please retry"; kept, with the value cut to fit its column
    assert response.status_code == 400
    assert response.json()["detail"] == f"{header}: longer than {limit} characters"
    event = _rejected_kept(body, header)
    assert len(event.topic) <= 64 and len(event.resource) <= 32 and len(event.delivery_id) <= 128
    assert all(len(value) <= 1024 for value in event.headers.values())


@pytest.mark.usefixtures("woo")
def test_receive_webhook_over_long_header_unsigned_is_401_and_stored_nowhere(
    client: Client,
) -> None:
    # given
    body = body_of(woo_order(1001))
    headers = {**webhook_headers(body, secret=None), "X-WC-Webhook-Topic": "o" * 5000}
    # when
    response = post(client, body, headers)
    # then
    assert response.status_code == 401
    assert response.json()["detail"] == "missing X-WC-Webhook-Signature"
    assert not InboundEvent.objects.exists()


# --- dedupe from the signed body only --------------------------------------------------------
@pytest.mark.usefixtures("woo")
def test_receive_webhook_captured_body_with_changed_resource_header_is_a_duplicate(
    client: Client,
) -> None:
    # given: a signed order body, delivered once
    body = body_of(woo_order(1001))
    headers = webhook_headers(body)
    assert post(client, body, headers).json() == {"status": "accepted"}
    # when: replayed with other unsigned headers
    answers = [
        post(client, body, {**headers, "X-WC-Webhook-Resource": resource}).json()
        for resource in ("product", "coupon", "x" * 20)
    ]
    other_topic = {**headers, "X-WC-Webhook-Topic": "product.updated"}
    answers.append(post(client, body, other_topic).json())
    other_delivery = {**headers, "X-WC-Webhook-Delivery-ID": "f" * 40}
    answers.append(post(client, body, other_delivery).json())
    # then
    assert answers == [{"status": "duplicate"}] * 5
    assert InboundEvent.objects.count() == 1


@pytest.mark.usefixtures("woo")
def test_receive_webhook_resource_header_disagreeing_with_the_body_is_ignored(
    client: Client,
) -> None:
    # given: an order body announced as a product
    body = body_of(woo_order(1001))
    headers = {
        **webhook_headers(body),
        "X-WC-Webhook-Resource": "product",
        "X-WC-Webhook-Topic": "product.deleted",
    }
    # when
    response = post(client, body, headers)
    # then: stored as what the signed body is
    assert response.json() == {"status": "accepted"}
    event = InboundEvent.objects.get()
    assert (event.resource, event.topic, event.resource_id) == ("order", "order.updated", "1001")
    assert event.headers["X-Wc-Webhook-Resource"] == "product"


@pytest.mark.usefixtures("woo")
def test_receive_webhook_deletion_replayed_with_other_headers_is_a_duplicate(
    client: Client,
) -> None:
    # given: WooCommerce's deletion body is only the id
    body = body_of({"id": 1001})
    headers = webhook_headers(body, topic="order.deleted")
    assert post(client, body, headers).json() == {"status": "accepted"}
    # when: replayed in a later second, and as a product
    later = {**headers, "X-WC-Webhook-Delivery-ID": "0" * 32}
    as_product = {**webhook_headers(body, topic="product.deleted")}
    answers = [post(client, body, h).json()["status"] for h in (later, as_product)]
    # then
    assert answers == ["duplicate", "duplicate"]
    assert InboundEvent.objects.get().topic == "order.deleted"


# --- text PostgreSQL refuses, inside valid JSON ----------------------------------------------
@pytest.mark.usefixtures("woo", "no_commit_callbacks")
def test_nul_escape_in_the_order_is_made_safe_and_the_order_is_processed(
    client: Client,
) -> None:
    # given: "\u0000" (valid JSON) in the note, the name and the address, and a lone surrogate
    SKUFactory(code="NW-TEE-001-BLK-M")
    SKUFactory(code="NW-CAP-002-NAV-OS")
    payload = woo_order(1001)
    payload["customer_note"] = "leave at the door\u0000"
    payload["billing"] = {**payload["billing"], "first_name": "An\u0000na", "city": "Ut\ud800"}
    payload["shipping"] = {"\u0000key": "x\u0000"}
    payload["line_items"][0]["name"] = "Tee\u0000"
    body = json.dumps(payload).encode()
    assert b"\\u0000" in body
    # when
    response = post(client, body, webhook_headers(body))
    outcome = _drain()
    # then: stored exactly, processed on the first attempt, NUL removed from what was translated
    assert response.json() == {"status": "accepted"}
    event = InboundEvent.objects.get()
    assert event.body.encode() == body
    assert list(outcome.values()) == [InboundStatus.PROCESSED]
    order = Order.objects.get()
    assert order.customer_name == "Anna de Vries"
    assert order.billing_address["first_name"] == "Anna"
    assert order.billing_address["city"] == "Ut\ufffd"
    assert order.shipping_address == {"key": "x"}
    assert order.lines.get(sku_code="NW-TEE-001-BLK-M").name == "Tee"


@pytest.mark.usefixtures("woo", "no_commit_callbacks")
def test_over_long_field_in_the_order_is_dead_lettered_at_once_naming_it(client: Client) -> None:
    # given
    body = body_of({**woo_order(1001), "number": "9" * 100})
    # when
    post(client, body, webhook_headers(body))
    outcome = _drain()
    # then
    assert list(outcome.values()) == [InboundStatus.FAILED]
    event = InboundEvent.objects.get()
    assert event.attempts == 1
    assert event.error == "number: longer than 64 characters"


@pytest.mark.usefixtures("woo", "no_commit_callbacks")
def test_data_error_in_the_inbox_is_a_dead_letter_at_once(
    client: Client, monkeypatch: pytest.MonkeyPatch
) -> None:
    # given: a handler whose write PostgreSQL refuses as data (SQLSTATE class 22)
    def refused(event: InboundEvent) -> Any:
        with db_connection.cursor() as cursor:
            cursor.execute("SELECT 'more than four'::varchar(4)::char(2)::int")
        return None

    monkeypatch.setitem(registry.INBOUND, "woocommerce", refused)
    body = body_of(woo_order(1001))
    post(client, body, webhook_headers(body))
    # when
    outcome = _drain()
    # then: no retries; a dead letter with what the database said
    assert list(outcome.values()) == [InboundStatus.FAILED]
    event = InboundEvent.objects.get()
    assert event.attempts == 1
    assert event.error.startswith("refused by the database (permanent): ")
    assert "invalid input syntax for type integer" in event.error
    dead = OpsException.objects.get(type=ExceptionType.DEAD_LETTER)
    assert "refused by the database" in dead.detail


# --- the signature itself --------------------------------------------------------------------
@pytest.mark.usefixtures("woo")
def test_receive_webhook_signature_header_with_nul_is_401(client: Client) -> None:
    # given
    body = body_of(woo_order(1001))
    headers = {**webhook_headers(body), "X-WC-Webhook-Signature": signature(body) + "\x00"}
    # when
    response = post(client, body, headers)
    # then
    assert response.status_code == 401
    assert not InboundEvent.objects.exists()
