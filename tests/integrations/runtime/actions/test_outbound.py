"""People acting on outbound messages over the API: read the outbox, retry and replay (as it
was, or edited), and what a delivered retry or replay closes."""

from __future__ import annotations

import json
from typing import Any

import pytest
from django.contrib.auth.models import User
from django.test import Client
from django.utils import timezone
from rest_framework.authtoken.models import Token

from controltower.exceptions.choices import ExceptionType
from controltower.exceptions.models import OpsException
from controltower.orders.models import Order
from integrations.erp.adapter import SALES_ORDER_CREATE
from integrations.runtime import registry
from integrations.runtime.choices import OutboundStatus
from integrations.runtime.models import (
    Connection,
    DeliveryAttempt,
    MessageAction,
    OutboundMessage,
)
from integrations.runtime.outbox import (
    claim_outbound,
    deliver_outbound_message,
)
from tests.factories.integrations import erp_connection
from tests.integrations.runtime.actions.support import (
    OUTBOUND,
    REJECTED_422,
    _dead_message,
    _order_message,
    _post,
    _record,
)


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
