"""Cancel as an action on the order page: ops (and admins) cancel with a reason, the domain's
compensations follow, refusals say why and change nothing; other roles are forbidden."""

from __future__ import annotations

import pytest
from django.contrib.auth.models import User
from django.test import Client

from controltower.orders.choices import OrderEventType, OrderState
from controltower.orders.models import Order
from tests.factories import lifecycle

HTMX = {"HX-Request": "true"}


@pytest.fixture
def order(db: None) -> Order:
    return lifecycle.web_order()


def _cancel(client: Client, order: Order, reason: str = "customer called", **kw: object):
    return client.post(f"/orders/{order.pk}/cancel/", {"reason": reason}, **kw)  # type: ignore[arg-type]


def test_cancel_action_by_ops_cancels_and_records_actor_and_reason(
    client: Client, ops_user: User, order: Order
) -> None:
    # given: a paid order (so cancelling asks the gateway for a refund)
    lifecycle.pay(order, intent="pi_1")
    client.force_login(ops_user)
    # when
    response = _cancel(client, order, follow=True)
    # then: back on the order page, told so, and the order is cancelled
    assert response.redirect_chain == [(f"/orders/{order.pk}/", 302)]
    html = response.content.decode()
    assert f"Order {order.number} cancelled." in html
    order.refresh_from_db()
    assert order.state == OrderState.CANCELLED
    # and history and the timeline name the person and the reason
    record = order.history.latest("history_date")
    assert record.history_user == ops_user
    assert "cancelled here: customer called" in record.history_change_reason
    event = order.events.get(type=OrderEventType.STATE_CHANGED, parameters__new="cancelled")
    assert event.actor == ops_user
    assert event.parameters["reason"] == "cancelled here: customer called"
    # and the compensation the domain asked for shows on the page's timeline
    refund = order.events.get(type=OrderEventType.PAYMENT_REQUESTED)
    assert refund.parameters["asked"] == [f"refund {order.total_amount:.2f} of pi_1"]
    assert "Gateway action requested" in html
    assert 'id="order-cancel"' not in html  # nothing left to cancel


def test_cancel_action_by_admin_is_allowed(client: Client, admin_user: User, order: Order) -> None:
    # given
    client.force_login(admin_user)
    # when
    response = _cancel(client, order)
    # then
    assert (response.status_code, response["Location"]) == (302, f"/orders/{order.pk}/")
    order.refresh_from_db()
    assert order.state == OrderState.CANCELLED


def test_cancel_action_without_a_reason_is_400_and_changes_nothing(
    client: Client, ops_user: User, order: Order
) -> None:
    # given
    client.force_login(ops_user)
    # when
    response = _cancel(client, order, reason="   ")
    # then
    assert response.status_code == 400
    assert "A reason is required to cancel an order." in response.content.decode()
    order.refresh_from_db()
    assert order.state == OrderState.ACCEPTED


def test_cancel_action_twice_says_it_is_already_cancelled(
    client: Client, ops_user: User, order: Order
) -> None:
    # given
    client.force_login(ops_user)
    _cancel(client, order)
    events = order.events.count()
    # when: the page's form again, and an htmx caller
    page = _cancel(client, order, reason="again", follow=True)
    htmx = _cancel(client, order, reason="again", headers=HTMX)
    # then
    assert "Order 1001 is already cancelled." in page.content.decode()
    assert (htmx.status_code, htmx.content.decode()) == (409, "Order 1001 is already cancelled.")
    assert order.events.count() == events


def test_cancel_action_on_a_completed_order_is_refused_with_409(
    client: Client, ops_user: User, db: None
) -> None:
    # given: an order the store already completed
    order = lifecycle.web_order(1002, status="completed")
    client.force_login(ops_user)
    # when
    response = _cancel(client, order, headers=HTMX)
    # then: the refusal says why; the domain recorded it; nothing changed
    assert response.status_code == 409
    assert response.content.decode() == (
        "Order 1002 cannot be cancelled: it is completed. Nothing was changed."
    )
    order.refresh_from_db()
    assert order.state == OrderState.COMPLETED
    assert order.events.filter(type=OrderEventType.TRANSITION_REFUSED).exists()


def test_cancel_action_refusal_from_the_page_is_a_flash(
    client: Client, ops_user: User, db: None
) -> None:
    # given
    order = lifecycle.web_order(1002, status="completed")
    client.force_login(ops_user)
    # when
    response = _cancel(client, order, follow=True)
    # then
    assert response.status_code == 200
    assert "Order 1002 cannot be cancelled: it is completed." in response.content.decode()


@pytest.mark.parametrize("persona", ["finance_requester", "exec_viewer", "outsider"])
def test_cancel_action_forbidden_personas_get_403(
    client: Client, request: pytest.FixtureRequest, order: Order, persona: str
) -> None:
    # given
    client.force_login(request.getfixturevalue(persona))
    # when
    response = _cancel(client, order)
    # then
    assert response.status_code == 403
    order.refresh_from_db()
    assert order.state == OrderState.ACCEPTED


def test_cancel_action_anonymous_is_sent_to_log_in(client: Client, order: Order) -> None:
    # when
    response = _cancel(client, order)
    # then
    assert (response.status_code, response["Location"]) == (
        302,
        f"/accounts/login/?next=/orders/{order.pk}/cancel/",
    )


def test_cancel_action_by_get_is_not_allowed(client: Client, ops_user: User, order: Order) -> None:
    # given
    client.force_login(ops_user)
    # when
    response = client.get(f"/orders/{order.pk}/cancel/")
    # then
    assert response.status_code == 405


def test_order_page_offers_the_cancel_form_only_to_who_may_cancel(
    client: Client, ops_user: User, finance_requester: User, order: Order
) -> None:
    # given / when
    client.force_login(ops_user)
    as_ops = client.get(f"/orders/{order.pk}/").content.decode()
    client.force_login(finance_requester)
    as_finance = client.get(f"/orders/{order.pk}/").content.decode()
    # then
    assert f'action="/orders/{order.pk}/cancel/"' in as_ops
    assert 'id="order-cancel"' not in as_finance
