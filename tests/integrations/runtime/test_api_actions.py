"""People acting on integration messages over the API: read the outbox and inbox, retry and
replay (as it was, or edited), through the message or through its dead-letter exception."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from django.contrib.auth.models import User
from django.test import Client
from django.utils import timezone
from rest_framework.authtoken.models import Token

from controltower.core.context import acting_as
from controltower.exceptions.choices import ExceptionState, ExceptionType
from controltower.exceptions.models import OpsException
from controltower.exceptions.services import open_exception
from controltower.orders.models import Order
from integrations.erp.adapter import SALES_ORDER_CREATE
from integrations.runtime import breaker, registry
from integrations.runtime.choices import InboundStatus, OutboundStatus
from integrations.runtime.http import result_from_response
from integrations.runtime.inbox import claim_inbound, process_inbound_event
from integrations.runtime.models import (
    Connection,
    DeliveryAttempt,
    InboundEvent,
    MessageAction,
    OutboundMessage,
)
from integrations.runtime.outbox import (
    Attempt,
    _record_delivery,
    claim_outbound,
    deliver_outbound_message,
)
from tests.factories.catalog import SKUFactory
from tests.factories.integrations import erp_connection, woo_connection
from tests.factories.woocommerce import body_of, webhook_headers, woo_order

HOOK = "/hooks/woocommerce/woo-web/"
OUTBOUND = "/api/v1/outbound-messages/"
INBOUND = "/api/v1/inbound-events/"
ACTIONS = "/api/v1/message-actions/"
ENDPOINT = f"erp-main:{SALES_ORDER_CREATE}"
FORBIDDEN = {"detail": "You do not have permission to perform this action."}
ANONYMOUS = {"detail": "Authentication credentials were not provided."}
# What the ERP answered; whether that is retried is for the runtime's HTTP table to decide.
REJECTED_422 = result_from_response(
    httpx.Response(422, json={"error": "unknown sku NW-TEE-001-BLK-M"})
)


@pytest.fixture(autouse=True)
def _fast_password_hashing(settings: Any) -> None:
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]


@pytest.fixture(autouse=True)
def _closed_breaker() -> Iterator[None]:
    breaker.reset(ENDPOINT)
    yield
    breaker.reset(ENDPOINT)


@pytest.fixture
def connections(db: None) -> None:
    woo_connection()
    erp_connection(base_url="http://127.0.0.1:9")
    SKUFactory(code="NW-TEE-001-BLK-M")
    SKUFactory(code="NW-CAP-002-NAV-OS")


@pytest.fixture(autouse=True)
def no_commit_callbacks(django_capture_on_commit_callbacks: Any) -> Iterator[list[Any]]:
    """Keep kicks from leaving the test (no worker, no Redis traffic)."""
    with django_capture_on_commit_callbacks(execute=False) as callbacks:
        yield callbacks


def _webhook(client: Client, payload: dict[str, Any] | bytes) -> Any:
    body = payload if isinstance(payload, bytes) else body_of(payload)
    return client.post(
        HOOK, data=body, content_type="application/json", headers=webhook_headers(body)
    )


def _drain() -> dict[int, str]:
    return {event_id: process_inbound_event(event_id) for event_id in claim_inbound(10)}


def _order_message(client: Client, order_id: int = 1001) -> OutboundMessage:
    """A webhook received and processed: its order's ERP sales-order message, pending."""
    assert _webhook(client, woo_order(order_id)).status_code == 200
    _drain()
    order = Order.objects.get(external_id=str(order_id))
    return OutboundMessage.objects.get(correlation_id=order.correlation_id)


def _record(message: OutboundMessage, result: registry.DeliveryResult) -> OutboundMessage:
    """Claim the message as a worker would, and record the outcome of one delivery."""
    assert message.pk in claim_outbound(10)
    message.refresh_from_db()
    with acting_as("sync.erp"):
        policy = registry.policy_for(message.kind)
        _record_delivery(Attempt(message, result, timezone.now(), 12, "", policy))
    message.refresh_from_db()
    return message


def _dead_message(client: Client, order_id: int = 1001) -> OutboundMessage:
    """The ERP refused the sales order for good (HTTP 422): dead-lettered after one attempt."""
    message = _record(_order_message(client, order_id), REJECTED_422)
    assert message.status == OutboundStatus.DEAD
    return message


def _post(client: Client, url: str, data: dict[str, Any], **extra: Any) -> Any:
    return client.post(url, data, content_type="application/json", **extra)


