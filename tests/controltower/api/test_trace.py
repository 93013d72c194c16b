"""``/api/v1/traces/<correlation_id>/``: one order's journey across the store, the control
tower and the ERP, in time order, with every attempt, state change, exception and human action."""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterator
from datetime import datetime
from typing import Any

import pytest
from django.contrib.auth.models import User
from django.test import Client
from django.utils import timezone

from controltower.core.context import acting_as
from controltower.exceptions.choices import ExceptionType
from controltower.exceptions.models import OpsException
from controltower.exceptions.services import open_exception
from controltower.orders.models import Order
from integrations.erp.adapter import SALES_ORDER_CREATE
from integrations.runtime import breaker, registry
from integrations.runtime.choices import OutboundStatus
from integrations.runtime.inbox import claim_inbound, process_inbound_event
from integrations.runtime.models import InboundEvent, OutboundMessage
from integrations.runtime.outbox import (
    Attempt,
    _record_delivery,
    claim_outbound,
    deliver_outbound_message,
)
from tests.factories.catalog import SKUFactory
from tests.factories.integrations import erp_connection, woo_connection
from tests.factories.woocommerce import body_of, webhook_headers, woo_order

URL = "/api/v1/traces/"
HOOK = "/hooks/woocommerce/woo-web/"
ENDPOINT = f"erp-main:{SALES_ORDER_CREATE}"


@pytest.fixture(autouse=True)
def _fast_password_hashing(settings: Any) -> None:
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]


@pytest.fixture(autouse=True)
def _closed_breaker() -> Iterator[None]:
    breaker.reset(ENDPOINT)
    yield
    breaker.reset(ENDPOINT)


@pytest.fixture(autouse=True)
def _no_commit_callbacks(django_capture_on_commit_callbacks: Any) -> Iterator[None]:
    """Keep kicks and pushes from leaving the test (no worker, no Redis traffic)."""
    with django_capture_on_commit_callbacks(execute=False):
        yield


@pytest.fixture
def connections(db: None) -> None:
    woo_connection()
    erp_connection(base_url="http://127.0.0.1:9")
    SKUFactory(code="NW-TEE-001-BLK-M")
    SKUFactory(code="NW-CAP-002-NAV-OS")


def _webhook(client: Client, payload: dict[str, Any]) -> None:
    body = body_of(payload)
    response = client.post(
        HOOK, data=body, content_type="application/json", headers=webhook_headers(body)
    )
    assert response.status_code == 200, response.content


def _drain() -> None:
    for event_id in claim_inbound(10):
        process_inbound_event(event_id)


@pytest.fixture
def journey(client: Client, ops_user: User, connections: None) -> dict[str, Any]:
    """Order 1001 received and processed; its ERP sales order dead after one attempt at a port
    where nothing listens; ops replay it with a corrected email; the replay is delivered."""
    _webhook(client, woo_order(1001))
    _drain()
    order = Order.objects.get()
    message = OutboundMessage.objects.get()
    OutboundMessage.objects.filter(pk=message.pk).update(max_attempts=1)
    assert claim_outbound(10) == [message.pk]
    assert deliver_outbound_message(message.pk) == OutboundStatus.DEAD
    edited = {**message.payload, "customer": {**message.payload["customer"]}}
    edited["customer"]["email"] = "anna.devries@example.com"
    client.force_login(ops_user)
    response = client.post(
        f"/api/v1/outbound-messages/{message.pk}/replay/",
        {"reason": "customer email corrected", "payload": edited},
        content_type="application/json",
    )
    assert response.status_code == 202, response.content
    assert claim_outbound(10) == [response.json()["id"]]
    replay = OutboundMessage.objects.get(pk=response.json()["id"])
    with acting_as("sync.erp"):
        status = _record_delivery(
            Attempt(
                replay,
                registry.DeliveryResult(ok=True, status_code=201, body={"id": "SO-7"}),
                timezone.now(),
                40,
                "",
                registry.policy_for(replay.kind),
            )
        )
    assert status == OutboundStatus.DELIVERED
    client.logout()
    return {
        "order": order,
        "message": message,
        "replay": replay,
        "exception": OpsException.objects.get(dedupe_key=f"outbound:{message.pk}"),
    }


def _trace(client: Client, correlation_id: Any) -> Any:
    return client.get(f"{URL}{correlation_id}/")


def _entries(client: Client, user: User, correlation_id: Any) -> list[dict[str, Any]]:
    client.force_login(user)
    response = _trace(client, correlation_id)
    assert response.status_code == 200, response.content
    body = response.json()
    assert body["correlation_id"] == str(correlation_id)
    return body["entries"]


