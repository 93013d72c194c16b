"""WMS simulator over real HTTP, the stock ledger: figures set and adjusted, signed
``inventory.snapshot`` (chunked) and ``inventory.adjusted`` events, the drift fault, periodic
snapshots, the webhook faults on stock events, and what bad input is told."""

from __future__ import annotations

import time
from datetime import datetime

import httpx
import pytest

from integrations.wms.simulator import WmsSimulator
from tests.integrations.wms.simulator.support import SECRET, Receiver, signature_ok, wait_for


def set_stock(client: httpx.Client, *items: tuple[str, str, int]) -> None:
    body = {"items": [{"sku": s, "location": loc, "on_hand": q} for s, loc, q in items]}
    response = client.post("/_sim/stock", json=body)
    assert response.status_code == 200, response.text


def adjust(client: httpx.Client, sku: str, delta: int, reason: str = "recount") -> httpx.Response:
    return client.post(
        "/_sim/stock/adjust",
        json={"sku": sku, "location": "wh-1", "delta": delta, "reason": reason},
    )


def ledger(client: httpx.Client) -> dict[str, tuple[int, int]]:
    items = client.get("/_sim/stock").json()["items"]
    return {item["sku"]: (item["on_hand"], item["reported"]) for item in items}


def test_snapshot_sends_the_ledger_as_one_signed_event(
    wms: WmsSimulator, client: httpx.Client, receiver: Receiver
) -> None:
    # given
    set_stock(client, ("TEE-1", "wh-1", 12), ("CAP-1", "wh-1", 0))
    # when
    response = client.post("/_sim/stock/snapshot")
    wait_for(lambda: len(receiver.received) == 1)
    # then
    assert response.status_code == 200
    sent = response.json()
    assert (sent["id"], sent["items"], len(sent["events"])) == ("SNAP-000001", 2, 1)
    headers, body = receiver.received[0]
    assert signature_ok(headers["wms-signature"], body, SECRET)
    event = receiver.events()[0]
    assert event["type"] == "inventory.snapshot" and event["id"] == sent["events"][0]
    obj = event["data"]["object"]
    assert obj == {
        "id": "SNAP-000001",
        "object": "stock_snapshot",
        "warehouse": "MAIN",
        "as_of": sent["as_of"],
        "sequence": 1,
        "of": 1,
        "items": [
            {"sku": "CAP-1", "location": "wh-1", "on_hand": 0},
            {"sku": "TEE-1", "location": "wh-1", "on_hand": 12},
        ],
    }
    assert obj["as_of"].endswith("Z") and datetime.fromisoformat(obj["as_of"]).tzinfo


def test_a_large_snapshot_is_chunked_500_items_an_event(
    wms: WmsSimulator, client: httpx.Client, receiver: Receiver
) -> None:
    # given: 1,201 SKUs counted
    set_stock(client, *((f"SKU-{n:05d}", "wh-1", n) for n in range(1201)))
    # when
    sent = client.post("/_sim/stock/snapshot").json()
    wait_for(lambda: len(receiver.received) == 3)
    # then
    chunks = [event["data"]["object"] for event in receiver.events()]
    assert [(c["sequence"], c["of"], len(c["items"])) for c in chunks] == [
        (1, 3, 500),
        (2, 3, 500),
        (3, 3, 201),
    ]
    assert {c["id"] for c in chunks} == {sent["id"]}
    assert {c["as_of"] for c in chunks} == {sent["as_of"]}
    assert len({e["id"] for e in receiver.events()}) == 3
    assert sum(len(c["items"]) for c in chunks) == sent["items"] == 1201


def test_adjustment_books_the_delta_and_reports_the_figure_it_leaves(
    wms: WmsSimulator, client: httpx.Client, receiver: Receiver
) -> None:
    # given
    set_stock(client, ("TEE-1", "wh-1", 10))
    snapshot = client.post("/_sim/stock/snapshot").json()
    # when
    response = adjust(client, "TEE-1", -3, "damaged")
    wait_for(lambda: len(receiver.received) == 2)
    # then
    assert response.status_code == 201
    adjustment = response.json()
    assert adjustment == {
        "id": "ADJ-000001",
        "object": "stock_adjustment",
        "adjustment_id": "ADJ-000001",
        "warehouse": "MAIN",
        "sku": "TEE-1",
        "location": "wh-1",
        "delta": -3,
        "on_hand_after": 7,
        "reason": "damaged",
        "as_of": adjustment["as_of"],
    }
    assert adjustment["as_of"] > snapshot["as_of"]
    event = receiver.events()[1]
    assert event["type"] == "inventory.adjusted"
    assert event["data"]["object"] == adjustment
    assert ledger(client) == {"TEE-1": (7, 7)}