def _failed_event(client: Client) -> InboundEvent:
    """A poison order (a line with quantity 0) dead-lettered by the inbox."""
    poison = woo_order(1002, lines=[("NW-TEE-001-BLK-M", 0, "19.95")])
    assert _webhook(client, poison).status_code == 200
    _drain()
    event = InboundEvent.objects.get(resource_id="1002")
    assert event.status == InboundStatus.FAILED
    return event


# --- reading the outbox --------------------------------------------------------------------------
@pytest.mark.usefixtures("connections")
def test_outbound_messages_detail_shows_each_attempt_of_a_real_delivery(
    client: Client, ops_user: User
) -> None:
    # given: one real delivery to a port where nothing listens, and no attempts left
    message = _order_message(client)
    OutboundMessage.objects.filter(pk=message.pk).update(max_attempts=1)
    assert claim_outbound(10) == [message.pk]
    assert deliver_outbound_message(message.pk) == OutboundStatus.DEAD
    client.force_login(ops_user)
    # when
    response = client.get(f"{OUTBOUND}{message.pk}/")
    # then
    assert response.status_code == 200
    body = response.json()
    assert (body["status"], body["attempts"], body["max_attempts"]) == ("dead", 1, 1)
    assert body["connection"] == "erp-main"
    assert body["kind"] == SALES_ORDER_CREATE
    assert body["last_error"].startswith("ConnectError")
    assert body["last_status_code"] is None
    (attempt,) = body["attempt_log"]
    assert attempt["number"] == 1
    assert attempt["status_code"] is None
    assert attempt["error"] == body["last_error"]
    assert OpsException.objects.get(dedupe_key=f"outbound:{message.pk}").state == "open"


@pytest.mark.usefixtures("connections")
def test_outbound_messages_list_shows_statuses_and_attempt_logs(
    client: Client, ops_user: User
) -> None:
    # given
    dead = _dead_message(client, 1001)
    pending = _order_message(client, 1002)
    client.force_login(ops_user)
    # when
    response = client.get(OUTBOUND)
    # then
    assert response.status_code == 200
    body = response.json()
    assert body["count"] == 2
    rows = {row["id"]: row for row in body["results"]}
    assert (rows[dead.pk]["status"], rows[pending.pk]["status"]) == ("dead", "pending")
    assert rows[pending.pk]["attempt_log"] == []
    assert rows[dead.pk]["last_status_code"] == 422
    assert rows[dead.pk]["last_error"] == "HTTP 422"
    assert [
        (a["number"], a["status_code"], a["error"], json.loads(a["response_body"]))
        for a in rows[dead.pk]["attempt_log"]
    ] == [(1, 422, "HTTP 422", {"error": "unknown sku NW-TEE-001-BLK-M"})]
    assert rows[dead.pk]["attempt_log"][0]["duration_ms"] == 12


@pytest.fixture
def three_messages(db: None) -> dict[str, OutboundMessage]:
    """a: erp-main dead, b: erp-main pending, c: erp-backup delivered; a and c share a
    correlation id."""
    main = erp_connection(base_url="http://127.0.0.1:9")
    backup = erp_connection(base_url="http://127.0.0.1:9", slug="erp-backup")
    shared = "3f1c9a52-0000-4000-8000-000000000001"

    def make(name: str, connection: Connection, status: str, correlation: str) -> OutboundMessage:
        return OutboundMessage.objects.create(
            connection=connection,
            correlation_id=correlation,
            kind=SALES_ORDER_CREATE,
            idempotency_key=f"test:{name}",
            payload={"name": name},
            status=status,
        )

    return {
        "a": make("a", main, OutboundStatus.DEAD, shared),
        "b": make("b", main, OutboundStatus.PENDING, "3f1c9a52-0000-4000-8000-000000000002"),
        "c": make("c", backup, OutboundStatus.DELIVERED, shared),
    }


@pytest.mark.parametrize(
    ("query", "expected"),
    [
        ({"status": "dead"}, {"a"}),
        ({"status": ["pending", "delivered"]}, {"b", "c"}),
        ({"connection": "erp-backup"}, {"c"}),
        ({"correlation_id": "3f1c9a52-0000-4000-8000-000000000001"}, {"a", "c"}),
        ({"connection": "erp-main", "status": "pending"}, {"b"}),
    ],
    ids=["status", "two-statuses", "connection", "correlation-id", "connection+status"],
)
def test_outbound_messages_filter_narrows_results(
    client: Client,
    ops_user: User,
    three_messages: dict[str, OutboundMessage],
    query: dict[str, Any],
    expected: set[str],
) -> None:
    # given
    client.force_login(ops_user)
    by_pk = {message.pk: name for name, message in three_messages.items()}
    # when
    response = client.get(OUTBOUND, query)
    # then
    assert response.status_code == 200
    assert {by_pk[row["id"]] for row in response.json()["results"]} == expected