def test_trace_entries_are_in_time_order_and_cover_every_kind(
    client: Client, ops_user: User, journey: dict[str, Any]
) -> None:
    # given
    correlation_id = journey["order"].correlation_id
    # when
    entries = _entries(client, ops_user, correlation_id)
    # then
    times = [datetime.fromisoformat(entry["at"]) for entry in entries]
    assert times == sorted(times)
    assert {entry["kind"] for entry in entries} == {
        "inbound",
        "event",
        "history",
        "outbound",
        "attempt",
        "action",
    }
    assert entries[0]["kind"] == "inbound"


def test_trace_inbound_entry_shows_the_raw_webhook(
    client: Client, ops_user: User, journey: dict[str, Any]
) -> None:
    # given
    event = InboundEvent.objects.get()
    # when
    entries = _entries(client, ops_user, journey["order"].correlation_id)
    # then
    (inbound,) = [e for e in entries if e["kind"] == "inbound"]
    assert (inbound["system"], inbound["title"], inbound["status"]) == (
        "Web store (WooCommerce)",
        "order.created received",
        "processed",
    )
    assert inbound["detail"]["id"] == event.pk
    assert inbound["detail"]["attempts"] == 1
    assert json.loads(inbound["payload"])["id"] == 1001


def test_trace_outbound_entries_show_messages_and_each_attempt(
    client: Client, ops_user: User, journey: dict[str, Any]
) -> None:
    # given
    message, replay = journey["message"], journey["replay"]
    # when
    entries = _entries(client, ops_user, journey["order"].correlation_id)
    # then
    outbound = [e for e in entries if e["kind"] == "outbound"]
    assert [(e["system"], e["title"], e["status"], e["detail"]["id"]) for e in outbound] == [
        ("ERP", "ERP: create sales order", "dead", message.pk),
        ("ERP", f"ERP: create sales order (replay of {message.pk})", "delivered", replay.pk),
    ]
    assert outbound[1]["detail"]["idempotency_key"] == f"{message.idempotency_key}:replay:1"
    assert json.loads(outbound[1]["payload"])["customer"]["email"] == "anna.devries@example.com"
    attempts = [e for e in entries if e["kind"] == "attempt"]
    assert [(e["title"], e["status"], e["detail"]["message"]) for e in attempts] == [
        ("attempt 1: ERP: create sales order", "no answer", message.pk),
        ("attempt 1: ERP: create sales order", "201", replay.pk),
    ]
    assert attempts[0]["detail"]["error"].startswith("ConnectError")
    assert json.loads(attempts[1]["payload"]) == {"id": "SO-7"}


def test_trace_action_entry_shows_who_replayed_why_and_the_diff(
    client: Client, ops_user: User, finance_requester: User, journey: dict[str, Any]
) -> None:
    # given
    message, replay = journey["message"], journey["replay"]
    # when
    entries = _entries(client, finance_requester, journey["order"].correlation_id)
    # then
    (action,) = [e for e in entries if e["kind"] == "action"]
    assert action["title"] == f"Replay of outbound message {message.pk}"
    assert (action["status"], action["actor"]) == ("edited", "olivia.ops")
    assert action["detail"] == {"reason": "customer email corrected", "result_id": replay.pk}
    assert '-    "email": "anna@example.com",\n' in action["payload"]
    assert '+    "email": "anna.devries@example.com",\n' in action["payload"]


def test_trace_history_entries_show_field_changes_and_the_actor(
    client: Client, ops_user: User, journey: dict[str, Any]
) -> None:
    # given
    order = journey["order"]
    # when
    entries = _entries(client, ops_user, order.correlation_id)
    # then
    order_history = [
        e for e in entries if e["kind"] == "history" and e["title"].startswith("order ")
    ]
    assert order_history[0]["title"] == f"order {order.pk} created"
    assert order_history[0]["actor"] == "sync.woocommerce"
    assert order_history[0]["detail"]["reason"] == (
        "received from woocommerce:woo-web; received → accepted: channel status processing"
    )
    changes = {
        (change["field"], change["old"], change["new"])
        for entry in order_history
        if entry["actor"] == "sync.erp"
        for change in entry["detail"]["changes"]
    }
    assert ("erp_reference", "", "SO-7") in changes
    assert ("state", "accepted", "registered") in changes
    assert order_history[-1]["status"] == "registered"
    events = [e for e in entries if e["kind"] == "event"]
    assert any(e["status"] == "erp_registered" for e in events), [e["status"] for e in events]


