"""The gateway simulator, a gateway connection and an order to pay, for the payments kind's
tests; plus relaying the simulator's own signed events to our receiver in-process."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from django.test import Client

from controltower.catalog.choices import SystemKind
from controltower.orders.models import Order
from integrations.payments.simulator import PaymentsSimulator
from integrations.runtime.inbox import claim_inbound, process_inbound_event
from integrations.runtime.models import Connection, InboundEvent
from integrations.runtime.signing import signature_header
from tests.factories import lifecycle

SECRET_KEY = "sk_test_sim"
WEBHOOK_SECRET = "whsec_test_gateway"
SLUG = "gw"
HOOK = f"/hooks/payments/{SLUG}/"
ORDER_TOTAL_MINOR = 7077  # woo_order(1001): 2 x 19.95 + 14.50 + 21% tax + 4.95 shipping
AUTH = {"Authorization": f"Bearer {SECRET_KEY}"}


@pytest.fixture
def gateway() -> Iterator[PaymentsSimulator]:
    sim = PaymentsSimulator(secret_key=SECRET_KEY, webhook_retry_base_s=0.1).serve_in_thread()
    try:
        yield sim
    finally:
        sim.shutdown()


def gateway_connection(*, base_url: str, secrets: list[str] | None = None, **extra: Any):
    extra.setdefault("timeout_s", 5)
    connection = Connection(
        slug=SLUG, name="Card gateway", kind=SystemKind.PAYMENTS, base_url=base_url, **extra
    )
    connection.set_credentials(
        {"secret_key": SECRET_KEY, "webhook_secrets": secrets or [WEBHOOK_SECRET]}
    )
    connection.save()
    return connection


@pytest.fixture
def order(db: None) -> Order:
    """Web order 1001 (70.77 EUR), as the storefront delivered it."""
    return lifecycle.web_order()


def checkout(sim: PaymentsSimulator, **changes: Any) -> dict[str, Any]:
    body = {
        "order_ref": "web-1001",
        "correlation_id": "corr-1001",
        "amount": ORDER_TOTAL_MINOR,
        "currency": "eur",
        "capture_method": "manual",
        **changes,
    }
    response = httpx.post(f"{sim.url}/_sim/checkout", json=body)
    assert response.status_code == 201, response.text
    return response.json()


def gateway_post(sim: PaymentsSimulator, path: str, **form: Any) -> httpx.Response:
    return httpx.post(f"{sim.url}{path}", data=form, headers=AUTH)


def signed(body: bytes, secrets: list[str] | None = None, at: int | None = None) -> dict:
    return {"Stripe-Signature": signature_header(secrets or [WEBHOOK_SECRET], body, at)}


def relay(client: Client, sim: PaymentsSimulator, seen: list[str]) -> list[str]:
    """Post the simulator's events not relayed yet (its own envelopes, signed as it signs)."""
    answers = []
    for event in sim.webhooks.events():
        if event["id"] in seen:
            continue
        seen.append(event["id"])
        post_event(client, event)
        answers.append(event["type"])
    return answers


def post_event(client: Client, event: dict[str, Any]) -> str:
    """Post one event envelope, signed with the connection's secret; the receiver's status."""
    body = json.dumps(event).encode()
    response = client.post(HOOK, data=body, content_type="application/json", headers=signed(body))
    assert response.status_code == 200, response.content
    return response.json()["status"]


def drain() -> dict[int, str]:
    return {event_id: process_inbound_event(event_id) for event_id in claim_inbound(50)}


def events_of(status: str) -> list[InboundEvent]:
    return list(InboundEvent.objects.filter(status=status).order_by("id"))