def test_outbound_messages_invalid_status_filter_is_400(
    client: Client, ops_user: User, three_messages: dict[str, OutboundMessage]
) -> None:
    # given
    client.force_login(ops_user)
    # when
    response = client.get(OUTBOUND, {"status": "lost"})
    # then
    assert response.status_code == 400
    assert response.json() == {
        "status": ["Select a valid choice. lost is not one of the available choices."]
    }


# --- retry an outbound message -------------------------------------------------------------------
@pytest.mark.usefixtures("connections")
def test_outbound_retry_of_dead_message_requeues_it_with_fresh_attempts(
    client: Client, ops_user: User
) -> None:
    # given
    message = _dead_message(client)
    client.force_login(ops_user)
    before = timezone.now()
    # when
    response = _post(client, f"{OUTBOUND}{message.pk}/retry/", {"reason": " ERP SKU added "})
    # then
    assert response.status_code == 202, response.content
    assert response.json()["status"] == "pending"
    message.refresh_from_db()
    fresh = registry.policy_for(message.kind).max_attempts
    assert (message.status, message.attempts, message.max_attempts) == ("pending", 1, 1 + fresh)
    assert message.next_attempt_at >= before
    action = MessageAction.objects.get()
    assert (action.action, action.direction) == ("retry", "outbound")
    assert (action.original_id, action.result_id) == (message.pk, message.pk)
    assert (action.actor, action.reason) == (ops_user, "ERP SKU added")
    assert (action.edited, action.payload_diff) == (False, "")
    assert action.correlation_id == message.correlation_id
    assert claim_outbound(10) == [message.pk]


@pytest.mark.usefixtures("connections")
def test_outbound_retry_by_token_names_the_person(client: Client, ops_user: User) -> None:
    # given: an API client authenticating with a token (no session)
    message = _dead_message(client)
    token = Token.objects.create(user=ops_user)
    # when
    response = _post(
        client,
        f"{OUTBOUND}{message.pk}/retry/",
        {"reason": "ERP SKU added"},
        headers={"Authorization": f"Token {token.key}"},
    )
    # then
    assert response.status_code == 202, response.content
    action = MessageAction.objects.get()
    assert action.actor == ops_user
    assert action.history.get().history_user == ops_user


@pytest.mark.usefixtures("connections")
@pytest.mark.parametrize("status", [OutboundStatus.DELIVERED, OutboundStatus.IN_FLIGHT])
def test_outbound_retry_of_delivered_or_in_flight_message_is_409(
    client: Client, ops_user: User, status: str
) -> None:
    # given
    message = _order_message(client)
    OutboundMessage.objects.filter(pk=message.pk).update(status=status)
    client.force_login(ops_user)
    # when
    response = _post(client, f"{OUTBOUND}{message.pk}/retry/", {"reason": "again"})
    # then
    assert response.status_code == 409
    assert response.json() == {"detail": f"message {message.pk} is {status}; nothing to retry"}
    message.refresh_from_db()
    assert message.status == status
    assert not MessageAction.objects.exists()


@pytest.mark.usefixtures("connections")
@pytest.mark.parametrize(
    ("data", "message"),
    [
        ({}, "This field is required."),
        ({"reason": ""}, "This field may not be blank."),
        ({"reason": "  "}, "This field may not be blank."),
    ],
    ids=["missing", "empty", "whitespace"],
)
@pytest.mark.parametrize("action", ["retry", "replay"])
def test_outbound_action_without_reason_is_400_naming_reason(
    client: Client, ops_user: User, action: str, data: dict[str, str], message: str
) -> None:
    # given
    dead = _dead_message(client)
    client.force_login(ops_user)
    # when
    response = _post(client, f"{OUTBOUND}{dead.pk}/{action}/", data)
    # then
    assert response.status_code == 400
    assert response.json() == {"reason": [message]}
    dead.refresh_from_db()
    assert dead.status == OutboundStatus.DEAD
    assert OutboundMessage.objects.count() == 1
    assert not MessageAction.objects.exists()


