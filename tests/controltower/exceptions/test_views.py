"""The work queue in the browser: who may see it, and acting on an exception or its message."""

from __future__ import annotations

import json
from decimal import Decimal

import pytest
from django.test import Client

from controltower.exceptions.choices import ExceptionType
from controltower.exceptions.models import OpsException
from controltower.exceptions.services import open_exception
from integrations.runtime.models import MessageAction, OutboundMessage
from tests.conftest import PERSONAS
from tests.factories.integrations import erp_connection


@pytest.fixture
def dead_message(db: None) -> OutboundMessage:
    connection = erp_connection(base_url="http://127.0.0.1:9")
    message = OutboundMessage.objects.create(
        connection=connection,
        correlation_id="1b4e28ba-2fa1-11d2-883f-0016d3cca427",
        kind="erp.sales_order.create",
        idempotency_key="erp:erp-main:sales-order:x",
        payload={"external_ref": "web-1", "total": "12.0000", "customer": {"name": "Anna"}},
        status="dead",
        attempts=8,
        last_error="HTTP 422",
    )
    open_exception(
        type=ExceptionType.DEAD_LETTER,
        dedupe_key=f"outbound:{message.pk}",
        title="ERP: create sales order to ERP dead-lettered",
        detail="after 8 attempt(s): HTTP 422",
        money_at_risk=Decimal("12"),
        correlation_id=message.correlation_id,
        subject_type="integrations.outboundmessage",
        subject_id=str(message.pk),
    )
    return message


ALLOWED = {"ops_user": 200, "finance_requester": 200, "admin_user": 200}


@pytest.mark.parametrize("persona", PERSONAS)
def test_exception_pages_by_role(request, client: Client, persona: str, dead_message) -> None:
    # given
    user = request.getfixturevalue(persona)
    exception = OpsException.objects.get()
    client.force_login(user)
    # when
    pages = [
        client.get("/exceptions/"),
        client.get(f"/exceptions/{exception.pk}/"),
        client.get(f"/integrations/messages/{dead_message.pk}/"),
    ]
    # then
    expected = ALLOWED.get(persona, 403)
    assert [p.status_code for p in pages] == [expected] * 3


@pytest.mark.django_db
def test_exception_pages_send_anonymous_to_login(client: Client) -> None:
    # when
    response = client.get("/exceptions/")
    # then
    assert response.status_code == 302
    assert response["Location"].startswith("/accounts/login/")


def test_exception_list_shows_the_open_work(client: Client, ops_user, dead_message) -> None:
    # given
    client.force_login(ops_user)
    # when
    page = client.get("/exceptions/").content.decode()
    # then
    assert "ERP: create sales order to ERP dead-lettered" in page
    assert "12.00 EUR" in page
    assert f'id="exception-{OpsException.objects.get().pk}"' in page


def test_exception_list_bad_filter_is_400_with_the_error(client: Client, ops_user) -> None:
    # given
    client.force_login(ops_user)
    # when
    response = client.get("/exceptions/?state=bogus")
    # then
    assert response.status_code == 400
    assert "Select a valid choice" in response.content.decode()


def test_resolve_needs_a_reason(client: Client, ops_user, dead_message) -> None:
    # given
    exception = OpsException.objects.get()
    client.force_login(ops_user)
    # when
    response = client.post(f"/exceptions/{exception.pk}/resolve/", {"reason": ""})
    # then
    assert response.status_code == 400
    assert "A reason is required." in response.content.decode()
    exception.refresh_from_db()
    assert exception.state == "open"


def test_resolve_with_a_reason_is_recorded_with_the_person(
    client: Client, ops_user, dead_message
) -> None:
    # given
    exception = OpsException.objects.get()
    client.force_login(ops_user)
    # when
    response = client.post(
        f"/exceptions/{exception.pk}/resolve/", {"reason": "re-keyed in the ERP by hand"}
    )
    # then
    assert response.status_code == 302
    exception.refresh_from_db()
    assert (exception.state, exception.resolution_reason) == (
        "resolved",
        "re-keyed in the ERP by hand",
    )
    record = exception.history.first()
    assert record.history_user == ops_user
    page = client.get(response["Location"]).content.decode()
    assert "Exception resolved." in page


