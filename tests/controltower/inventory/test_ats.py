"""Available-to-sell: the formula, who counts, reservations taken, released and consumed, and the
feeds' validation (what a bad figure is told, and that nothing of its message is applied)."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.utils import timezone

from controltower.core.context import acting_as
from controltower.core.writepath import service_scope
from controltower.exceptions.choices import ExceptionType
from controltower.exceptions.models import OpsException
from controltower.inventory import ats as ats_engine
from controltower.inventory.choices import PublicationState, ReservationStatus
from controltower.inventory.models import (
    Reservation,
    StockFreshnessRule,
    StockPosition,
    StockPublication,
)
from controltower.inventory.services import (
    StockFeedRefused,
    StockReport,
    check_freshness,
    record_stock_reports,
)
from controltower.orders.services import cancel_order
from tests.controltower.inventory.support import allocate, ats, pos_channel, report, sku, store
from tests.controltower.inventory.support import warehouse as make_warehouse
from tests.factories.integrations import web_channel
from tests.factories.lifecycle import CAP, TEE, web_order

pytestmark = pytest.mark.django_db


def test_ats_is_the_authoritative_count_less_reservations_and_safety_stock_times_allocation():
    web, shops = web_channel(), pos_channel()
    wh, shop = make_warehouse(), store()
    tee = sku(TEE)
    allocate(web, wh, 50, safety_stock=2)
    allocate(web, shop, 100, cap=3)
    allocate(shops, shop, 100)
    report("wms", tee, wh, 12)  # the warehouse's WMS counts it
    report("erp", tee, wh, 40)  # … the ERP's figure for a warehouse is not authoritative
    report("pos", tee, shop, 7)
    # web: floor((12 - 2) × 50 %) = 5 from the warehouse + min(cap 3, 7) from the store
    assert ats(tee, web) == 8
    assert ats(tee, shops) == 7


def test_a_location_whose_authoritative_system_never_counted_sells_nothing():
    web, wh, tee = web_channel(), make_warehouse(), sku(TEE)
    allocate(web, wh)
    report("erp", tee, wh, 40)
    assert ats(tee, web) == 0


def test_an_order_reserves_from_stock_and_lowers_ats_and_the_store_is_told(ops_user):
    ops = ops_user
    web, wh = web_channel(), make_warehouse()
    tee, cap = sku(TEE), sku(CAP)
    allocate(web, wh)
    report("wms", tee, wh, 5)
    report("wms", cap, wh, 5)
    order = web_order(1001, lines=[(TEE, 2, "10.00"), (CAP, 1, "5.00")])
    held = Reservation.objects.filter(order_line__order=order, status=ReservationStatus.OPEN)
    assert sorted((r.sku.code, r.quantity, r.location_id) for r in held) == [
        (CAP, 1, wh.pk),
        (TEE, 2, wh.pk),
    ]
    assert ats(tee, web) == 3
    publication = StockPublication.objects.get(sku=tee, channel=web)
    assert (publication.wanted, publication.state) == (3, PublicationState.PENDING)
    cancel_order(order, actor=ops, reason="customer changed their mind")
    assert ats(tee, web) == 5


def test_what_could_not_be_reserved_is_an_oversell_exception_with_the_quantity_short():
    web, wh, tee = web_channel(), make_warehouse(), sku(TEE)
    allocate(web, wh)
    report("wms", tee, wh, 1)
    order = web_order(1002, lines=[(TEE, 3, "10.00")])
    assert [r.quantity for r in Reservation.objects.filter(order_line__order=order)] == [1]
    oversell = OpsException.objects.get(type=ExceptionType.OVERSELL)
    assert oversell.title == f"{order}: {TEE} oversold by 2"
    assert "could sell 1 when it was accepted" in oversell.detail
    assert oversell.money_at_risk_amount == 20
    assert ats(tee, web) == 0


def test_a_channel_without_allocation_rules_is_not_stock_controlled():
    web_channel()
    sku(TEE)
    order = web_order(1003, lines=[(TEE, 3, "10.00")])
    assert [r.quantity for r in Reservation.objects.filter(order_line__order=order)] == [3]
    assert not OpsException.objects.filter(type=ExceptionType.OVERSELL).exists()


def test_a_shipped_reservation_keeps_counting_until_a_newer_count_shows_the_units_gone():
    web, wh, tee = web_channel(), make_warehouse(), sku(TEE)
    allocate(web, wh)
    report("wms", tee, wh, 5, as_of=timezone.now() - timedelta(minutes=1))
    order = web_order(1004, lines=[(TEE, 2, "10.00")])
    with service_scope():
        Reservation.objects.filter(order_line__order=order).update(
            status=ReservationStatus.CONSUMED, updated_at=timezone.now()
        )
    ats_engine.recompute([tee.pk])
    assert ats(tee, web) == 3  # consumed after the last count: still off the shelf
    report("wms", tee, wh, 3)  # the warehouse's next count shows them gone
    assert ats(tee, web) == 3


def test_a_feed_message_with_any_bad_line_is_refused_whole_naming_every_problem():
    wh, tee = make_warehouse(), sku(TEE)
    now = timezone.now()
    lines = [
        StockReport(sku=TEE, location=wh.code, on_hand=4, as_of=now),
        StockReport(sku=TEE, location=wh.code, on_hand=-3, as_of=now, reference="L2"),
        StockReport(sku="NOPE", location=wh.code, on_hand=1, as_of=now),
        StockReport(sku=TEE, location="nowhere", on_hand=1, as_of=now),
        StockReport(sku=TEE, location=wh.code, on_hand="7", as_of=now),
        StockReport(sku=TEE, location=wh.code, on_hand=1, as_of=now + timedelta(hours=1)),
        StockReport(sku=TEE, location=wh.code, on_hand=1, as_of=now - timedelta(hours=2)),
    ]
    with acting_as("sync.wms"), pytest.raises(StockFeedRefused) as refused:
        record_stock_reports("wms", lines, source="wms:test")
    problems = refused.value.problems
    assert problems[0] == f"line 2 (L2): {TEE!r} at {wh.code!r}: on-hand -3 is negative"
    assert problems[1] == f"line 3: 'NOPE' at {wh.code!r}: unknown SKU"
    assert problems[2] == f"line 4: {TEE!r} at 'nowhere': unknown location"
    assert problems[3] == f"line 5: {TEE!r} at {wh.code!r}: on-hand '7' is not a whole number"
    assert "is in the future" in problems[4]
    assert "stale: as of" in problems[5] and "the freshness SLA is 30 min" in problems[5]
    assert str(refused.value).startswith("stock feed refused, nothing applied: line 2 (L2)")
    assert not StockPosition.objects.filter(sku=tee).exists()


def test_an_older_figure_than_the_one_held_is_superseded_not_applied():
    wh, tee = make_warehouse(), sku(TEE)
    now = timezone.now()
    report("wms", tee, wh, 9, as_of=now)
    result = report("wms", tee, wh, 4, as_of=now - timedelta(minutes=2))
    assert (result.superseded, result.applied) == (1, 0)
    assert StockPosition.objects.get(sku=tee, location=wh).on_hand == 9


def test_a_silent_source_opens_a_freshness_exception_that_fresh_figures_close():
    wh, tee = make_warehouse(), sku(TEE)
    with service_scope():
        StockFreshnessRule.objects.create(reporting_system="wms", location=wh, max_age_minutes=10)
    report("wms", tee, wh, 9, as_of=timezone.now() - timedelta(minutes=8))
    with acting_as("system.inventory"):
        assert check_freshness(now=timezone.now() + timedelta(minutes=5))["stale"] == 1
    stale = OpsException.objects.open().get(type=ExceptionType.STOCK_STALE)
    assert stale.title == f"No stock from WMS for {wh.name} for 13 min"
    report("wms", tee, wh, 9)
    stale.refresh_from_db()
    assert stale.state == "resolved" and stale.resolution_reason == "fresh stock from wms:test"


def test_a_channel_reserves_its_share_of_a_location_and_no_more():
    web, wh, tee = web_channel(), make_warehouse(), sku(TEE)
    allocate(web, wh, 80, safety_stock=2)
    report("wms", tee, wh, 9)  # floor((9 − 2) × 80 %) = 5 for the web
    assert ats(tee, web) == 5
    for number in range(3001, 3007):  # a flash sale: six one-unit orders
        web_order(number, lines=[(TEE, 1, "10.00")])
    held = Reservation.objects.filter(sku=tee, status=ReservationStatus.OPEN)
    assert sum(r.quantity for r in held) == 5
    assert OpsException.objects.filter(type=ExceptionType.OVERSELL).count() == 1
    assert ats(tee, web) == 0


def test_drift_opens_with_each_systems_figure_and_closes_when_they_agree_again():
    from controltower.inventory.models import DriftTolerance

    wh, tee = make_warehouse(), sku(TEE)
    with service_scope():
        type(tee).objects.filter(pk=tee.pk).update(cost_amount=4)
        DriftTolerance.objects.create(location=None, units=1)  # one unit either way is fine
    report("wms", tee, wh, 10)
    report("erp", tee, wh, 11)
    assert not OpsException.objects.filter(type=ExceptionType.INVENTORY_DRIFT).exists()
    report("erp", tee, wh, 14)
    drift = OpsException.objects.open().get(type=ExceptionType.INVENTORY_DRIFT)
    assert drift.title == f"Stock drift: {TEE} at {wh.name} differs by 4"
    assert drift.detail == "ERP 14, WMS 10: a difference of 4 unit(s), 16.00 EUR at cost."
    assert drift.money_at_risk_amount == 16
    report("wms", tee, wh, 14)
    drift.refresh_from_db()
    assert (drift.state, drift.resolution_reason) == ("resolved", "the systems agree again")