# --- replay an outbound message ------------------------------------------------------------------
@pytest.mark.usefixtures("connections")
def test_outbound_replay_without_payload_sends_a_new_message_as_it_was(
    client: Client, ops_user: User
) -> None:
    # given
    original = _dead_message(client)
    client.force_login(ops_user)
    # when
    response = _post(client, f"{OUTBOUND}{original.pk}/replay/", {"reason": "ERP was fixed"})
    # then
    assert response.status_code == 202, response.content
    body = response.json()
    replay = OutboundMessage.objects.get(pk=body["id"])
    assert replay.pk != original.pk
    assert replay.idempotency_key == f"{original.idempotency_key}:replay:1"
    assert body["idempotency_key"] == replay.idempotency_key
    assert (body["replay_of"], replay.replay_of_id) == (original.pk, original.pk)
    assert (replay.status, replay.attempts) == (OutboundStatus.PENDING, 0)
    assert replay.payload == original.payload
    assert (replay.correlation_id, replay.subject_id) == (
        original.correlation_id,
        original.subject_id,
    )
    action = MessageAction.objects.get()
    assert (action.action, action.direction, action.edited) == ("replay", "outbound", False)
    assert (action.original_id, action.result_id) == (original.pk, replay.pk)
    assert (action.actor, action.reason, action.payload_diff) == (ops_user, "ERP was fixed", "")
    original.refresh_from_db()
    assert original.status == OutboundStatus.DEAD


@pytest.mark.usefixtures("connections")
def test_outbound_replay_twice_numbers_the_idempotency_keys(client: Client, ops_user: User) -> None:
    # given
    original = _dead_message(client)
    client.force_login(ops_user)
    first = _post(client, f"{OUTBOUND}{original.pk}/replay/", {"reason": "first"}).json()
    # (a second create is queued only once the first replay is dead: never two on their way)
    _record(OutboundMessage.objects.get(pk=first["id"]), REJECTED_422)
    # when
    response = _post(client, f"{OUTBOUND}{original.pk}/replay/", {"reason": "second"})
    # then
    assert response.status_code == 202, response.content
    assert response.json()["idempotency_key"] == f"{original.idempotency_key}:replay:2"
    assert original.replays.count() == 2


@pytest.mark.usefixtures("connections")
def test_outbound_replay_with_edited_payload_stores_it_and_the_diff(
    client: Client, ops_user: User
) -> None:
    # given
    original = _dead_message(client)
    edited = json.loads(json.dumps(original.payload))
    edited["customer"]["email"] = "anna.devries@example.com"
    client.force_login(ops_user)
    # when
    response = _post(
        client,
        f"{OUTBOUND}{original.pk}/replay/",
        {"reason": "customer email corrected", "payload": edited},
    )
    # then
    assert response.status_code == 202, response.content
    replay = OutboundMessage.objects.get(pk=response.json()["id"])
    assert replay.payload == edited
    assert response.json()["payload"]["customer"]["email"] == "anna.devries@example.com"
    original.refresh_from_db()
    assert original.payload["customer"]["email"] == "anna@example.com"
    action = MessageAction.objects.get()
    assert action.edited is True
    assert action.reason == "customer email corrected"
    diff = action.payload_diff
    assert diff.startswith("--- original\n+++ replayed\n@@ ")
    assert '-    "email": "anna@example.com",\n' in diff
    assert '+    "email": "anna.devries@example.com",\n' in diff
    changed = [
        line
        for line in diff.splitlines()
        if line[:1] in "+-" and not line.startswith(("---", "+++"))
    ]
    assert len(changed) == 2


@pytest.mark.usefixtures("connections")
@pytest.mark.parametrize("payload", [[1, 2], "text", 5], ids=["list", "string", "number"])
def test_outbound_replay_with_non_object_payload_is_400(
    client: Client, ops_user: User, payload: Any
) -> None:
    # given
    original = _dead_message(client)
    client.force_login(ops_user)
    # when
    response = _post(
        client, f"{OUTBOUND}{original.pk}/replay/", {"reason": "edited", "payload": payload}
    )
    # then
    assert response.status_code == 400
    assert response.json() == {"payload": ["payload must be a JSON object"]}
    assert OutboundMessage.objects.count() == 1
    assert not MessageAction.objects.exists()


