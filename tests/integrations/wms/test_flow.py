"""End to end on real processes: an order made release-ready by the domain is released by a
Celery worker to the WMS simulator over HTTP; the simulator picks, packs and ships it in two
parcels and reports each step with signed webhooks to our web tier; the order ends shipped with
two shipments carrying the warehouse's tracking numbers."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from controltower.fulfilment.models import Shipment
from controltower.orders.choices import FulfilmentStatus, OrderStage
from controltower.orders.models import Order
from integrations.runtime.choices import InboundStatus
from integrations.runtime.models import InboundEvent
from tests.conftest import wait_for
from tests.integrations.wms.conftest import (
    HOOK,
    WMS_SECRET,
    WMS_TOKEN,
    make_order,
    make_release_ready,
    wms_connection,
)

pytestmark = [pytest.mark.slow, pytest.mark.django_db(transaction=True)]

SPLIT = {
    "auto_progress": True,
    "split_shipments": True,
    "pick_after_s": 0.3,
    "pack_after_s": 0.3,
    "ship_after_s": 0.3,
    "split_gap_s": 1.0,
}


@pytest.fixture
def warehouse() -> Iterator[Any]:
    """The simulator moving releases along by itself, splitting them into two parcels."""
    from integrations.wms.simulator import WmsSimulator

    sim = WmsSimulator(token=WMS_TOKEN, config=SPLIT, seed=11, webhook_retry_base_s=0.2)
    sim.serve_in_thread()
    try:
        yield sim
    finally:
        sim.shutdown()


def test_order_is_released_picked_and_shipped_in_two_parcels(
    celery_worker, web_server, warehouse
) -> None:
    # given: the warehouse connection, and the warehouse sending its events to our web tier
    wms_connection(base_url=warehouse.url)
    warehouse.webhooks.add_endpoint(f"{web_server.url}{HOOK}", WMS_SECRET)
    # when: the gateway captured and the ERP registered the order
    order = make_release_ready(make_order())

    # then
    def shipped() -> bool:
        """the order is shipped"""
        return Order.objects.filter(
            pk=order.pk, fulfilment_status=FulfilmentStatus.SHIPPED
        ).exists()

    wait_for(shipped, timeout=60)

    def all_applied() -> bool:
        """every warehouse event reached us and was applied"""
        sent = {e["id"] for e in warehouse.webhooks.events()}
        done = set(
            InboundEvent.objects.filter(status=InboundStatus.PROCESSED).values_list(
                "delivery_id", flat=True
            )
        )
        return bool(sent) and sent <= done and warehouse.webhooks.pending() == 0

    wait_for(all_applied, timeout=30)
    order.refresh_from_db()
    assert order.stage == OrderStage.SHIPPED
    assert order.wms_reference == "REL-000001"
    parcels = {s["id"]: s for s in warehouse.shipments()}
    assert len(parcels) == 2
    shipments = list(Shipment.objects.filter(order=order).order_by("external_id"))
    assert [s.external_id for s in shipments] == sorted(parcels)
    for shipment in shipments:
        parcel = parcels[shipment.external_id]
        assert shipment.tracking_number == parcel["tracking_number"] != ""
        assert shipment.carrier == parcel["carrier"]
        assert shipment.release_reference == "REL-000001"
    assert {(line.line_number, line.quantity_shipped) for line in order.lines.all()} == {
        (1, 2),
        (2, 1),
    }
    types = [e["type"] for e in warehouse.webhooks.events()]
    assert types.count("shipment.shipped") == 2
    assert {"release.picking", "release.packed", "release.shipped"} <= set(types)
    assert all(d["ok"] for d in warehouse.webhooks.deliveries())