def test_trace_exception_appears_as_history_opened_and_closed(
    client: Client, ops_user: User, journey: dict[str, Any]
) -> None:
    # given
    exception, replay = journey["exception"], journey["replay"]
    # when
    entries = _entries(client, ops_user, journey["order"].correlation_id)
    # then
    history = [
        e
        for e in entries
        if e["kind"] == "history" and e["title"].startswith(f"exception {exception.pk} ")
    ]
    assert [(e["title"], e["status"], e["actor"]) for e in history] == [
        (f"exception {exception.pk} created", "open", "sync.erp"),
        (f"exception {exception.pk} changed", "resolved", "sync.erp"),
    ]
    assert history[0]["detail"]["reason"].startswith("opened: ERP: create sales order to ERP")
    assert history[1]["detail"]["reason"] == f"replay {replay.pk} delivered"
    assert {"field": "state", "old": "open", "new": "resolved"} in history[1]["detail"]["changes"]


def test_trace_of_replayed_poison_event_shows_the_failed_original_and_the_action(
    client: Client, ops_user: User, connections: None
) -> None:
    # given: a poison order dead-lettered, then replayed corrected by ops and processed
    _webhook(client, woo_order(1002, lines=[("NW-TEE-001-BLK-M", 0, "19.95")]))
    _drain()
    original = InboundEvent.objects.get()
    client.force_login(ops_user)
    response = client.post(
        f"/api/v1/inbound-events/{original.pk}/replay/",
        {"reason": "quantity was 0", "payload": woo_order(1002)},
        content_type="application/json",
    )
    assert response.status_code == 202, response.content
    _drain()
    order = Order.objects.get()
    # when
    entries = _entries(client, ops_user, order.correlation_id)
    # then: the order's trace tells how it came to be: the failure, who replayed it and why
    inbound = [(e["detail"]["id"], e["status"]) for e in entries if e["kind"] == "inbound"]
    assert (original.pk, "failed") in inbound
    actions = [e for e in entries if e["kind"] == "action"]
    assert [(a["actor"], a["detail"]["reason"]) for a in actions] == [
        ("olivia.ops", "quantity was 0")
    ]


@pytest.mark.django_db
def test_trace_unknown_correlation_id_is_404_with_message(client: Client, ops_user: User) -> None:
    # given
    unknown = uuid.uuid4()
    client.force_login(ops_user)
    # when
    response = _trace(client, unknown)
    # then
    assert response.status_code == 404
    assert response.json() == {"detail": f"nothing is recorded under correlation id {unknown}"}


@pytest.fixture
def lone_exception(db: None) -> OpsException:
    """The cheapest trace: one exception under its own correlation id."""
    return open_exception(
        type=ExceptionType.STUCK_ORDER,
        dedupe_key="stuck:1",
        title="Order 1 stuck",
        correlation_id=uuid.uuid4(),
    )


@pytest.mark.parametrize("persona", ["ops_user", "finance_requester", "admin_user"])
def test_trace_allowed_persona_gets_200(
    client: Client, request: pytest.FixtureRequest, persona: str, lone_exception: OpsException
) -> None:
    # given
    client.force_login(request.getfixturevalue(persona))
    # when
    response = _trace(client, lone_exception.correlation_id)
    # then
    assert response.status_code == 200
    (entry,) = response.json()["entries"]
    assert (entry["kind"], entry["title"]) == ("history", f"exception {lone_exception.pk} created")


@pytest.mark.parametrize("persona", ["exec_viewer", "outsider"])
def test_trace_forbidden_persona_is_403(
    client: Client, request: pytest.FixtureRequest, persona: str, lone_exception: OpsException
) -> None:
    # given
    client.force_login(request.getfixturevalue(persona))
    # when
    response = _trace(client, lone_exception.correlation_id)
    # then
    assert response.status_code == 403
    assert response.json() == {"detail": "You do not have permission to perform this action."}


def test_trace_anonymous_is_401(client: Client, lone_exception: OpsException) -> None:
    # given / when
    response = _trace(client, lone_exception.correlation_id)
    # then
    assert response.status_code == 401
    assert response.json() == {"detail": "Authentication credentials were not provided."}


def test_trace_query_count_is_pinned(
    client: Client,
    ops_user: User,
    journey: dict[str, Any],
    django_assert_max_num_queries: Any,
) -> None:
    # given
    client.force_login(ops_user)
    # when
    with django_assert_max_num_queries(13):  # + refunds: their events and history
        response = _trace(client, journey["order"].correlation_id)
    # then
    assert response.status_code == 200
