"""Retry and replay through a dead-letter exception; who may act on messages; the record of
who did what and why."""

from __future__ import annotations

import json

import pytest
from django.contrib.auth.models import User
from django.test import Client

from controltower.exceptions.choices import ExceptionState, ExceptionType
from controltower.exceptions.models import OpsException
from controltower.exceptions.services import open_exception
from controltower.orders.models import Order
from integrations.runtime.choices import OutboundStatus
from integrations.runtime.models import (
    InboundEvent,
    MessageAction,
    OutboundMessage,
)
from tests.factories.woocommerce import woo_order
from tests.integrations.runtime.actions.support import (
    ACTIONS,
    ANONYMOUS,
    FORBIDDEN,
    INBOUND,
    OUTBOUND,
    REJECTED_422,
    _dead_message,
    _drain,
    _failed_event,
    _post,
    _record,
)


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