def test_adjustment_of_an_sku_never_counted_starts_from_zero(
    wms: WmsSimulator, client: httpx.Client
) -> None:
    # when
    response = adjust(client, "NEW-1", 5, "receipt")
    # then
    assert response.json()["on_hand_after"] == 5
    assert ledger(client) == {"NEW-1": (5, 5)}


def test_adjustment_below_zero_is_refused_and_nothing_booked(
    wms: WmsSimulator, client: httpx.Client, receiver: Receiver
) -> None:
    # given
    set_stock(client, ("TEE-1", "wh-1", 2))
    # when
    response = adjust(client, "TEE-1", -5, "damaged")
    # then
    assert response.status_code == 409
    assert response.json() == {"error": "adjustment would take on-hand of TEE-1 at wh-1 to -3"}
    assert ledger(client) == {"TEE-1": (2, 2)}
    time.sleep(0.2)
    assert receiver.received == []


def test_every_as_of_is_later_than_the_one_before(wms: WmsSimulator, client: httpx.Client) -> None:
    # when: many changes within the same millisecond or two
    set_stock(client, ("TEE-1", "wh-1", 100))
    moments = [adjust(client, "TEE-1", -1).json()["as_of"] for _ in range(20)]
    moments.append(client.post("/_sim/stock/snapshot").json()["as_of"])
    # then
    assert moments == sorted(set(moments))


@pytest.mark.parametrize(
    ("path", "body", "fields"),
    [
        ("/_sim/stock", {"items": []}, {"items": "must be a non-empty list"}),
        (
            "/_sim/stock",
            {"items": [{"sku": "", "location": 3, "on_hand": -1}, "TEE"]},
            {
                "items[0].sku": "must be a non-empty string",
                "items[0].location": "must be a non-empty string",
                "items[0].on_hand": "must be an integer >= 0",
                "items[1]": "must be an object",
            },
        ),
        (
            "/_sim/stock",
            {"items": [{"sku": "T", "location": "w", "on_hand": "5"}]},
            {"items[0].on_hand": "must be an integer"},
        ),
        ("/_sim/stock", ["TEE"], {"_": "body must be a JSON object"}),
        (
            "/_sim/stock/adjust",
            {"sku": "TEE-1", "location": "wh-1", "delta": 0, "reason": ""},
            {"delta": "must not be 0", "reason": "must be a non-empty string"},
        ),
        (
            "/_sim/stock/adjust",
            {"sku": "TEE-1", "delta": 1.5, "reason": "x"},
            {"location": "must be a non-empty string", "delta": "must be an integer"},
        ),
    ],
)
def test_bad_stock_input_is_a_400_naming_each_field(
    wms: WmsSimulator, client: httpx.Client, path: str, body: object, fields: dict[str, str]
) -> None:
    # when
    response = client.post(path, json=body)
    # then
    assert response.status_code == 400
    assert response.json() == {"error": "validation failed", "fields": fields}
    assert client.get("/_sim/stock").json()["items"] == []


def test_drift_fault_skews_what_is_reported_for_the_chosen_skus_only(
    wms: WmsSimulator, client: httpx.Client, receiver: Receiver
) -> None:
    # given
    set_stock(client, ("TEE-1", "wh-1", 10), ("CAP-1", "wh-1", 2))
    response = client.post("/_sim/faults", json={"drift_units": -3, "drift_skus": ["CAP-1"]})
    assert response.status_code == 200
    # when
    client.post("/_sim/stock/snapshot")
    after = adjust(client, "TEE-1", 1).json()
    wait_for(lambda: len(receiver.received) == 2)
    # then: the cap is reported short (never below zero), the ledger stays true
    items = receiver.events()[0]["data"]["object"]["items"]
    assert {i["sku"]: i["on_hand"] for i in items} == {"CAP-1": 0, "TEE-1": 10}
    assert after["on_hand_after"] == 11
    assert ledger(client) == {"CAP-1": (2, 0), "TEE-1": (11, 11)}


