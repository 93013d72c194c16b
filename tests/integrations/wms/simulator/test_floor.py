"""WMS simulator over real HTTP, the warehouse floor: progress and signed events, split and
manual shipments, tracking numbers, short picks, faults, webhooks, config and the CLI."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from datetime import datetime

import httpx
import pytest

from integrations.simkit import free_port
from integrations.wms.simulator import WmsSimulator
from integrations.wms.simulator.tracking import ups_is_valid
from tests.integrations.wms.simulator.support import (
    REPO_ROOT,
    SECRET,
    Receiver,
    advance,
    create,
    parse_signature,
    release_body,
    signature_ok,
    state,
    wait_for,
)


def test_auto_progress_ships_and_sends_signed_events_in_order(
    wms: WmsSimulator, client: httpx.Client, receiver: Receiver
) -> None:
    # given
    client.post("/_sim/config", json={"auto_progress": True})
    # when
    created = create(client)
    wait_for(lambda: "release.shipped" in receiver.types())
    # then
    assert receiver.types() == [
        "release.picking",
        "release.packed",
        "shipment.shipped",
        "release.shipped",
    ]
    for headers, body in receiver.received:
        assert signature_ok(headers["wms-signature"], body, SECRET)
        assert not signature_ok(headers["wms-signature"], body, "other-secret")
    events = receiver.events()
    assert all(e["object"] == "event" and e["id"].startswith("evt_") for e in events)
    shipment = events[2]["data"]["object"]
    assert shipment["object"] == "shipment" and shipment["release"] == created["id"]
    assert shipment["external_ref"] == "wms:woo-1001" and shipment["sales_order"] == "SO-000001"
    assert shipment["warehouse"] == "AMS1" and shipment["shipped_at"].endswith("Z")
    assert [(x["line_number"], x["sku"], x["quantity"]) for x in shipment["lines"]] == [
        (1, "APP-TEE-001", 2),
        (2, "HOME-MUG-02", 1),
        (3, "HOME-CUP-03", 3),
    ]
    final = events[3]["data"]["object"]
    assert final["status"] == "shipped" and final["shipments"] == [shipment["id"]]
    assert all(line["picked"] == line["shipped"] == line["quantity"] for line in final["lines"])
    assert client.get(f"/api/v1/shipments/{shipment['id']}").json() == shipment


def test_advance_moves_one_step_and_refuses_after_shipping(client: httpx.Client) -> None:
    # given
    created = create(client)
    # when
    steps = [advance(client, created["id"]) for _ in range(3)]
    after = client.post(f"/_sim/releases/{created['id']}/advance")
    # then
    assert [s["release"]["status"] for s in steps] == ["picking", "packed", "shipped"]
    assert [s["events"] for s in steps] == [
        ["release.picking"],
        ["release.packed"],
        ["shipment.shipped", "release.shipped"],
    ]
    assert after.status_code == 409
    assert after.json() == {"error": "release is shipped and cannot advance"}
    assert client.post("/_sim/releases/REL-999999/advance").status_code == 404


def test_split_shipments_ship_two_parcels_a_gap_apart(
    client: httpx.Client, receiver: Receiver
) -> None:
    # given
    client.post(
        "/_sim/config", json={"auto_progress": True, "split_shipments": True, "split_gap_s": 0.3}
    )
    # when
    created = create(client)
    wait_for(lambda: "release.shipped" in receiver.types())
    # then
    assert receiver.types() == [
        "release.picking",
        "release.packed",
        "shipment.shipped",
        "shipment.shipped",
        "release.shipped",
    ]
    first, second = (e["data"]["object"] for e in receiver.events()[2:4])
    assert [x["line_number"] for x in first["lines"]] == [1, 2]
    assert [x["line_number"] for x in second["lines"]] == [3]
    assert first["tracking_number"] != second["tracking_number"]
    gap = datetime.fromisoformat(second["shipped_at"]) - datetime.fromisoformat(first["shipped_at"])
    assert gap.total_seconds() >= 0.25
    release = client.get(f"/api/v1/releases/{created['id']}").json()
    assert release["shipments"] == [first["id"], second["id"]]


def test_split_shipments_partially_shipped_between_parcels(client: httpx.Client) -> None:
    # given
    client.post("/_sim/config", json={"split_shipments": True})
    created = create(client)
    # when
    first = advance(client, created["id"], times=3)
    second = advance(client, created["id"])
    # then
    assert first["release"]["status"] == "partially_shipped"
    assert first["events"] == ["shipment.shipped"]
    assert second["release"]["status"] == "shipped"
    assert second["events"] == ["shipment.shipped", "release.shipped"]


def test_manual_ship_ships_exactly_the_given_lines(client: httpx.Client) -> None:
    # given
    created = create(client)
    path = f"/_sim/releases/{created['id']}/ship"
    # when
    partial = client.post(
        path,
        json={
            "lines": [{"line_number": 3, "quantity": 1}],
            "carrier": "UPS",
            "tracking_number": "1ZTEST",
        },
    )
    rest = client.post(
        path,
        json={
            "lines": [
                {"line_number": 1, "quantity": 2},
                {"line_number": 2, "quantity": 1},
                {"line_number": 3, "quantity": 2},
            ]
        },
    )
    # then
    assert partial.status_code == 201
    assert partial.json()["carrier"] == "UPS" and partial.json()["tracking_number"] == "1ZTEST"
    assert partial.json()["lines"] == [{"line_number": 3, "sku": "HOME-CUP-03", "quantity": 1}]
    assert partial.json()["events"] == ["shipment.shipped"]
    assert rest.json()["events"] == ["shipment.shipped", "release.shipped"]
    release = client.get(f"/api/v1/releases/{created['id']}").json()
    assert release["status"] == "shipped" and len(release["shipments"]) == 2


def test_manual_ship_that_does_not_match_needs_force(client: httpx.Client) -> None:
    # given
    created = create(client)
    path = f"/_sim/releases/{created['id']}/ship"
    wrong = {"lines": [{"line_number": 9, "quantity": 1}, {"line_number": 2, "quantity": 5}]}
    # when
    refused = client.post(path, json=wrong)
    forced = client.post(path, json={**wrong, "force": True})
    invalid = client.post(path, json={"lines": [{"line_number": "1", "quantity": -1}]})
    # then
    assert refused.status_code == 409
    assert refused.json() == {
        "error": 'shipment does not match the release (send "force": true to ship it anyway)',
        "fields": {
            "lines[0].line_number": f"line 9 is not in {created['id']}",
            "lines[1].quantity": "only 1 unit(s) of line 2 left to ship",
        },
    }
    assert forced.status_code == 201
    assert forced.json()["lines"] == [
        {"line_number": 9, "sku": "UNKNOWN-SKU", "quantity": 1},
        {"line_number": 2, "sku": "HOME-MUG-02", "quantity": 5},
    ]
    release = client.get(f"/api/v1/releases/{created['id']}").json()
    assert release["lines"][1]["shipped"] == 5
    assert release["status"] == "partially_shipped"
    assert invalid.status_code == 400
    assert invalid.json()["fields"] == {
        "lines[0].line_number": "must be a positive integer",
        "lines[0].quantity": "must be a positive integer",
    }


def test_shipment_tracking_numbers_are_carrier_shaped(client: httpx.Client) -> None:
    # given
    client.post("/_sim/config", json={"carriers": ["DHL", "PostNL", "UPS"]})
    # when
    shipments = []
    for index in range(3):
        created = create(client, external_ref=f"wms:t-{index}")
        shipments.append(
            client.post(
                f"/_sim/releases/{created['id']}/ship",
                json={"lines": [{"line_number": 1, "quantity": 1}]},
            ).json()
        )
    # then
    dhl, postnl, ups = shipments
    assert dhl["carrier"] == "DHL"
    assert dhl["tracking_number"].startswith("JVGL") and len(dhl["tracking_number"]) == 20
    assert dhl["tracking_number"][4:].isdigit()
    assert postnl["carrier"] == "PostNL"
    assert postnl["tracking_number"].startswith("3S") and len(postnl["tracking_number"]) == 15
    assert ups["carrier"] == "UPS" and ups_is_valid(ups["tracking_number"])
    assert client.get("/api/v1/shipments/SHP-999999").status_code == 404
    listed = client.get("/api/v1/shipments", params={"external_ref": "wms:t-1"}).json()
    assert [s["id"] for s in listed["results"]] == [postnl["id"]]


# -- short pick (the WMS fault) -------------------------------------------------------------


def test_short_pick_backorders_the_last_line_before_shipping(
    client: httpx.Client, receiver: Receiver
) -> None:
    # given
    client.post("/_sim/faults", json={"short_pick_next": 1, "short_pick_units": 2})
    first = create(client)
    second = create(client, external_ref="wms:woo-1002")
    # when
    advance(client, first["id"], times=3)
    untouched = advance(client, second["id"], times=2)
    # then
    wait_for(lambda: len(receiver.received) == 7)
    events = [
        e
        for e in receiver.events()
        if e["data"]["object"].get("release", e["data"]["object"]["id"]) == first["id"]
    ]
    assert [e["type"] for e in events] == [
        "release.picking",
        "release.backordered",
        "release.packed",
        "shipment.shipped",
        "release.shipped",
    ]
    backordered = events[1]["data"]["object"]
    assert backordered["id"] == first["id"]
    assert backordered["backorders"] == [{"line_number": 3, "sku": "HOME-CUP-03", "quantity": 2}]
    shipment = events[3]["data"]["object"]
    assert shipment["lines"][-1] == {"line_number": 3, "sku": "HOME-CUP-03", "quantity": 1}
    release = client.get(f"/api/v1/releases/{first['id']}").json()
    assert release["status"] == "shipped"
    assert release["lines"][2] == {
        "line_number": 3,
        "sku": "HOME-CUP-03",
        "quantity": 3,
        "picked": 1,
        "shipped": 1,
        "backordered": 2,
        "cancelled": 0,
    }
    assert untouched["events"] == ["release.packed"]
    assert client.get("/_sim/faults").json()["short_pick_next"] == 0


def test_short_pick_of_everything_closes_the_release_unshipped(client: httpx.Client) -> None:
    # given
    client.post("/_sim/faults", json={"short_pick_next": 1})
    created = create(client, lines=[{"line_number": 1, "sku": "A", "quantity": 1}])
    # when
    advance(client, created["id"])
    step = advance(client, created["id"])
    # then
    assert step["events"] == ["release.backordered", "release.cancelled"]
    assert step["release"]["status"] == "cancelled"
    assert step["release"]["cancel_reason"] == "short_pick"
    assert step["release"]["shipments"] == []


# -- transport faults -----------------------------------------------------------------------


def test_fault_fail_next_answers_5xx_without_processing(client: httpx.Client) -> None:
    # given
    client.post("/_sim/faults", json={"fail_next": 2, "fail_status": 503})
    # when
    statuses = [
        client.post(
            "/api/v1/releases", json=release_body(), headers={"Idempotency-Key": "f"}
        ).status_code
        for _ in range(3)
    ]
    # then
    assert statuses == [503, 503, 201]
    assert state(client)["releases"] == 1
    log = client.get("/_sim/requests").json()
    assert [(e["status"], e["fault"]) for e in log] == [(503, "fail"), (503, "fail"), (201, None)]


def test_fault_rate_limit_answers_429_with_retry_after(client: httpx.Client) -> None:
    # given
    client.post("/_sim/faults", json={"rate_limit_next": 1, "retry_after": 4})
    # when
    limited = client.post("/api/v1/releases", json=release_body())
    retried = client.post("/api/v1/releases", json=release_body())
    # then
    assert limited.status_code == 429 and limited.headers["Retry-After"] == "4"
    assert limited.json() == {"error": "rate limited (simulated)"}
    assert retried.status_code == 201


def test_fault_timeout_processes_then_replay_by_key(client: httpx.Client) -> None:
    # given
    client.post("/_sim/faults", json={"timeout_next": 1, "timeout_seconds": 1})
    headers = {"Idempotency-Key": "slow-1"}
    # when
    with pytest.raises(httpx.ReadTimeout):
        client.post("/api/v1/releases", json=release_body(), headers=headers, timeout=0.3)
    retry = client.post("/api/v1/releases", json=release_body(), headers=headers)
    # then
    assert state(client)["releases"] == 1
    assert retry.status_code == 201 and retry.json()["id"] == "REL-000001"
    assert retry.headers["Idempotent-Replayed"] == "true"


# -- webhook faults and signatures ----------------------------------------------------------


def test_webhooks_duplicate_fault_sends_extra_copies(
    client: httpx.Client, receiver: Receiver
) -> None:
    # given
    client.post("/_sim/faults", json={"duplicate_webhooks": 2})
    created = create(client)
    # when
    client.post(f"/api/v1/releases/{created['id']}/cancel", json={})
    # then
    wait_for(lambda: len(receiver.received) == 3)
    ids = {event["id"] for event in receiver.events()}
    assert len(ids) == 1 and receiver.types() == ["release.cancelled"] * 3


def test_webhooks_shuffle_fault_delivers_out_of_order(
    client: httpx.Client, receiver: Receiver
) -> None:
    # given
    client.post("/_sim/faults", json={"shuffle_webhooks": True})
    created = create(client)
    # when
    emitted = [t for _ in range(3) for t in advance(client, created["id"])["events"]]
    # then
    wait_for(lambda: len(receiver.received) == 4)
    assert sorted(receiver.types()) == sorted(emitted)
    assert receiver.types() != emitted


def test_webhooks_stale_fault_signs_in_the_past(client: httpx.Client, receiver: Receiver) -> None:
    # given
    client.post("/_sim/faults", json={"stale_webhook_s": 600})
    created = create(client)
    # when
    client.post(f"/api/v1/releases/{created['id']}/cancel", json={})
    # then
    wait_for(lambda: len(receiver.received) == 1)
    headers, body = receiver.received[0]
    timestamp, _ = parse_signature(headers["wms-signature"])
    assert time.time() - timestamp >= 599
    assert not signature_ok(headers["wms-signature"], body, SECRET)
    assert signature_ok(headers["wms-signature"], body, SECRET, tolerance_s=700)


def test_webhooks_rotation_signs_with_old_and_new_secret(
    client: httpx.Client, receiver: Receiver
) -> None:
    # given
    client.post("/_sim/webhook_endpoints/we_1/rotate", json={"secret": "whsec_new"})
    created = create(client)
    # when
    client.post(f"/api/v1/releases/{created['id']}/cancel", json={})
    # then
    wait_for(lambda: len(receiver.received) == 1)
    headers, body = receiver.received[0]
    _, signatures = parse_signature(headers["wms-signature"])
    assert len(signatures) == 2
    assert signature_ok(headers["wms-signature"], body, "whsec_new")
    assert signature_ok(headers["wms-signature"], body, SECRET)


def test_webhooks_are_retried_until_the_receiver_accepts(
    client: httpx.Client, receiver: Receiver
) -> None:
    # given
    receiver.fail_first = 2
    created = create(client)
    # when
    client.post(f"/api/v1/releases/{created['id']}/cancel", json={})
    # then
    wait_for(lambda: len(receiver.received) == 3)
    wait_for(lambda: len(client.get("/_sim/webhook_deliveries").json()) == 3)
    deliveries = client.get("/_sim/webhook_deliveries").json()
    assert [(d["attempt"], d["status"], d["ok"]) for d in deliveries] == [
        (1, 503, False),
        (2, 503, False),
        (3, 200, True),
    ]


# -- /_sim ----------------------------------------------------------------------------------


def test_sim_config_validates_and_reset_all_wipes_everything(
    client: httpx.Client, receiver: Receiver
) -> None:
    # given
    created = create(client)
    client.post(f"/api/v1/releases/{created['id']}/cancel", json={})
    wait_for(lambda: len(receiver.received) == 1)
    # when
    unknown = client.post("/_sim/config", json={"pick_after": 1})
    negative = client.post("/_sim/config", json={"pick_after_s": -1})
    carriers = client.post("/_sim/config", json={"carriers": []})
    changed = client.post("/_sim/config", json={"split_shipments": True}).json()
    client.post("/_sim/reset", json={"all": True})
    # then
    assert unknown.status_code == 400 and unknown.json() == {
        "error": "unknown config key: pick_after"
    }
    assert negative.json() == {"error": "pick_after_s must be a number >= 0"}
    assert carriers.json() == {"error": "carriers must be a non-empty list of non-empty strings"}
    assert changed["split_shipments"] is True
    after = state(client)
    assert (after["releases"], after["shipments"], after["by_status"]) == (0, 0, {})
    assert after["webhook_events"] == 0 and after["config"]["split_shipments"] is False
    assert client.get("/_sim/webhook_endpoints").json() == []
    assert create(client)["id"] == "REL-000001"


def test_sim_state_counts_releases_per_status(client: httpx.Client) -> None:
    # given
    first = create(client)
    second = create(client, external_ref="wms:2")
    create(client, external_ref="wms:3")
    advance(client, first["id"], times=3)
    client.post(f"/api/v1/releases/{second['id']}/cancel")
    # when
    current = state(client)
    listed = client.get("/_sim/releases").json()
    # then
    assert current["by_status"] == {"shipped": 1, "cancelled": 1, "released": 1}
    assert current["releases"] == 3 and current["shipments"] == 1
    assert [r["status"] for r in listed] == ["shipped", "cancelled", "released"]
    assert "short_pick_next" in current["faults"] and "duplicate_webhooks" in current["faults"]


def test_cli_starts_and_stops_on_sigterm() -> None:
    # given
    port = free_port()
    proc = subprocess.Popen(
        [sys.executable, "-m", "integrations.wms.simulator", "--port", str(port), "--token", "x"],
        cwd=REPO_ROOT,
        env={**os.environ, "PYTHONPATH": str(REPO_ROOT)},
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    try:
        deadline = time.monotonic() + 10
        while True:
            try:
                if httpx.get(f"http://127.0.0.1:{port}/_sim/health").status_code == 200:
                    break
            except httpx.TransportError:
                pass
            assert time.monotonic() < deadline, "simulator did not start"
            time.sleep(0.05)
        # when
        response = httpx.get(
            f"http://127.0.0.1:{port}/api/v1/releases", headers={"Authorization": "Bearer x"}
        )
        proc.send_signal(signal.SIGTERM)
        # then
        assert response.status_code == 200 and response.json() == {"count": 0, "results": []}
        assert proc.wait(timeout=5) == 0
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
