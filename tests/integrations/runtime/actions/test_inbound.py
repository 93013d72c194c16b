"""People acting on inbound events over the API: retry, and replay with a corrected body, and
the dead letters a processed replay closes."""

from __future__ import annotations

import pytest
from django.contrib.auth.models import User
from django.test import Client

from controltower.exceptions.choices import ExceptionState, ExceptionType
from controltower.exceptions.models import OpsException
from controltower.orders.models import Order
from integrations.runtime.choices import InboundStatus
from integrations.runtime.inbox import claim_inbound
from integrations.runtime.models import (
    InboundEvent,
    MessageAction,
)
from tests.factories.woocommerce import woo_order
from tests.integrations.runtime.actions.support import (
    INBOUND,
    _drain,
    _failed_event,
    _order_message,
    _post,
    _webhook,
)


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
