from __future__ import annotations

import hashlib
from datetime import UTC, datetime

import pytest
from django.test import Client

from controltower.exceptions.models import OpsException
from controltower.orders.models import Order
from integrations.runtime.models import InboundEvent
from tests.factories.integrations import woo_connection
from tests.factories.woocommerce import body_of, webhook_headers, woo_order

URL = "/hooks/woocommerce/woo-web/"


def post(
    client: Client, body: bytes, headers: dict[str, str], content_type: str = "application/json"
):
    return client.post(URL, data=body, content_type=content_type, headers=headers)


@pytest.mark.django_db
def test_receive_webhook_good_signature_stores_raw_event(client: Client) -> None:
    # given
    woo_connection()
    body = body_of(woo_order(1001))
    # when
    response = post(client, body, webhook_headers(body))
    # then
    assert response.status_code == 200
    assert response.json() == {"status": "accepted"}
    event = InboundEvent.objects.get()
    assert event.body.encode() == body
    assert event.status == "pending"
    assert event.topic == "order.created"
    assert event.resource_id == "1001"
    assert event.headers["X-Wc-Webhook-Signature"]


@pytest.mark.django_db
def test_receive_webhook_bad_signature_is_refused(client: Client) -> None:
    # given
    woo_connection()
    body = body_of(woo_order(1001))
    # when
    response = post(client, body, webhook_headers(body, secret="not-the-secret"))
    # then
    assert response.status_code == 401
    assert response.json()["detail"] == "invalid X-WC-Webhook-Signature"
    assert not InboundEvent.objects.exists()
    assert not Order.objects.exists()


@pytest.mark.django_db
def test_receive_webhook_missing_signature_is_refused(client: Client) -> None:
    # given
    woo_connection()
    body = body_of(woo_order(1001))
    # when
    response = post(client, body, webhook_headers(body, secret=None))
    # then
    assert response.status_code == 401
    assert response.json()["detail"] == "missing X-WC-Webhook-Signature"
    assert not InboundEvent.objects.exists()


@pytest.mark.django_db
def test_receive_webhook_body_tampered_after_signing_is_refused(client: Client) -> None:
    # given
    woo_connection()
    body = body_of(woo_order(1001))
    headers = webhook_headers(body)
    # when
    response = post(client, body.replace(b'"total": "', b'"total": "1'), headers)
    # then
    assert response.status_code == 401
    assert response.json() == {"detail": "invalid X-WC-Webhook-Signature"}
    assert not InboundEvent.objects.exists()


@pytest.mark.django_db
def test_receive_webhook_ping_gets_exactly_200(client: Client) -> None:
    # given
    woo_connection()
    # when
    response = post(client, b"webhook_id=42", {}, content_type="application/x-www-form-urlencoded")
    # then
    assert response.status_code == 200
    assert response.json() == {"status": "pong"}
    assert not InboundEvent.objects.exists()


@pytest.mark.django_db
def test_receive_webhook_unsigned_non_ping_form_is_refused(client: Client) -> None:
    # given
    woo_connection()
    # when
    response = post(
        client, b"webhook_id=42&x=1", {}, content_type="application/x-www-form-urlencoded"
    )
    # then
    assert response.status_code == 401
    assert response.json() == {"detail": "missing X-WC-Webhook-Signature"}
    assert not InboundEvent.objects.exists()


@pytest.mark.django_db
def test_receive_webhook_malformed_json_is_400_and_raw_body_kept(client: Client) -> None:
    # given
    woo_connection()
    body = b'{"id": 1001, "status": "processing",'
    # when
    response = post(client, body, webhook_headers(body))
    # then
    assert response.status_code == 400
    assert response.json()["detail"].startswith("malformed JSON")
    event = InboundEvent.objects.get()
    assert event.status == "rejected"
    assert event.body.encode() == body
    assert "malformed JSON" in event.error
    exception = OpsException.objects.get()
    assert exception.type == "rejected_inbound"
    assert exception.state == "open"


@pytest.mark.django_db
def test_receive_webhook_redelivery_is_stored_once(client: Client) -> None:
    # given
    woo_connection()
    body = body_of(woo_order(1001))
    # when
    answers = [post(client, body, webhook_headers(body)).json()["status"] for _ in range(5)]
    # then
    assert answers == ["accepted", "duplicate", "duplicate", "duplicate", "duplicate"]
    assert InboundEvent.objects.count() == 1


