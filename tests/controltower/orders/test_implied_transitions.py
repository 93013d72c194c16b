"""A channel reports where an order is, not every step: later states imply the ones between."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from controltower.core.context import acting_as
from controltower.orders.choices import OrderEventType, OrderState
from controltower.orders.services import upsert_channel_order
from controltower.orders.transitions import ALLOWED, path_to
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


def test_path_to_never_implies_erp_registration_or_an_end() -> None:
    # given / when
    routes = [path_to(a, b) for a in ALLOWED for b in ALLOWED]
    # then
    for route in filter(None, routes):
        for step in route[:-1]:
            assert step not in {"registered", "cancelled", "failed", "refunded"}, route


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