def test_finance_may_look_but_not_act(client: Client, finance_requester, dead_message) -> None:
    # given
    exception = OpsException.objects.get()
    client.force_login(finance_requester)
    # when
    resolve = client.post(f"/exceptions/{exception.pk}/resolve/", {"reason": "x"})
    replay = client.post(f"/integrations/messages/{dead_message.pk}/replay/", {"reason": "x"})
    # then
    assert (resolve.status_code, replay.status_code) == (403, 403)


def test_replay_from_the_page_with_an_edited_payload(
    client: Client, ops_user, dead_message
) -> None:
    # given
    client.force_login(ops_user)
    edited = {**dead_message.payload, "customer": {"name": "Anna de Vries"}}
    # when
    response = client.post(
        f"/integrations/messages/{dead_message.pk}/replay/",
        {"reason": "name per ticket 7", "payload": json.dumps(edited)},
    )
    # then
    assert response.status_code == 302
    replay = OutboundMessage.objects.get(replay_of=dead_message)
    assert response["Location"] == f"/integrations/messages/{replay.pk}/"
    assert replay.payload["customer"]["name"] == "Anna de Vries"
    action = MessageAction.objects.get()
    assert (action.actor, action.edited, action.reason) == (ops_user, True, "name per ticket 7")
    page = client.get(f"/integrations/messages/{dead_message.pk}/").content.decode()
    assert "name per ticket 7" in page and "Anna de Vries" in page


def test_replay_unchanged_payload_counts_as_replay_as_it_was(
    client: Client, ops_user, dead_message
) -> None:
    # given
    client.force_login(ops_user)
    # when
    client.post(
        f"/integrations/messages/{dead_message.pk}/replay/",
        {"reason": "ERP fixed", "payload": json.dumps(dead_message.payload, indent=2)},
    )
    # then
    assert MessageAction.objects.get().edited is False


def test_replay_with_invalid_json_is_400_and_changes_nothing(
    client: Client, ops_user, dead_message
) -> None:
    # given
    client.force_login(ops_user)
    # when
    response = client.post(
        f"/integrations/messages/{dead_message.pk}/replay/",
        {"reason": "try", "payload": '{"external_ref": '},
    )
    # then
    assert response.status_code == 400
    assert "The payload is not valid JSON" in response.content.decode()
    assert OutboundMessage.objects.count() == 1
    assert not MessageAction.objects.exists()


def test_retry_from_the_page_queues_it_again(client: Client, ops_user, dead_message) -> None:
    # given
    client.force_login(ops_user)
    # when
    response = client.post(
        f"/integrations/messages/{dead_message.pk}/retry/", {"reason": "ERP is back"}
    )
    # then
    assert response.status_code == 302
    dead_message.refresh_from_db()
    assert dead_message.status == "pending"
    assert MessageAction.objects.get().action == "retry"


def test_replay_a_failed_inbound_event_from_its_page(client: Client, ops_user) -> None:
    # given: a webhook that failed translation (quantity 0)
    from integrations.runtime.models import InboundEvent
    from tests.factories.integrations import woo_connection
    from tests.factories.woocommerce import woo_order

    connection = woo_connection()
    body = woo_order(1501)
    body["line_items"][0]["quantity"] = 0
    event = InboundEvent.objects.create(
        connection=connection,
        topic="order.created",
        resource="order",
        resource_id="1501",
        dedupe_key="k-1501",
        body=json.dumps(body),
        status="failed",
        error="line_items[0].quantity: must be a positive integer",
    )
    client.force_login(ops_user)
    page = client.get(f"/integrations/events/{event.pk}/").content.decode()
    assert "must be a positive integer" in page
    # when: ops fix the quantity and replay it
    body["line_items"][0]["quantity"] = 1
    response = client.post(
        f"/integrations/events/{event.pk}/replay/",
        {"reason": "customer ordered one", "payload": json.dumps(body)},
    )
    # then: a new event goes through the inbox, the edit is on record
    assert response.status_code == 302
    replay = InboundEvent.objects.get(replay_of=event)
    assert (replay.status, json.loads(replay.body)["line_items"][0]["quantity"]) == ("pending", 1)
    action = MessageAction.objects.get()
    assert (action.direction, action.edited, action.actor) == ("inbound", True, ops_user)
    assert (
        '"quantity": 0,' in action.payload_diff and '+      "quantity": 1,' in action.payload_diff
    )
