"""Receiving the gateway's webhooks: Stripe-Signature verified over the raw body, stale replays
and forged bodies refused, rotating secrets honoured, unreadable envelopes kept for ops."""

from __future__ import annotations

import json
import time

import pytest
from django.test import Client

from controltower.exceptions.models import OpsException
from integrations.runtime.models import InboundEvent
from tests.integrations.payments.conftest import HOOK, WEBHOOK_SECRET, gateway_connection, signed

pytestmark = pytest.mark.django_db


def envelope(event_id: str = "evt_1", type_: str = "payment_intent.succeeded") -> bytes:
    event = {
        "id": event_id,
        "object": "event",
        "type": type_,
        "created": int(time.time()),
        "data": {"object": {"id": "pi_1", "object": "payment_intent", "status": "succeeded"}},
    }
    return json.dumps(event).encode()


def post(client: Client, body: bytes, headers: dict[str, str]):
    return client.post(HOOK, data=body, content_type="application/json", headers=headers)


def test_receive_good_signature_stores_the_event(client: Client) -> None:
    # given
    gateway_connection(base_url="http://127.0.0.1:9")
    body = envelope()
    # when
    response = post(client, body, signed(body))
    again = post(client, body, signed(body))
    # then
    assert response.status_code == 200 and response.json() == {"status": "accepted"}
    assert again.json() == {"status": "duplicate"}
    event = InboundEvent.objects.get()
    assert (event.topic, event.resource, event.resource_id, event.delivery_id) == (
        "payment_intent.succeeded",
        "payment_intent",
        "pi_1",
        "evt_1",
    )
    assert event.body.encode() == body


def test_receive_bad_signature_is_refused_and_nothing_stored(client: Client) -> None:
    # given
    gateway_connection(base_url="http://127.0.0.1:9")
    body = envelope()
    # when
    forged = post(client, body, signed(body, ["whsec_attacker"]))
    missing = post(client, body, {})
    # then
    assert forged.status_code == 401
    assert forged.json()["detail"] == "invalid Stripe-Signature: signature does not match"
    assert missing.status_code == 401
    assert missing.json()["detail"] == "missing Stripe-Signature"
    assert not InboundEvent.objects.exists()


def test_receive_stale_replay_is_refused_even_with_a_valid_signature(client: Client) -> None:
    # given: a genuine delivery captured ten minutes ago
    gateway_connection(base_url="http://127.0.0.1:9")
    body = envelope()
    # when
    response = post(client, body, signed(body, at=int(time.time()) - 600))
    # then
    assert response.status_code == 401
    assert "outside the tolerance" in response.json()["detail"]
    assert not InboundEvent.objects.exists()


def test_receive_rotation_accepts_either_secret_in_two_v1_values(client: Client) -> None:
    # given: we hold only the new secret; the gateway signs with new and old while rotating
    gateway_connection(base_url="http://127.0.0.1:9", secrets=["whsec_new"])
    body = envelope()
    # when
    both = post(client, body, signed(body, ["whsec_old", "whsec_new"]))
    old_only = post(client, envelope("evt_2"), signed(envelope("evt_2"), [WEBHOOK_SECRET]))
    # then
    assert both.status_code == 200
    assert old_only.status_code == 401
    assert InboundEvent.objects.count() == 1


def test_receive_malformed_envelope_is_rejected_and_kept_for_ops(client: Client) -> None:
    # given
    gateway_connection(base_url="http://127.0.0.1:9")
    body = b'{"id": "evt_9", "type": "payment_intent.succeeded", "created": "yesterday"}'
    # when
    response = post(client, body, signed(body))
    # then
    assert response.status_code == 400
    assert response.json()["detail"] == "created: must be unix seconds"
    event = InboundEvent.objects.get()
    assert event.status == "rejected"
    assert OpsException.objects.open().filter(subject_id=str(event.pk)).exists()


def test_receive_unknown_event_type_is_rejected(client: Client) -> None:
    # given
    gateway_connection(base_url="http://127.0.0.1:9")
    body = envelope(type_="customer.created")
    # when
    response = post(client, body, signed(body))
    # then
    assert response.status_code == 400
    assert response.json()["detail"] == "unknown event type 'customer.created'"