# --- inbound: retry and replay -------------------------------------------------------------------
@pytest.mark.usefixtures("connections")
def test_inbound_replay_of_poison_event_with_corrected_body_creates_order_and_closes_exception(
    client: Client, ops_user: User
) -> None:
    # given
    event = _failed_event(client)
    dead_letter = OpsException.objects.get(dedupe_key=f"inbound:{event.pk}")
    assert dead_letter.state == ExceptionState.OPEN
    corrected = woo_order(1002, lines=[("NW-TEE-001-BLK-M", 1, "19.95")])
    client.force_login(ops_user)
    # when
    response = _post(
        client,
        f"{INBOUND}{event.pk}/replay/",
        {"reason": "quantity was 0 in the shop", "payload": corrected},
    )
    outcome = _drain()
    # then
    assert response.status_code == 202, response.content
    replay = InboundEvent.objects.get(pk=response.json()["id"])
    assert response.json()["replay_of"] == event.pk
    assert outcome == {replay.pk: InboundStatus.PROCESSED}
    order = Order.objects.get(external_id="1002")
    assert order.lines.get().quantity == 1
    replay.refresh_from_db()
    assert replay.correlation_id == order.correlation_id
    dead_letter.refresh_from_db()
    assert dead_letter.state == ExceptionState.RESOLVED
    assert dead_letter.resolution_reason == f"replay {replay.pk} processed"
    assert dead_letter.closed_at is not None
    event.refresh_from_db()
    assert event.status == InboundStatus.FAILED
    action = MessageAction.objects.get()
    assert (action.action, action.direction, action.edited) == ("replay", "inbound", True)
    assert (action.original_id, action.result_id, action.actor) == (event.pk, replay.pk, ops_user)
    assert '-      "quantity": 0,\n' in action.payload_diff
    assert '+      "quantity": 1,\n' in action.payload_diff


@pytest.mark.usefixtures("connections")
def test_inbound_retry_of_failed_event_puts_it_back_in_the_inbox(
    client: Client, ops_user: User
) -> None:
    # given
    event = _failed_event(client)
    client.force_login(ops_user)
    # when
    response = _post(client, f"{INBOUND}{event.pk}/retry/", {"reason": "handler fixed"})
    # then
    assert response.status_code == 202, response.content
    assert (response.json()["status"], response.json()["attempts"]) == ("pending", 0)
    event.refresh_from_db()
    assert (event.status, event.attempts) == (InboundStatus.PENDING, 0)
    action = MessageAction.objects.get()
    assert (action.action, action.direction, action.original_id) == ("retry", "inbound", event.pk)
    assert claim_inbound(10) == [event.pk]


@pytest.mark.usefixtures("connections")
def test_inbound_retry_of_rejected_event_is_409_saying_replay_it_edited(
    client: Client, ops_user: User
) -> None:
    # given: a signed but malformed body, rejected at the door
    assert _webhook(client, b'{"id": 1001, "status": ').status_code == 400
    event = InboundEvent.objects.get()
    assert event.status == InboundStatus.REJECTED
    client.force_login(ops_user)
    # when
    response = _post(client, f"{INBOUND}{event.pk}/retry/", {"reason": "try again"})
    # then
    assert response.status_code == 409
    assert response.json() == {
        "detail": "a rejected event cannot be retried as it is; replay it edited"
    }
    event.refresh_from_db()
    assert event.status == InboundStatus.REJECTED
    assert not MessageAction.objects.exists()


@pytest.mark.usefixtures("connections")
def test_inbound_replay_of_rejected_event_once_processed_closes_its_exception(
    client: Client, ops_user: User
) -> None:
    # given: a signed but malformed body, rejected at the door with an exception
    assert _webhook(client, b'{"id": 1001, "status": ').status_code == 400
    event = InboundEvent.objects.get()
    rejected = OpsException.objects.get(type=ExceptionType.REJECTED_INBOUND)
    client.force_login(ops_user)
    # when: ops replay it edited, as the retry refusal tells them to, and it is processed
    response = _post(
        client,
        f"{INBOUND}{event.pk}/replay/",
        {"reason": "store sent a truncated body", "payload": woo_order(1001)},
    )
    outcome = _drain()
    # then
    assert response.status_code == 202, response.content
    assert list(outcome.values()) == [InboundStatus.PROCESSED]
    assert Order.objects.get().external_id == "1001"
    rejected.refresh_from_db()
    assert rejected.state == ExceptionState.RESOLVED


@pytest.mark.usefixtures("connections")
def test_exception_replay_of_rejected_inbound_replays_the_rejected_event(
    client: Client, ops_user: User
) -> None:
    # given
    assert _webhook(client, b'{"id": 1001, "status": ').status_code == 400
    event = InboundEvent.objects.get()
    rejected = OpsException.objects.get(type=ExceptionType.REJECTED_INBOUND)
    client.force_login(ops_user)
    # when
    response = _post(
        client,
        f"/api/v1/exceptions/{rejected.pk}/replay/",
        {"reason": "store sent a truncated body", "payload": woo_order(1001)},
    )
    # then
    assert response.status_code == 202, response.json()
    assert response.json()["replay_of"] == event.pk


