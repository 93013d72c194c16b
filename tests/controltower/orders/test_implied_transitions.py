"""A channel reports where an order is, not every step: later states imply the ones between."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from controltower.core.context import acting_as
from controltower.orders import transitions
from controltower.orders.choices import OrderEventType, OrderState
from controltower.orders.choices import OrderState as S
from controltower.orders.services import upsert_channel_order
from controltower.orders.transitions import path_to
from integrations.woocommerce.translate import translate_order
from tests.factories.integrations import web_channel
from tests.factories.woocommerce import woo_order

T0 = datetime(2026, 11, 22, 10, 0, tzinfo=UTC)


def test_path_to_walks_through_implied_states() -> None:
    # given / when / then
    assert path_to("pending_payment", "completed") == [OrderState.ACCEPTED, OrderState.COMPLETED]
    assert path_to("received", "completed") == [OrderState.ACCEPTED, OrderState.COMPLETED]
    assert path_to("accepted", "completed") == [OrderState.COMPLETED]
    assert path_to("cancelled", "accepted") is None
    assert path_to("completed", "completed") == []


@pytest.mark.parametrize(
    ("current", "target", "route"),
    [
        ("received", "shipped", [S.ACCEPTED, S.SHIPPED]),
        ("pending_payment", "refunded", [S.ACCEPTED, S.REFUNDED]),
        ("on_hold", "partially_shipped", [S.ACCEPTED, S.PARTIALLY_SHIPPED]),
        ("failed", "completed", [S.ACCEPTED, S.COMPLETED]),
        ("accepted", "failed", [S.ON_HOLD, S.FAILED]),
        ("registered", "accepted", [S.ON_HOLD, S.ACCEPTED]),
        # registration is a target, never a step on the way
        ("received", "registered", [S.ACCEPTED, S.REGISTERED]),
        ("registered", "completed", [S.COMPLETED]),
        # the ends lead nowhere
        ("cancelled", "accepted", None),
        ("refunded", "completed", None),
        ("completed", "cancelled", None),
        ("shipped", "accepted", None),
    ],
)
def test_path_to_concrete_routes(current: str, target: str, route: list[S] | None) -> None:
    # given / when
    found = path_to(current, target)
    # then
    assert found == route


@pytest.mark.parametrize(
    ("table", "current", "target"),
    [
        # the only way to "shipped" is through our own ERP registration
        ({S.ACCEPTED: {S.REGISTERED}, S.REGISTERED: {S.SHIPPED}}, "accepted", "shipped"),
        # the only way to "accepted" is through a failure
        ({S.RECEIVED: {S.FAILED}, S.FAILED: {S.ACCEPTED}}, "received", "accepted"),
        # or through an end
        ({S.ACCEPTED: {S.CANCELLED}, S.CANCELLED: {S.COMPLETED}}, "accepted", "completed"),
        ({S.SHIPPED: {S.REFUNDED}, S.REFUNDED: {S.COMPLETED}}, "shipped", "completed"),
    ],
    ids=["registered", "failed", "cancelled", "refunded"],
)
def test_path_to_never_implies_erp_registration_or_an_end(
    monkeypatch: pytest.MonkeyPatch, table: dict[S, set[S]], current: str, target: str
) -> None:
    # given: a table where the only route passes through a state that is never implied
    full = {state: frozenset(table.get(state, ())) for state in S}
    monkeypatch.setattr(transitions, "ALLOWED", full)
    # when
    found = path_to(current, target)
    # then: no route, although each step on it is a legal move
    assert found is None
    middle = next(iter(table[S(current)]))
    assert path_to(current, middle) == [middle]
    assert path_to(middle, target) == [S(target)]


@pytest.mark.django_db
def test_pending_order_reported_completed_passes_through_accepted() -> None:
    # given: an order we hold as pending payment
    channel = web_channel()
    with acting_as("sync.woocommerce"):
        first = translate_order(
            woo_order(1401, status="pending", modified=T0), source_system="woocommerce:woo-web"
        )
        order = upsert_channel_order(channel, first).order
        assert order.state == OrderState.PENDING_PAYMENT
        # when: the store's next word is that it is completed (the steps between were merged)
        later = translate_order(
            woo_order(1401, status="completed", modified=T0 + timedelta(minutes=5)),
            source_system="woocommerce:woo-web",
        )
        result = upsert_channel_order(channel, later)
    # then: it was accepted on the way (so it goes to the ERP), then completed
    order.refresh_from_db()
    assert order.state == OrderState.COMPLETED
    assert result.became_accepted is True
    changes = [
        (e.parameters["old"], e.parameters["new"], e.parameters["reason"])
        for e in order.events.filter(type=OrderEventType.STATE_CHANGED)
    ]
    assert changes[-2:] == [
        ("pending_payment", "accepted", "implied by channel status completed"),
        ("accepted", "completed", "channel status completed"),
    ]
    assert not order.events.filter(type=OrderEventType.TRANSITION_REFUSED).exists()
