"""The warehouse's stock feed: snapshots and adjustments from the WMS simulator over real HTTP,
through our receive endpoint and the inbox, into the inventory domain (positions, ATS, drift);
duplicate and out-of-order deliveries; and hostile or impossible figures, refused whole with
the exact text a person reads on the dead letter, nothing applied."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest
from django.test import Client
from django.utils import timezone

from controltower.catalog.choices import LocationType
from controltower.catalog.models import SKU, Channel
from controltower.core.context import acting_as
from controltower.core.writepath import service_scope
from controltower.exceptions.choices import ExceptionType
from controltower.exceptions.models import OpsException
from controltower.inventory.models import AvailableToSell, ChannelAllocationRule, StockPosition
from controltower.inventory.services import StockReport, record_stock_reports
from integrations.runtime import inbox
from integrations.runtime.choices import InboundStatus
from integrations.runtime.inbox import claim_inbound, process_inbound_event
from integrations.runtime.models import InboundEvent
from integrations.simkit import iso_utc
from integrations.wms.adapter import handle_inbound_batch
from integrations.wms.stock import STOCK_NAMESPACE
from tests.conftest import wait_for
from tests.factories.catalog import LocationFactory, SKUFactory
from tests.factories.integrations import web_channel
from tests.integrations.wms.conftest import (
    HOOK,
    MANUAL,
    SLUG,
    WMS_SECRET,
    WMS_TOKEN,
    envelope,
    post_event,
    wms_connection,
)

TEE, CAP, WH = "TEE-1", "CAP-1", "wh-1"


@pytest.fixture
def estate() -> dict[str, Any]:
    """A warehouse the web channel sells from, two SKUs, and the WMS connection."""
    warehouse = LocationFactory(code=WH, name="Amsterdam DC", type=LocationType.WAREHOUSE)
    tee, cap = SKUFactory(code=TEE), SKUFactory(code=CAP)
    web = web_channel()
    with service_scope():
        ChannelAllocationRule.objects.create(channel=web, location=warehouse, percent=100)
    wms_connection()
    return {"warehouse": warehouse, "tee": tee, "cap": cap, "web": web}


def on_hand() -> dict[tuple[str, str], int]:
    return {
        (p.sku.code, p.location.code): p.on_hand
        for p in StockPosition.objects.filter(reporting_system="wms").select_related(
            "sku", "location"
        )
    }


def ats(sku: SKU, channel: Channel) -> int | None:
    row = AvailableToSell.objects.filter(sku=sku, channel=channel).first()
    return row.quantity if row else None


def drain() -> list[str]:
    return [process_inbound_event(event_id) for event_id in claim_inbound(50)]


def moment(delta: timedelta = timedelta(0)) -> str:
    return iso_utc(datetime.now(UTC) + delta)


def shown(as_of: str) -> str:
    """How the domain names a moment in its messages."""
    return datetime.fromisoformat(as_of).isoformat()


def snapshot_object(items: list[tuple[str, str, Any]], **changes: Any) -> dict[str, Any]:
    return {
        "id": "SNAP-000042",
        "object": "stock_snapshot",
        "warehouse": "MAIN",
        "as_of": moment(),
        "sequence": 1,
        "of": 1,
        "items": [{"sku": s, "location": loc, "on_hand": q} for s, loc, q in items],
        **changes,
    }


def adjustment_object(on_hand_after: Any, **changes: Any) -> dict[str, Any]:
    return {
        "id": "ADJ-000007",
        "object": "stock_adjustment",
        "adjustment_id": "ADJ-000007",
        "warehouse": "MAIN",
        "sku": TEE,
        "location": WH,
        "delta": -2,
        "on_hand_after": on_hand_after,
        "reason": "damaged in handling",
        "as_of": moment(),
        **changes,
    }


# --- over real HTTP: the simulator sends, our web tier receives, the inbox applies ---------------
@pytest.fixture
def warehouse_sim(live_server: Any) -> Iterator[Any]:
    """The WMS simulator sending its signed events to our receive endpoint on a live server."""
    from integrations.wms.simulator import WmsSimulator

    sim = WmsSimulator(token=WMS_TOKEN, config=MANUAL, seed=3, webhook_retry_base_s=0.2)
    sim.serve_in_thread()
    sim.webhooks.add_endpoint(f"{live_server.url}{HOOK}", WMS_SECRET)
    try:
        yield sim
    finally:
        sim.shutdown()


def sim(warehouse: Any, path: str, payload: dict[str, Any] | None = None) -> dict[str, Any]:
    response = httpx.post(f"{warehouse.url}{path}", json=payload or {}, timeout=10)
    assert response.status_code in (200, 201), response.text
    return response.json()


def delivered(warehouse: Any, count: int) -> None:
    """Wait until the simulator has delivered ``count`` deliveries and our inbox holds them."""

    def done() -> bool:
        """every delivery answered 2xx and stored"""
        answered = [d for d in warehouse.webhooks.deliveries() if d["ok"]]
        return len(answered) >= count and warehouse.webhooks.pending() == 0

    wait_for(done, timeout=20)


@pytest.mark.django_db(transaction=True)
def test_snapshot_over_http_sets_the_positions_and_ats(warehouse_sim: Any, estate: dict) -> None:
    # given: the warehouse counts 12 tees and 4 caps
    sim(
        warehouse_sim,
        "/_sim/stock",
        {
            "items": [
                {"sku": TEE, "location": WH, "on_hand": 12},
                {"sku": CAP, "location": WH, "on_hand": 4},
            ]
        },
    )
    # when: it sends a snapshot
    sent = sim(warehouse_sim, "/_sim/stock/snapshot")
    delivered(warehouse_sim, 1)
    statuses = drain()
    # then
    assert statuses == [InboundStatus.PROCESSED]
    assert on_hand() == {(TEE, WH): 12, (CAP, WH): 4}
    assert ats(estate["tee"], estate["web"]) == 12
    event = InboundEvent.objects.get()
    assert (event.topic, event.resource, event.resource_id) == (
        "inventory.snapshot",
        "stock_snapshot",
        sent["id"],
    )
    assert event.correlation_id == uuid.uuid5(STOCK_NAMESPACE, f"wms:{SLUG}:snapshot:{sent['id']}")
    position = StockPosition.objects.get(sku=estate["tee"])
    assert position.as_of == datetime.fromisoformat(sent["as_of"])
    assert position.source_system == f"wms:{SLUG}"
    latest = position.history.first()
    assert latest.history_user.username == "sync.wms"
    assert latest.history_change_reason == f"WMS snapshot {sent['id']} (1/1)"


@pytest.mark.django_db(transaction=True)
def test_adjustment_over_http_applies_the_figure_it_leaves(
    warehouse_sim: Any, estate: dict
) -> None:
    # given: a snapshot of 10 tees applied
    sim(warehouse_sim, "/_sim/stock", {"items": [{"sku": TEE, "location": WH, "on_hand": 10}]})
    sim(warehouse_sim, "/_sim/stock/snapshot")
    delivered(warehouse_sim, 1)
    drain()
    # when: three are written off as damaged
    adjustment = sim(
        warehouse_sim,
        "/_sim/stock/adjust",
        {"sku": TEE, "location": WH, "delta": -3, "reason": "damaged"},
    )
    delivered(warehouse_sim, 2)
    statuses = drain()
    # then
    assert statuses == [InboundStatus.PROCESSED]
    assert on_hand() == {(TEE, WH): 7}
    assert ats(estate["tee"], estate["web"]) == 7
    event = InboundEvent.objects.get(topic="inventory.adjusted")
    assert event.correlation_id == uuid.uuid5(
        STOCK_NAMESPACE, f"wms:{SLUG}:adjustment:{adjustment['adjustment_id']}"
    )
    reason = StockPosition.objects.get(sku=estate["tee"]).history.first().history_change_reason
    assert reason == f"WMS adjustment {adjustment['adjustment_id']}: damaged"


@pytest.mark.django_db(transaction=True)
def test_duplicate_deliveries_are_one_event_each(warehouse_sim: Any, estate: dict) -> None:
    # given: the warehouse delivers every webhook twice
    sim(warehouse_sim, "/_sim/faults", {"duplicate_webhooks": 1})
    sim(warehouse_sim, "/_sim/stock", {"items": [{"sku": TEE, "location": WH, "on_hand": 10}]})
    # when
    sim(warehouse_sim, "/_sim/stock/snapshot")
    sim(
        warehouse_sim,
        "/_sim/stock/adjust",
        {"sku": TEE, "location": WH, "delta": 5, "reason": "receipt"},
    )
    delivered(warehouse_sim, 4)
    statuses = drain()
    # then: two events stored, each applied once
    assert len([d for d in warehouse_sim.webhooks.deliveries() if d["ok"]]) == 4
    assert InboundEvent.objects.count() == 2
    assert statuses == [InboundStatus.PROCESSED, InboundStatus.PROCESSED]
    assert on_hand() == {(TEE, WH): 15}


@pytest.mark.django_db(transaction=True)
def test_out_of_order_snapshot_older_than_the_adjustment_is_superseded(
    warehouse_sim: Any, estate: dict
) -> None:
    # given: the warehouse delivers what it sends close together in reverse
    sim(warehouse_sim, "/_sim/faults", {"shuffle_webhooks": True})
    sim(warehouse_sim, "/_sim/stock", {"items": [{"sku": TEE, "location": WH, "on_hand": 10}]})
    # when: a snapshot (10) and then an adjustment (10 - 4 = 6), the adjustment arriving first
    snapshot = sim(warehouse_sim, "/_sim/stock/snapshot")
    sim(
        warehouse_sim,
        "/_sim/stock/adjust",
        {"sku": TEE, "location": WH, "delta": -4, "reason": "recount"},
    )
    delivered(warehouse_sim, 2)
    assert [d["type"] for d in warehouse_sim.webhooks.deliveries()] == [
        "inventory.adjusted",
        "inventory.snapshot",
    ]
    statuses = drain()
    # then: the later figure stands; the older snapshot changes nothing and says why
    assert statuses == [InboundStatus.PROCESSED, InboundStatus.IGNORED]
    assert on_hand() == {(TEE, WH): 6}
    late = InboundEvent.objects.get(topic="inventory.snapshot")
    assert late.error == (
        f"snapshot {snapshot['id']}: every figure (1) is older than the one held; superseded, "
        "nothing applied"
    )
    assert StockPosition.objects.get().history.count() == 1  # created by the adjustment only


@pytest.mark.django_db(transaction=True)
def test_drift_fault_makes_the_warehouse_disagree_with_the_erp(
    warehouse_sim: Any, estate: dict
) -> None:
    # given: the ERP holds 10 tees at the warehouse; the warehouse miscounts them by 3
    with acting_as("sync.erp"):
        record_stock_reports(
            "erp",
            [StockReport(sku=TEE, location=WH, on_hand=10, as_of=timezone.now())],
            source="erp:test",
        )
    sim(warehouse_sim, "/_sim/stock", {"items": [{"sku": TEE, "location": WH, "on_hand": 10}]})
    sim(warehouse_sim, "/_sim/faults", {"drift_units": -3, "drift_skus": [TEE]})
    # when
    sim(warehouse_sim, "/_sim/stock/snapshot")
    delivered(warehouse_sim, 1)
    drain()
    # then
    assert on_hand() == {(TEE, WH): 7}
    drift = OpsException.objects.open().get(type=ExceptionType.INVENTORY_DRIFT)
    assert drift.title == "Stock drift: TEE-1 at Amsterdam DC differs by 3"
    assert drift.context["figures"] == {"erp": 10, "wms": 7}


# --- in-process deliveries: what the inbox makes of each shape -----------------------------------
@pytest.fixture
def quiet(django_capture_on_commit_callbacks: Any) -> Iterator[None]:
    """Keep kicks and pushes from leaving the test (no worker here)."""
    with django_capture_on_commit_callbacks(execute=False):
        yield


def apply(client: Client, event_type: str, obj: dict[str, Any]) -> InboundEvent:
    event = envelope(event_type, obj)
    response = post_event(client, event)
    assert response.status_code == 200, response.content
    drain()
    return InboundEvent.objects.get(delivery_id=event["id"])


def refused(stored: InboundEvent, text: str) -> None:
    """The event is a dead letter with exactly ``text``, and ops have it as an exception."""
    assert stored.status == InboundStatus.FAILED
    assert stored.error == text
    letter = OpsException.objects.get(dedupe_key=f"inbound:{stored.pk}")
    assert letter.type == ExceptionType.DEAD_LETTER
    assert letter.detail == text


@pytest.mark.django_db
def test_a_snapshot_naming_unknown_codes_is_refused_whole(
    client: Client, estate: dict, quiet: None
) -> None:
    # given: a good line, an unknown SKU, an unknown location
    obj = snapshot_object([(TEE, WH, 5), ("NOPE-9", WH, 1), (CAP, "nowhere", 2)])
    # when
    stored = apply(client, "inventory.snapshot", obj)
    # then
    refused(
        stored,
        "stock feed refused, nothing applied: line 2: 'NOPE-9' at 'wh-1': unknown SKU; "
        "line 3: 'CAP-1' at 'nowhere': unknown location",
    )
    assert StockPosition.objects.count() == 0


@pytest.mark.django_db
def test_a_negative_count_is_refused_and_the_held_figure_stays(
    client: Client, estate: dict, quiet: None
) -> None:
    # given: 8 tees held
    apply(
        client,
        "inventory.snapshot",
        snapshot_object([(TEE, WH, 8)], as_of=moment(-timedelta(minutes=1))),
    )
    count = StockPosition.objects.count()
    # when: an adjustment says it leaves -3
    stored = apply(client, "inventory.adjusted", adjustment_object(-3))
    # then
    refused(
        stored,
        "stock feed refused, nothing applied: line 1 (ADJ-000007): 'TEE-1' at 'wh-1': "
        "on-hand -3 is negative",
    )
    assert StockPosition.objects.count() == count
    assert on_hand() == {(TEE, WH): 8}


@pytest.mark.django_db
def test_a_snapshot_older_than_the_freshness_sla_is_refused(
    client: Client, estate: dict, quiet: None
) -> None:
    # given: counted two hours ago (the SLA is 30 minutes)
    as_of = moment(-timedelta(hours=2))
    # when
    stored = apply(client, "inventory.snapshot", snapshot_object([(TEE, WH, 5)], as_of=as_of))
    # then
    refused(
        stored,
        f"stock feed refused, nothing applied: line 1: 'TEE-1' at 'wh-1': stale: as of "
        f"{shown(as_of)} (120 min old; the freshness SLA is 30 min)",
    )
    assert StockPosition.objects.count() == 0


@pytest.mark.django_db
def test_an_adjustment_dated_in_the_future_is_refused(
    client: Client, estate: dict, quiet: None
) -> None:
    # given
    as_of = moment(timedelta(days=1))
    # when
    stored = apply(client, "inventory.adjusted", adjustment_object(4, as_of=as_of))
    # then
    refused(
        stored,
        f"stock feed refused, nothing applied: line 1 (ADJ-000007): 'TEE-1' at 'wh-1': "
        f"as_of {shown(as_of)} is in the future",
    )
    assert StockPosition.objects.count() == 0


@pytest.mark.parametrize(
    ("event_type", "obj", "text"),
    [
        (
            "inventory.snapshot",
            snapshot_object([(TEE, WH, "5")]),
            "data.object.items[0].on_hand: must be an integer, not str",
        ),
        (
            "inventory.snapshot",
            snapshot_object([(TEE, WH, 5.0)]),
            "data.object.items[0].on_hand: must be an integer, not float",
        ),
        (
            "inventory.snapshot",
            {**snapshot_object([]), "items": [{"sku": TEE, "on_hand": 1}]},
            "data.object.items[0].location: missing",
        ),
        (
            "inventory.snapshot",
            {**snapshot_object([]), "items": [{"sku": 42, "location": WH, "on_hand": 1}]},
            "data.object.items[0].sku: must be a non-empty string",
        ),
        (
            "inventory.snapshot",
            {**snapshot_object([(TEE, WH, 1)]), "items": "all of it"},
            "data.object.items: must be a list",
        ),
        (
            "inventory.snapshot",
            snapshot_object([(TEE, WH, 1), (CAP, WH, 2), (TEE, WH, 3)]),
            "data.object.items[2]: 'TEE-1' at 'wh-1' is listed twice",
        ),
        (
            "inventory.snapshot",
            snapshot_object([(TEE, WH, 1)] * 501),
            "data.object.items: more than 500 items in one event",
        ),
        (
            "inventory.snapshot",
            snapshot_object([(TEE, WH, 1)], as_of="2026-11-22T09:00:00"),
            "data.object.as_of: must carry its UTC offset (…Z)",
        ),
        (
            "inventory.snapshot",
            snapshot_object([(TEE, WH, 1)], as_of="yesterday"),
            "data.object.as_of: not an ISO 8601 time: 'yesterday'",
        ),
        (
            "inventory.snapshot",
            snapshot_object([(TEE, WH, 1)], sequence=3, of=2),
            "data.object.sequence: must be from 1 to 2 (of)",
        ),
        (
            "inventory.snapshot",
            {k: v for k, v in snapshot_object([(TEE, WH, 1)]).items() if k != "warehouse"},
            "data.object.warehouse: missing",
        ),
        (
            "inventory.snapshot",
            {**snapshot_object([(TEE, WH, 1)]), "object": "release"},
            "data.object.object: a inventory.snapshot event carries a stock_snapshot, "
            "not 'release'",
        ),
        (
            "inventory.adjusted",
            {k: v for k, v in adjustment_object(3).items() if k != "on_hand_after"},
            "data.object.on_hand_after: missing",
        ),
        (
            "inventory.adjusted",
            adjustment_object(True),
            "data.object.on_hand_after: must be an integer, not bool",
        ),
        (
            "inventory.adjusted",
            adjustment_object(3, delta="-2"),
            "data.object.delta: must be an integer, not str",
        ),
        (
            "inventory.adjusted",
            adjustment_object(3, sku="X" * 65),
            "data.object.sku: longer than 64 characters or not text",
        ),
    ],
)
@pytest.mark.django_db
def test_hostile_stock_payloads_are_dead_lettered_naming_the_field(
    client: Client, estate: dict, quiet: None, event_type: str, obj: dict, text: str
) -> None:
    # when
    stored = apply(client, event_type, obj)
    # then
    refused(stored, text)
    assert StockPosition.objects.count() == 0


@pytest.mark.django_db
def test_an_empty_snapshot_is_ignored_saying_so(client: Client, estate: dict, quiet: None) -> None:
    # when
    stored = apply(client, "inventory.snapshot", snapshot_object([]))
    # then
    assert stored.status == InboundStatus.IGNORED
    assert stored.error == "snapshot SNAP-000042 lists no items"


@pytest.mark.django_db
def test_chunks_of_one_snapshot_share_a_correlation_id_and_apply_on_their_own(
    client: Client, estate: dict, quiet: None
) -> None:
    # given: one snapshot in two chunks, the second naming a SKU we do not know
    as_of = moment()
    first = snapshot_object([(TEE, WH, 3)], as_of=as_of, sequence=1, of=2)
    second = snapshot_object([(CAP, WH, 2), ("GONE-1", WH, 1)], as_of=as_of, sequence=2, of=2)
    # when
    one = apply(client, "inventory.snapshot", first)
    two = apply(client, "inventory.snapshot", second)
    # then: the first chunk stands; the second is refused whole
    assert one.status == InboundStatus.PROCESSED
    assert two.status == InboundStatus.FAILED
    assert on_hand() == {(TEE, WH): 3}
    assert one.correlation_id == uuid.uuid5(STOCK_NAMESPACE, f"wms:{SLUG}:snapshot:SNAP-000042")


@pytest.mark.django_db
def test_the_same_adjustment_under_a_new_event_id_is_superseded(
    client: Client, estate: dict, quiet: None
) -> None:
    # given
    obj = adjustment_object(9)
    apply(client, "inventory.adjusted", obj)
    # when: the warehouse sends it again as another event
    again = apply(client, "inventory.adjusted", obj)
    # then
    assert again.status == InboundStatus.IGNORED
    assert on_hand() == {(TEE, WH): 9}
    assert StockPosition.objects.get().history.count() == 1


@pytest.mark.django_db
def test_the_batch_path_leaves_stock_events_to_one_by_one(
    client: Client, estate: dict, quiet: None
) -> None:
    # given: a snapshot and an adjustment claimed in one drain
    as_of = moment(-timedelta(seconds=5))
    for event_type, obj in (
        ("inventory.snapshot", snapshot_object([(TEE, WH, 4)], as_of=as_of)),
        ("inventory.adjusted", adjustment_object(6)),
    ):
        assert post_event(client, envelope(event_type, obj)).status_code == 200
    ids = claim_inbound(10)
    loaded = inbox.load_claimed(ids)
    events = [loaded[i] for i in ids]  # in claim order, as the drain hands them over
    # when
    taken = handle_inbound_batch(events)
    left = inbox.process_inbound_batch(events)
    # then
    assert taken == {}
    assert left == []
    assert set(InboundEvent.objects.values_list("status", flat=True)) == {InboundStatus.PROCESSED}
    assert on_hand() == {(TEE, WH): 6}