@pytest.mark.usefixtures("connections")
def test_inbound_replay_of_a_failed_replay_processed_closes_every_dead_letter_of_the_chain(
    client: Client, ops_user: User
) -> None:
    # given: the original failed, its replay (still wrong) failed too
    event = _failed_event(client)
    client.force_login(ops_user)
    still_wrong = woo_order(1002, lines=[("NW-TEE-001-BLK-M", -1, "19.95")])
    _post(client, f"{INBOUND}{event.pk}/replay/", {"reason": "try", "payload": still_wrong})
    (second,) = _drain()
    second_dead = OpsException.objects.get(dedupe_key=f"inbound:{second}")
    corrected = woo_order(1002, lines=[("NW-TEE-001-BLK-M", 1, "19.95")])
    # when: ops replay the second one, from its exception, corrected
    _post(
        client,
        f"/api/v1/exceptions/{second_dead.pk}/replay/",
        {"reason": "fixed", "payload": corrected},
    )
    _drain()
    # then: the order exists, so no dead letter of it is left in the queue
    assert Order.objects.get().external_id == "1002"
    assert list(OpsException.objects.order_by("pk").values_list("dedupe_key", "state")) == [
        (f"inbound:{event.pk}", "resolved"),
        (f"inbound:{second}", "resolved"),
    ]


@pytest.mark.usefixtures("connections")
def test_inbound_retry_of_processed_event_is_409(client: Client, ops_user: User) -> None:
    # given
    _order_message(client)
    event = InboundEvent.objects.get()
    client.force_login(ops_user)
    # when
    response = _post(client, f"{INBOUND}{event.pk}/retry/", {"reason": "again"})
    # then
    assert response.status_code == 409
    assert response.json() == {"detail": f"event {event.pk} is processed; nothing to retry"}


# --- through the dead-letter exception -----------------------------------------------------------
@pytest.mark.usefixtures("connections")
def test_exception_retry_retries_the_dead_outbound_message(client: Client, ops_user: User) -> None:
    # given
    message = _dead_message(client)
    dead_letter = OpsException.objects.get(dedupe_key=f"outbound:{message.pk}")
    client.force_login(ops_user)
    # when
    response = _post(client, f"/api/v1/exceptions/{dead_letter.pk}/retry/", {"reason": "fixed"})
    # then
    assert response.status_code == 202, response.content
    assert (response.json()["id"], response.json()["status"]) == (message.pk, "pending")
    message.refresh_from_db()
    assert message.status == OutboundStatus.PENDING
    action = MessageAction.objects.get()
    assert (action.action, action.original_id, action.actor) == ("retry", message.pk, ops_user)


@pytest.mark.usefixtures("connections")
def test_exception_replay_replays_the_dead_outbound_message(client: Client, ops_user: User) -> None:
    # given
    message = _dead_message(client)
    dead_letter = OpsException.objects.get(dedupe_key=f"outbound:{message.pk}")
    client.force_login(ops_user)
    # when
    response = _post(
        client, f"/api/v1/exceptions/{dead_letter.pk}/replay/", {"reason": "send it again"}
    )
    # then
    assert response.status_code == 202, response.content
    replay = OutboundMessage.objects.get(pk=response.json()["id"])
    assert replay.replay_of_id == message.pk
    assert replay.idempotency_key == f"{message.idempotency_key}:replay:1"
    assert MessageAction.objects.get().result_id == replay.pk


@pytest.mark.usefixtures("connections")
def test_exception_replay_feeds_the_failed_inbound_event_edited(
    client: Client, ops_user: User
) -> None:
    # given
    event = _failed_event(client)
    dead_letter = OpsException.objects.get(dedupe_key=f"inbound:{event.pk}")
    corrected = woo_order(1002, lines=[("NW-TEE-001-BLK-M", 3, "19.95")])
    client.force_login(ops_user)
    # when
    response = _post(
        client,
        f"/api/v1/exceptions/{dead_letter.pk}/replay/",
        {"reason": "quantity fixed", "payload": corrected},
    )
    _drain()
    # then
    assert response.status_code == 202, response.content
    assert response.json()["replay_of"] == event.pk
    assert json.loads(response.json()["body"]) == corrected
    assert Order.objects.get(external_id="1002").lines.get().quantity == 3
    dead_letter.refresh_from_db()
    assert dead_letter.state == ExceptionState.RESOLVED