def test_drift_fault_without_chosen_skus_skews_every_sku(
    wms: WmsSimulator, client: httpx.Client
) -> None:
    # given
    set_stock(client, ("TEE-1", "wh-1", 10), ("CAP-1", "wh-1", 2))
    # when
    client.post("/_sim/faults", json={"drift_units": 4})
    # then
    assert ledger(client) == {"CAP-1": (2, 6), "TEE-1": (10, 14)}
    assert adjust(client, "CAP-1", -1).json()["on_hand_after"] == 5


@pytest.mark.parametrize(
    ("faults", "error"),
    [
        ({"drift_units": 1.5}, "drift_units must be an integer"),
        ({"drift_units": True}, "drift_units must be an integer"),
        ({"drift_skus": "TEE-1"}, "drift_skus must be a list of SKU codes"),
        ({"drift_skus": ["TEE-1", ""]}, "drift_skus must be a list of SKU codes"),
    ],
)
def test_bad_drift_fault_is_refused(
    wms: WmsSimulator, client: httpx.Client, faults: dict, error: str
) -> None:
    # when
    response = client.post("/_sim/faults", json=faults)
    # then
    assert response.status_code == 400
    assert response.json() == {"error": error}


def test_periodic_snapshots_follow_snapshot_every_s(
    wms: WmsSimulator, client: httpx.Client, receiver: Receiver
) -> None:
    # given: nothing counted yet: nothing is sent
    client.post("/_sim/config", json={"snapshot_every_s": 0.2})
    time.sleep(0.5)
    assert receiver.received == []
    # when
    set_stock(client, ("TEE-1", "wh-1", 3))
    wait_for(lambda: len(receiver.received) >= 2)
    # then
    assert set(receiver.types()) == {"inventory.snapshot"}
    ids = [e["data"]["object"]["id"] for e in receiver.events()]
    assert ids[:2] == ["SNAP-000001", "SNAP-000002"]
    # when: switched off
    assert client.post("/_sim/config", json={"snapshot_every_s": 0}).status_code == 200
    time.sleep(0.3)
    settled = len(receiver.received)
    time.sleep(0.5)
    # then
    assert len(receiver.received) == settled


def test_bad_snapshot_interval_is_refused(wms: WmsSimulator, client: httpx.Client) -> None:
    # when
    response = client.post("/_sim/config", json={"snapshot_every_s": -1})
    # then
    assert response.status_code == 400
    assert response.json() == {"error": "snapshot_every_s must be a number >= 0"}
    assert client.get("/_sim/config").json()["snapshot_every_s"] == 0


def test_duplicate_and_shuffled_webhook_faults_apply_to_stock_events(
    wms: WmsSimulator, client: httpx.Client, receiver: Receiver
) -> None:
    # given
    set_stock(client, ("TEE-1", "wh-1", 10))
    client.post("/_sim/faults", json={"duplicate_webhooks": 1, "shuffle_webhooks": True})
    # when: a snapshot, then an adjustment at once
    client.post("/_sim/stock/snapshot")
    adjust(client, "TEE-1", 2)
    wait_for(lambda: len(receiver.received) == 4)
    # then: each twice, the later one first
    assert receiver.types() == [
        "inventory.adjusted",
        "inventory.adjusted",
        "inventory.snapshot",
        "inventory.snapshot",
    ]
    ids = [e["id"] for e in receiver.events()]
    assert ids[0] == ids[1] and ids[2] == ids[3]


def test_reset_all_wipes_the_ledger(wms: WmsSimulator, client: httpx.Client) -> None:
    # given
    set_stock(client, ("TEE-1", "wh-1", 10))
    adjust(client, "TEE-1", 1)
    # when
    client.post("/_sim/reset", json={"all": True})
    # then
    assert client.get("/_sim/stock").json() == {"items": [], "adjustments": 0}
    assert client.post("/_sim/stock/snapshot").json()["id"] == "SNAP-000001"
