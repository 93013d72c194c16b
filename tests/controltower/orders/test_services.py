"""Order services: channel upserts (idempotent, stale-safe, reserving stock) and transitions."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from controltower.catalog.models import Channel
from controltower.core.context import acting_as
from controltower.inventory.choices import ReservationStatus
from controltower.inventory.models import Reservation
from controltower.orders.choices import OrderEventType as E
from controltower.orders.choices import OrderState
from controltower.orders.models import Order
from controltower.orders.services import (
    OrderUpsert,
    UnmappedChannelStatus,
    transition_order,
    upsert_channel_order,
)
from controltower.orders.transitions import IllegalTransition
from integrations.woocommerce.translate import translate_order
from tests.factories.catalog import SKUFactory
from tests.factories.integrations import web_channel
from tests.factories.woocommerce import woo_order

SOURCE = "woocommerce:woo-web"
T0 = datetime(2026, 11, 22, 10, 0, tzinfo=UTC)
TEE, CAP = "NW-TEE-001-BLK-M", "NW-CAP-002-NAV-OS"


@pytest.fixture
def channel(db: None) -> Channel:
    SKUFactory(code=TEE)
    SKUFactory(code=CAP)
    return web_channel()


def _apply(channel: Channel, *, status: str = "processing", modified: datetime = T0) -> OrderUpsert:
    payload = woo_order(1001, status=status, modified=modified)
    payload["date_created_gmt"] = "2026-11-22T09:59:00"  # creation time never moves in a store
    data = translate_order(payload, source_system=SOURCE)
    with acting_as("sync.woocommerce"):
        return upsert_channel_order(channel, data)


def _event_types(order: Order) -> list[str]:
    return list(order.events.order_by("id").values_list("type", flat=True))


# --- create ------------------------------------------------------------------------------------
def test_upsert_channel_order_creates_order_lines_and_events(channel: Channel) -> None:
    # given
    assert not Order.objects.exists()
    # when
    result = _apply(channel)
    # then
    order = result.order
    assert (result.created, result.changed, result.became_accepted) == (True, True, True)
    assert order.state == OrderState.ACCEPTED
    assert order.channel_status == "processing"
    assert (order.source_system, order.external_id) == (SOURCE, "1001")
    assert order.source_updated_at == T0
    assert [(ln.sku_code, ln.quantity) for ln in order.lines.all()] == [(TEE, 2), (CAP, 1)]
    assert {ln.correlation_id for ln in order.lines.all()} == {order.correlation_id}
    assert _event_types(order) == [E.RECEIVED, E.STATE_CHANGED]
    changed = order.events.get(type=E.STATE_CHANGED)
    assert changed.parameters == {
        "old": "received",
        "new": "accepted",
        "reason": "channel status processing",
    }
    assert changed.actor.username == "sync.woocommerce"
    assert changed.correlation_id == order.correlation_id


def test_upsert_channel_order_history_names_actor_and_reason(channel: Channel) -> None:
    # given / when
    order = _apply(channel).order
    # then
    # one row: the order is born in the state its channel status implies, and says how
    (created,) = order.history.order_by("history_id")
    assert created.history_type == "+"
    assert created.state == "accepted"
    assert created.history_change_reason == (
        f"received from {SOURCE}; received → accepted: channel status processing"
    )
    assert created.history_user.username == "sync.woocommerce"
    line = order.lines.first().history.get()
    assert (line.history_user.username, line.history_change_reason) == (
        "sync.woocommerce",
        "received from channel",
    )


def test_upsert_channel_order_accepted_reserves_known_skus(channel: Channel) -> None:
    # given
    channel_order = woo_order(1001, lines=[(TEE, 2, "19.95"), ("UNKNOWN-SKU", 1, "5.00")])
    data = translate_order(channel_order, source_system=SOURCE)
    # when
    with acting_as("sync.woocommerce"):
        order = upsert_channel_order(channel, data).order
    # then
    reservation = Reservation.objects.get()
    assert reservation.order_line.order == order
    assert (reservation.sku.code, reservation.quantity) == (TEE, 2)
    assert reservation.status == ReservationStatus.OPEN
    assert reservation.correlation_id == order.correlation_id
    assert reservation.history.get().history_change_reason == "reserved on order acceptance"
    unknown = order.lines.get(sku_code="UNKNOWN-SKU")
    assert unknown.sku is None


def test_upsert_channel_order_not_accepted_takes_no_reservation(channel: Channel) -> None:
    # given / when
    result = _apply(channel, status="on-hold")
    # then
    assert result.order.state == OrderState.ON_HOLD
    assert result.became_accepted is False
    assert not Reservation.objects.exists()


# --- idempotence and staleness -----------------------------------------------------------------
def test_upsert_channel_order_same_data_twice_changes_nothing(channel: Channel) -> None:
    # given
    order = _apply(channel).order
    history, events = order.history.count(), order.events.count()
    updated_at = Order.objects.get().updated_at
    # when
    again = _apply(channel)
    # then
    assert again == OrderUpsert(order=again.order)
    assert again.order.pk == order.pk
    assert order.history.count() == history
    assert order.events.count() == events
    assert Order.objects.get().updated_at == updated_at
    assert Reservation.objects.count() == 2


def test_upsert_channel_order_older_update_is_refused_and_recorded(channel: Channel) -> None:
    # given
    order = _apply(channel).order
    history = order.history.count()
    # when
    result = _apply(channel, status="cancelled", modified=T0 - timedelta(minutes=5))
    # then
    assert result.stale is True
    assert result.changed is False
    order.refresh_from_db()
    assert order.state == OrderState.ACCEPTED
    assert order.source_updated_at == T0
    assert order.history.count() == history
    refused = order.events.order_by("id").last()
    assert refused.type == E.STALE_UPDATE_REFUSED
    assert refused.parameters == {
        "held": "2026-11-22T10:00:00+00:00",
        "offered": "2026-11-22T09:55:00+00:00",
    }
    assert refused.actor.username == "sync.woocommerce"
    assert Reservation.objects.filter(status=ReservationStatus.OPEN).count() == 2


def test_upsert_channel_order_newer_cancel_moves_and_releases(channel: Channel) -> None:
    # given
    order = _apply(channel).order
    # when
    result = _apply(channel, status="cancelled", modified=T0 + timedelta(minutes=5))
    # then
    assert (result.changed, result.stale, result.became_accepted) == (True, False, False)
    order.refresh_from_db()
    assert order.state == OrderState.CANCELLED
    assert order.channel_status == "cancelled"
    assert order.source_updated_at == T0 + timedelta(minutes=5)
    assert _event_types(order) == [E.RECEIVED, E.STATE_CHANGED, E.UPDATED, E.STATE_CHANGED]
    assert order.events.get(type=E.UPDATED).parameters == {"changed": ["channel_status"]}
    latest = order.history.order_by("-history_id").first()
    assert latest.history_change_reason == "accepted → cancelled: channel status cancelled"
    assert latest.history_user.username == "sync.woocommerce"
    statuses = set(Reservation.objects.values_list("status", flat=True))
    assert statuses == {ReservationStatus.RELEASED}
    released = Reservation.objects.first().history.order_by("-history_id").first()
    assert released.history_change_reason == "order cancelled"


def test_upsert_channel_order_unmapped_status_is_refused(channel: Channel) -> None:
    # given
    data = translate_order(woo_order(1001, status="checkout-draft"), source_system=SOURCE)
    # when
    with pytest.raises(UnmappedChannelStatus) as raised:
        upsert_channel_order(channel, data)
    # then
    assert str(raised.value) == "channel web has no mapping for status 'checkout-draft'"
    assert not Order.objects.exists()


def test_upsert_channel_order_illegal_channel_move_is_recorded_not_applied(
    channel: Channel,
) -> None:
    # given: cancelled is terminal
    order = _apply(channel, status="cancelled").order
    # when
    _apply(channel, status="processing", modified=T0 + timedelta(minutes=5))
    # then
    order.refresh_from_db()
    assert order.state == OrderState.CANCELLED
    refused = order.events.order_by("id").last()
    assert refused.type == E.TRANSITION_REFUSED
    assert refused.parameters["current"] == "cancelled"
    assert refused.parameters["target"] == "accepted"


# --- transition_order --------------------------------------------------------------------------
def test_transition_order_legal_move_changes_state_with_history(channel: Channel) -> None:
    # given
    order = _apply(channel).order
    # when
    with acting_as("system.reconciler"):
        moved = transition_order(order, OrderState.ON_HOLD, reason="payment review")
    # then
    assert moved.state == OrderState.ON_HOLD
    latest = order.history.order_by("-history_id").first()
    assert latest.history_change_reason == "accepted → on_hold: payment review"
    assert latest.history_user.username == "system.reconciler"
    event = order.events.order_by("id").last()
    assert (event.type, event.actor.username) == (E.STATE_CHANGED, "system.reconciler")


def test_transition_order_illegal_move_raises_and_changes_nothing(channel: Channel) -> None:
    # given
    order = _apply(channel, status="cancelled").order
    history = order.history.count()
    # when
    with pytest.raises(IllegalTransition) as raised, acting_as("system.reconciler"):
        transition_order(order, OrderState.ACCEPTED, reason="operator retry")
    # then
    assert str(raised.value) == "illegal order transition cancelled → accepted"
    order.refresh_from_db()
    assert order.state == OrderState.CANCELLED
    assert order.history.count() == history


def test_transition_order_illegal_move_is_recorded_as_event(channel: Channel) -> None:
    # given
    order = _apply(channel, status="cancelled").order
    # when: the exception is caught outside the service's own transaction
    with pytest.raises(IllegalTransition), acting_as("system.reconciler"):
        transition_order(order, OrderState.ACCEPTED, reason="operator retry")
    # then: STYLE rule 13 — "an illegal move raises IllegalTransition, is recorded as an event"
    refused = order.events.filter(type=E.TRANSITION_REFUSED)
    assert [e.parameters for e in refused] == [
        {"current": "cancelled", "target": "accepted", "reason": "operator retry"}
    ], "the TRANSITION_REFUSED event was rolled back together with the refused move"
    assert refused[0].actor.username == "system.reconciler"