@pytest.mark.parametrize("action", ["retry", "replay"])
def test_exception_action_on_exception_not_about_a_message_is_409(
    client: Client, ops_user: User, action: str
) -> None:
    # given
    stuck = open_exception(
        type=ExceptionType.STUCK_ORDER,
        dedupe_key="stuck:7",
        title="Order 7 stuck in accepted",
        subject_type="orders.order",
        subject_id="7",
    )
    client.force_login(ops_user)
    # when
    response = _post(client, f"/api/v1/exceptions/{stuck.pk}/{action}/", {"reason": "go"})
    # then
    assert response.status_code == 409
    assert response.json() == {
        "detail": f"exception {stuck.pk} is not about an integration message"
    }
    assert not MessageAction.objects.exists()


@pytest.mark.django_db
@pytest.mark.parametrize("action", ["retry", "replay"])
def test_exception_action_on_unknown_exception_is_404(
    client: Client, ops_user: User, action: str
) -> None:
    # given
    client.force_login(ops_user)
    # when
    response = _post(client, f"/api/v1/exceptions/999999/{action}/", {"reason": "go"})
    # then
    assert response.status_code == 404
    assert response.json() == {"detail": "No OpsException matches the given query."}


# --- who may act ---------------------------------------------------------------------------------
def _action_url(target: str, dead: OutboundMessage) -> str:
    if target.startswith("exception-"):
        exception = OpsException.objects.get(dedupe_key=f"outbound:{dead.pk}")
        return f"/api/v1/exceptions/{exception.pk}/{target.removeprefix('exception-')}/"
    return f"{OUTBOUND}{dead.pk}/{target}/"


TARGETS = ["retry", "replay", "exception-retry", "exception-replay"]


@pytest.mark.usefixtures("connections")
@pytest.mark.parametrize("target", TARGETS)
@pytest.mark.parametrize("persona", ["ops_user", "admin_user"])
def test_message_action_allowed_for_ops_and_admin(
    client: Client, request: pytest.FixtureRequest, persona: str, target: str
) -> None:
    # given
    user = request.getfixturevalue(persona)
    dead = _dead_message(client)
    client.force_login(user)
    # when
    response = _post(client, _action_url(target, dead), {"reason": "go"})
    # then
    assert response.status_code == 202, response.content
    action = MessageAction.objects.get()
    assert (action.action, action.actor) == (target.removeprefix("exception-"), user)


@pytest.mark.usefixtures("connections")
@pytest.mark.parametrize("target", TARGETS)
@pytest.mark.parametrize("persona", ["finance_requester", "exec_viewer", "outsider"])
def test_message_action_forbidden_persona_is_403(
    client: Client, request: pytest.FixtureRequest, persona: str, target: str
) -> None:
    # given
    dead = _dead_message(client)
    client.force_login(request.getfixturevalue(persona))
    # when
    response = _post(client, _action_url(target, dead), {"reason": "go"})
    # then
    assert response.status_code == 403
    assert response.json() == FORBIDDEN
    dead.refresh_from_db()
    assert dead.status == OutboundStatus.DEAD
    assert OutboundMessage.objects.count() == 1
    assert not MessageAction.objects.exists()


@pytest.mark.usefixtures("connections")
@pytest.mark.parametrize("target", TARGETS)
def test_message_action_anonymous_is_401(client: Client, target: str) -> None:
    # given
    dead = _dead_message(client)
    # when
    response = _post(client, _action_url(target, dead), {"reason": "go"})
    # then
    assert response.status_code == 401
    assert response.json() == ANONYMOUS
    assert not MessageAction.objects.exists()


@pytest.mark.usefixtures("connections")
@pytest.mark.parametrize("action", ["retry", "replay"])
def test_inbound_action_forbidden_for_finance_is_403(
    client: Client, finance_requester: User, action: str
) -> None:
    # given
    event = _failed_event(client)
    client.force_login(finance_requester)
    # when
    response = _post(client, f"{INBOUND}{event.pk}/{action}/", {"reason": "go"})
    # then
    assert response.status_code == 403
    assert response.json() == FORBIDDEN
    assert InboundEvent.objects.count() == 1


