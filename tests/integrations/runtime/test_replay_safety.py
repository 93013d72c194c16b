"""A replay never creates a second one of what a delivered message created: the runtime refuses
(API, page, exception action) naming what was created, or sends the kind's declared update; and
an order's ERP reference changes only through a service that records why.

Delivery here is real HTTP against the ERP simulator (no worker: the test drains as one would)."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from django.contrib.auth.models import User
from django.test import Client
from django.urls import reverse
from django.utils import timezone

from controltower.core.context import acting_as
from controltower.exceptions.choices import ExceptionType
from controltower.exceptions.models import OpsException
from controltower.orders.choices import OrderEventType
from controltower.orders.models import Order
from controltower.orders.services import (
    ErpReferenceError,
    register_order_in_erp,
    repoint_erp_reference,
)
from integrations.erp.adapter import SALES_ORDER_CREATE
from integrations.runtime import actions, breaker, registry
from integrations.runtime.choices import OutboundStatus
from integrations.runtime.inbox import claim_inbound, process_inbound_event
from integrations.runtime.models import MessageAction, OutboundMessage
from integrations.runtime.outbox import claim_outbound, deliver_outbound_message
from tests.factories.catalog import SKUFactory
from tests.factories.integrations import ERP_TOKEN, erp_connection, woo_connection
from tests.factories.woocommerce import body_of, webhook_headers, woo_order

HOOK = "/hooks/woocommerce/woo-web/"
OUTBOUND = "/api/v1/outbound-messages/"
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
def _no_kicks(django_capture_on_commit_callbacks: Any) -> Iterator[None]:
    """Kicks stay in the test: the test drains the inbox and the outbox itself."""
    with django_capture_on_commit_callbacks(execute=False):
        yield


@pytest.fixture
def erp(db: None, erp_simulator: Any) -> Any:
    woo_connection()
    erp_connection(base_url=erp_simulator.url)
    SKUFactory(code="NW-TEE-001-BLK-M")
    SKUFactory(code="NW-CAP-002-NAV-OS")
    return erp_simulator


def _sales_orders(sim: Any) -> list[dict[str, Any]]:
    response = httpx.get(
        f"{sim.url}/api/v1/sales-orders", headers={"Authorization": f"Bearer {ERP_TOKEN}"}
    )
    return response.json()["results"]


def _receive(client: Client, number: int = 1001) -> Order:
    body = body_of(woo_order(number))
    response = client.post(
        HOOK, data=body, content_type="application/json", headers=webhook_headers(body)
    )
    assert response.status_code == 200, response.content
    for event_id in claim_inbound(10):
        process_inbound_event(event_id)
    return Order.objects.get(external_id=str(number))


def _deliver_all() -> dict[int, str]:
    """Deliver what is due, over real HTTP, as a drain would."""
    return {pk: deliver_outbound_message(pk) for pk in claim_outbound(10)}


def _delivered_order(client: Client, sim: Any, number: int = 1001) -> tuple[Order, OutboundMessage]:
    order = _receive(client, number)
    message = OutboundMessage.objects.get(correlation_id=order.correlation_id)
    assert _deliver_all() == {message.pk: OutboundStatus.DELIVERED}
    order.refresh_from_db()
    message.refresh_from_db()
    assert order.erp_reference == message.response["id"]
    assert len(_sales_orders(sim)) == 1
    return order, message


def _edited(message: OutboundMessage) -> dict[str, Any]:
    """What a person changed: the external ref (the ERP makes a new sales order for it)."""
    return {**message.payload, "external_ref": f"{message.payload['external_ref']}-fixed"}


def _refusal(message: OutboundMessage) -> str:
    reference = message.response["id"]
    return (
        f"Not sent again: ERP already holds sales order {reference}, created by message "
        f"{message.pk} ({timezone.localtime(message.delivered_at).strftime('%Y-%m-%d %H:%M:%S')}). "
        "ERP: create sales order is a create; sending it again would create a second sales "
        f"order. Change sales order {reference} in ERP itself."
    )


# --- the scenario the attack found -------------------------------------------------------------
@pytest.mark.django_db(transaction=True)
def test_replay_edited_of_delivered_sales_order_is_refused_and_erp_holds_one(
    client: Client, erp: Any, ops_user: User
) -> None:
    # given: an order whose sales order the ERP created (real HTTP)
    order, message = _delivered_order(client, erp)
    reference = order.erp_reference
    client.force_login(ops_user)
    # when: ops replay the create with an edited payload over the API, then drain the outbox
    response = client.post(
        f"{OUTBOUND}{message.pk}/replay/",
        {"reason": "customer name was wrong", "payload": _edited(message)},
        content_type="application/json",
    )
    drained = _deliver_all()
    # then: 409 naming the sales order it created; nothing queued, nothing sent, nothing moved
    assert response.status_code == 409
    assert response.json() == {"detail": _refusal(message)}
    assert drained == {}
    assert OutboundMessage.objects.count() == 1
    assert not MessageAction.objects.exists()
    assert [so["id"] for so in _sales_orders(erp)] == [reference]
    order.refresh_from_db()
    assert order.erp_reference == reference


@pytest.mark.django_db(transaction=True)
def test_replay_as_it_was_of_delivered_sales_order_is_refused_too(
    client: Client, erp: Any, ops_user: User
) -> None:
    # given
    _order, message = _delivered_order(client, erp)
    client.force_login(ops_user)
    # when
    response = client.post(
        f"{OUTBOUND}{message.pk}/replay/", {"reason": "again"}, content_type="application/json"
    )
    # then
    assert response.status_code == 409
    assert response.json() == {"detail": _refusal(message)}
    assert OutboundMessage.objects.count() == 1


@pytest.mark.django_db(transaction=True)
def test_message_page_shows_refusal_and_replay_post_answers_409_with_it(
    client: Client, erp: Any, ops_user: User
) -> None:
    # given
    _order, message = _delivered_order(client, erp)
    client.force_login(ops_user)
    # when
    page = client.get(reverse("integrations:message_detail", args=[message.pk]))
    posted = client.post(
        reverse("integrations:message_replay", args=[message.pk]),
        {"reason": "customer name was wrong", "payload": json.dumps(_edited(message))},
    )
    # then: the refusal is on the page before and after the attempt; nothing was queued
    text = _refusal(message)
    assert page.status_code == 200
    assert f'<p class="meta" id="replay-refusal">{text}</p>' in page.content.decode()
    assert posted.status_code == 409
    assert f'<div class="error" role="alert">{text}</div>' in posted.content.decode()
    assert OutboundMessage.objects.count() == 1


@pytest.mark.django_db(transaction=True)
def test_exception_actions_on_dead_create_whose_replay_delivered_are_refused(
    client: Client, erp: Any, ops_user: User
) -> None:
    # given: the first create dead-lettered (ERP 422), a replay of it delivered SO-…
    order = _receive(client)
    httpx.post(f"{erp.url}/_sim/faults", json={"fail_next": 1, "fail_status": 422})
    original = OutboundMessage.objects.get()
    assert _deliver_all() == {original.pk: OutboundStatus.DEAD}
    dead_letter = OpsException.objects.get(dedupe_key=f"outbound:{original.pk}")
    client.force_login(ops_user)
    replayed = client.post(
        f"/api/v1/exceptions/{dead_letter.pk}/replay/",
        {"reason": "ERP fixed"},
        content_type="application/json",
    )
    assert replayed.status_code == 202, replayed.content
    assert _deliver_all() == {replayed.json()["id"]: OutboundStatus.DELIVERED}
    delivered = OutboundMessage.objects.get(pk=replayed.json()["id"])
    # when: someone replays or retries the dead original again through its exception
    again = client.post(
        f"/api/v1/exceptions/{dead_letter.pk}/replay/",
        {"reason": "once more", "payload": _edited(original)},
        content_type="application/json",
    )
    retried = client.post(
        f"/api/v1/exceptions/{dead_letter.pk}/retry/",
        {"reason": "once more"},
        content_type="application/json",
    )
    # then: both refused, naming the sales order the replay created
    assert (again.status_code, retried.status_code) == (409, 409)
    assert again.json() == retried.json() == {"detail": _refusal(delivered)}
    assert len(_sales_orders(erp)) == 1
    order.refresh_from_db()
    assert order.erp_reference == delivered.response["id"]
    original.refresh_from_db()
    assert original.status == OutboundStatus.DEAD


@pytest.mark.django_db(transaction=True)
def test_replay_of_dead_create_while_its_replay_is_pending_is_refused(
    client: Client, erp: Any, ops_user: User
) -> None:
    # given: a dead create and a pending replay of it
    _receive(client)
    httpx.post(f"{erp.url}/_sim/faults", json={"fail_next": 1, "fail_status": 422})
    original = OutboundMessage.objects.get()
    assert _deliver_all() == {original.pk: OutboundStatus.DEAD}
    client.force_login(ops_user)
    first = client.post(
        f"{OUTBOUND}{original.pk}/replay/", {"reason": "first"}, content_type="application/json"
    )
    assert first.status_code == 202
    # when
    second = client.post(
        f"{OUTBOUND}{original.pk}/replay/",
        {"reason": "second", "payload": _edited(original)},
        content_type="application/json",
    )
    # then
    assert second.status_code == 409
    assert second.json() == {
        "detail": f"Not sent again: message {first.json()['id']} (ERP: create sales order) is "
        "still pending; a second create beside it could create a second sales order in ERP. "
        "Wait for it, or retry it if it is stuck."
    }
    assert OutboundMessage.objects.count() == 2


# --- a kind that declares its update -----------------------------------------------------------
TEST_CREATE = "test.thing.create"
TEST_UPDATE = "test.thing.update"


@pytest.fixture
def thing_kinds() -> Iterator[None]:
    def deliver(message: OutboundMessage) -> registry.DeliveryResult:
        return registry.DeliveryResult(ok=True, status_code=201, body={"ref": "T-1"})

    registry.deliverer(
        TEST_CREATE,
        label="Test: create thing",
        creates=registry.Creates(what="thing", reference_key="ref", update_kind=TEST_UPDATE),
    )(deliver)
    registry.deliverer(TEST_UPDATE, label="Test: update thing")(deliver)
    yield
    for kind in (TEST_CREATE, TEST_UPDATE):
        registry.DELIVERERS.pop(kind, None)
        registry.LABELS.pop(kind, None)
        registry.CREATES.pop(kind, None)


@pytest.mark.django_db
@pytest.mark.usefixtures("thing_kinds")
def test_replay_of_delivered_create_with_update_kind_is_sent_as_the_update(
    ops_user: User,
) -> None:
    # given: a delivered create of a kind that declares its update
    connection = erp_connection(base_url="http://127.0.0.1:9")
    created = OutboundMessage.objects.create(
        connection=connection,
        correlation_id="3f1c9a52-0000-4000-8000-000000000002",
        kind=TEST_CREATE,
        idempotency_key="test:thing:1",
        subject_type="test.thing",
        subject_id="1",
        payload={"name": "a"},
        status=OutboundStatus.DELIVERED,
        response={"ref": "T-1"},
    )
    # when
    with acting_as(ops_user):
        replay = actions.replay_outbound_message(created, reason="rename", payload={"name": "b"})
    # then: an update of what was created, never a second create
    assert (replay.kind, replay.idempotency_key) == (TEST_UPDATE, "test:thing:1:update:1")
    assert (replay.payload, replay.replay_of_id) == ({"name": "b"}, created.pk)
    assert actions.replay_offer(created) == (TEST_UPDATE, "")
    action = MessageAction.objects.get()
    assert (action.actor, action.reason, action.edited) == (ops_user, "rename", True)


# --- the receiving side: an order's ERP reference ----------------------------------------------
@pytest.mark.django_db(transaction=True)
def test_register_order_in_erp_refuses_a_second_reference_and_opens_an_exception(
    client: Client, erp: Any
) -> None:
    # given: an order registered as SO-…
    order, _message = _delivered_order(client, erp)
    held = order.erp_reference
    history = order.history.count()
    # when: an answer names another sales order
    with acting_as("sync.erp"):
        register_order_in_erp(order, erp_reference="SO-999999", connection="erp-main")
    # then: the reference is unchanged, the refusal recorded, a person asked to decide
    order.refresh_from_db()
    assert order.erp_reference == held
    assert order.history.count() == history
    event = order.events.get(type=OrderEventType.ERP_REFERENCE_REFUSED)
    assert event.parameters == {"held": held, "offered": "SO-999999", "connection": "erp-main"}
    exception = OpsException.objects.open().get(
        dedupe_key=f"order:{order.pk}:erp-reference-conflict"
    )
    assert exception.type == ExceptionType.STUCK_ORDER
    assert exception.title == f"Order {order} has a second ERP sales order SO-999999 (holds {held})"
    assert exception.detail.startswith(
        f"The ERP (erp-main) answered with sales order SO-999999 for order {order.number}, "
        f"which is registered as {held}. The reference was not changed."
    )


@pytest.mark.django_db(transaction=True)
def test_repoint_erp_reference_records_who_and_why_and_closes_the_conflict(
    client: Client, erp: Any, ops_user: User
) -> None:
    # given: a refused second reference
    order, _message = _delivered_order(client, erp)
    held = order.erp_reference
    with acting_as("sync.erp"):
        register_order_in_erp(order, erp_reference="SO-999999", connection="erp-main")
    # when
    repoint_erp_reference(
        order, reference="SO-999999", reason="SO-1 cancelled in the ERP", actor=ops_user
    )
    # then
    order.refresh_from_db()
    assert order.erp_reference == "SO-999999"
    latest = order.history.latest("history_date")
    assert (latest.history_user, latest.history_change_reason) == (
        ops_user,
        f"ERP reference {held} → SO-999999: SO-1 cancelled in the ERP",
    )
    event = order.events.get(type=OrderEventType.ERP_REFERENCE_REPOINTED)
    assert event.parameters == {
        "old": held,
        "new": "SO-999999",
        "reason": "SO-1 cancelled in the ERP",
    }
    assert event.actor == ops_user
    assert (
        not OpsException.objects.open()
        .filter(dedupe_key=f"order:{order.pk}:erp-reference-conflict")
        .exists()
    )


@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize(
    ("reference", "reason", "error"),
    [
        ("SO-2", " ", "a reason is required to change an ERP reference"),
        ("", "typo", "the new ERP reference is empty"),
    ],
    ids=["no-reason", "no-reference"],
)
def test_repoint_erp_reference_without_reason_or_reference_changes_nothing(
    client: Client, erp: Any, ops_user: User, reference: str, reason: str, error: str
) -> None:
    # given
    order, _message = _delivered_order(client, erp)
    held = order.erp_reference
    # when
    with pytest.raises(ErpReferenceError) as raised:
        repoint_erp_reference(order, reference=reference, reason=reason, actor=ops_user)
    # then
    assert str(raised.value) == error
    order.refresh_from_db()
    assert order.erp_reference == held