@pytest.mark.django_db
def test_receive_webhook_unknown_connection_is_404(client: Client) -> None:
    # given
    woo_connection()
    body = body_of(woo_order(1001))
    # when
    response = client.post(
        "/hooks/woocommerce/nope/",
        data=body,
        content_type="application/json",
        headers=webhook_headers(body),
    )
    # then
    assert response.status_code == 404
    assert response.json() == {"detail": "No Connection matches the given query."}
    assert not InboundEvent.objects.exists()


@pytest.mark.django_db
def test_receive_webhook_only_accepts_post(client: Client) -> None:
    # given
    woo_connection()
    # when
    response = client.get(URL)
    # then
    assert response.status_code == 405
    assert response["Allow"] == "POST"
    assert response.json() == {"detail": "GET not allowed"}


@pytest.mark.django_db
def test_receive_webhook_of_a_kind_without_receiver_is_404(client: Client) -> None:
    # given: the connection exists, but is addressed under another kind's path
    woo_connection()
    body = body_of(woo_order(1001))
    # when
    response = client.post(
        "/hooks/erp/woo-web/",
        data=body,
        content_type="application/json",
        headers=webhook_headers(body),
    )
    # then
    assert response.status_code == 404
    assert response.json() == {"detail": "No Connection matches the given query."}
    assert not InboundEvent.objects.exists()


@pytest.mark.django_db
def test_receive_webhook_answers_carry_the_security_headers(client: Client) -> None:
    # given
    woo_connection()
    body = body_of(woo_order(1001))
    # when: an accepted delivery and a refused one
    answers = [
        post(client, body, webhook_headers(body)),
        post(client, body, webhook_headers(body, secret="nope")),
    ]
    # then
    for response in answers:
        assert response["X-Content-Type-Options"] == "nosniff"
        assert response["X-Frame-Options"] == "DENY"
        assert response["Referrer-Policy"] == "same-origin"
        assert response["Content-Type"] == "application/json"


@pytest.mark.django_db(transaction=True)
def test_receive_webhook_secret_rotated_in_another_process_is_accepted_at_once(
    client: Client,
) -> None:
    # given: the connection's credentials are cached in this process (read outside a
    # transaction), then the secret changes behind the cache's back (another process)
    from integrations.runtime.models import Connection
    from integrations.runtime.receive import connection_for

    connection = woo_connection()
    assert connection_for("woo-web", "woocommerce") is not None
    Connection.objects.filter(pk=connection.pk).update(
        credentials_encrypted=_encrypted({**connection.credentials, "webhook_secret": "rotated"})
    )
    body = body_of(woo_order(1001))
    # when
    response = post(client, body, webhook_headers(body, secret="rotated"))
    # then
    assert (response.status_code, response.json()) == (200, {"status": "accepted"})
    assert InboundEvent.objects.filter(resource_id="1001").count() == 1


def _encrypted(credentials: dict[str, str]) -> str:
    from integrations.runtime.crypto import encrypt_credentials

    return encrypt_credentials(credentials)


@pytest.mark.django_db
def test_receive_webhook_a_second_deletion_after_a_restore_is_not_a_redelivery(
    client: Client,
) -> None:
    # given: WooCommerce's deletion body is only the id, with no modification time
    woo_connection()
    deletion = body_of({"id": 1001})
    first = webhook_headers(deletion, topic="order.deleted")
    restored = body_of(woo_order(1001, modified=datetime(2026, 11, 22, 11, tzinfo=UTC)))
    # when: the deletion twice (the second in a later second: its own delivery id), a restore,
    # then the deletion again
    answers = [post(client, deletion, first).json()["status"]]
    later = {**first, "X-WC-Webhook-Delivery-ID": hashlib.md5(b"7-1732270042").hexdigest()}
    answers.append(post(client, deletion, later).json()["status"])
    answers.append(
        post(client, restored, webhook_headers(restored, topic="order.restored")).json()["status"]
    )
    answers.append(post(client, deletion, later).json()["status"])
    # then: only what the signed bodies tell apart is new; the delivery id header is not
    assert answers == ["accepted", "duplicate", "accepted", "accepted"]
    assert InboundEvent.objects.filter(topic="order.deleted", resource_id="1001").count() == 2