# --- the record of actions -----------------------------------------------------------------------
@pytest.mark.usefixtures("connections")
def test_message_actions_list_shows_who_did_what_and_why(client: Client, ops_user: User) -> None:
    # given
    dead = _dead_message(client)
    client.force_login(ops_user)
    _post(client, f"{OUTBOUND}{dead.pk}/retry/", {"reason": "first try again"})
    OutboundMessage.objects.filter(pk=dead.pk).update(status=OutboundStatus.DEAD)
    edited = {**dead.payload, "total": "1.0000"}
    _post(client, f"{OUTBOUND}{dead.pk}/replay/", {"reason": "total fixed", "payload": edited})
    replay = OutboundMessage.objects.get(replay_of=dead)
    # when
    response = client.get(ACTIONS)
    # then
    assert response.status_code == 200
    rows = response.json()["results"]
    assert [
        (r["action"], r["direction"], r["original_id"], r["result_id"], r["reason"]) for r in rows
    ] == [
        ("replay", "outbound", dead.pk, replay.pk, "total fixed"),
        ("retry", "outbound", dead.pk, dead.pk, "first try again"),
    ]
    assert {r["actor"] for r in rows} == {"olivia.ops"}
    assert [r["edited"] for r in rows] == [True, False]
    assert '+  "total": "1.0000"' in rows[0]["payload_diff"]
    assert rows[0]["correlation_id"] == str(dead.correlation_id)


@pytest.mark.usefixtures("connections")
def test_message_actions_filter_by_action(client: Client, ops_user: User) -> None:
    # given
    dead = _dead_message(client)
    client.force_login(ops_user)
    replay = _post(client, f"{OUTBOUND}{dead.pk}/replay/", {"reason": "again"}).json()
    _record(OutboundMessage.objects.get(pk=replay["id"]), REJECTED_422)  # the replay died too
    assert _post(client, f"{OUTBOUND}{dead.pk}/retry/", {"reason": "again"}).status_code == 202
    # when
    response = client.get(ACTIONS, {"action": "retry"})
    # then
    assert response.status_code == 200
    assert [r["action"] for r in response.json()["results"]] == ["retry"]


@pytest.mark.django_db
def test_message_actions_forbidden_for_finance_is_403(
    client: Client, finance_requester: User
) -> None:
    # given
    client.force_login(finance_requester)
    # when
    response = client.get(ACTIONS)
    # then
    assert response.status_code == 403
    assert response.json() == FORBIDDEN


@pytest.mark.usefixtures("connections")
def test_outbound_retry_then_delivery_closes_the_dead_letter(
    client: Client, ops_user: User
) -> None:
    # given
    message = _dead_message(client)
    client.force_login(ops_user)
    _post(client, f"{OUTBOUND}{message.pk}/retry/", {"reason": "ERP SKU added"})
    # when
    message = _record(
        message, registry.DeliveryResult(ok=True, status_code=201, body={"id": "SO-1"})
    )
    # then
    assert message.status == OutboundStatus.DELIVERED
    assert DeliveryAttempt.objects.filter(message=message).count() == 2
    dead_letter = OpsException.objects.get(dedupe_key=f"outbound:{message.pk}")
    assert (dead_letter.state, dead_letter.resolution_reason) == ("resolved", "delivered")
    assert Order.objects.get().erp_reference == "SO-1"


@pytest.mark.usefixtures("connections")
def test_outbound_replay_of_a_dead_replay_delivered_closes_every_dead_letter_of_the_chain(
    client: Client, ops_user: User
) -> None:
    # given: the original died, its replay died too, and the replay's replay is delivered
    first = _dead_message(client)
    client.force_login(ops_user)
    response = _post(client, f"{OUTBOUND}{first.pk}/replay/", {"reason": "try once more"})
    second = _record(OutboundMessage.objects.get(pk=response.json()["id"]), REJECTED_422)
    assert second.status == OutboundStatus.DEAD
    second_dead = OpsException.objects.get(dedupe_key=f"outbound:{second.pk}")
    response = _post(client, f"/api/v1/exceptions/{second_dead.pk}/replay/", {"reason": "fixed"})
    third = OutboundMessage.objects.get(pk=response.json()["id"])
    # when
    _record(third, registry.DeliveryResult(ok=True, status_code=201, body={"id": "SO-1"}))
    # then: the sales order exists in the ERP, so no dead letter of it is left in the queue
    assert Order.objects.get().erp_reference == "SO-1"
    assert list(
        OpsException.objects.filter(type=ExceptionType.DEAD_LETTER)
        .order_by("pk")
        .values_list("dedupe_key", "state")
    ) == [(f"outbound:{first.pk}", "resolved"), (f"outbound:{second.pk}", "resolved")]
