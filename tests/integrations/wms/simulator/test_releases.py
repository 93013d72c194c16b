"""WMS simulator over real HTTP, the release API: create, list, validation, auth, idempotency,
cancel of releases and lines (no Django, no database)."""

from __future__ import annotations

import httpx
import pytest

from integrations.wms.simulator import WmsSimulator
from tests.integrations.wms.simulator.support import (
    Receiver,
    advance,
    create,
    release_body,
    state,
    wait_for,
)


def test_release_create_answers_201_and_stores_the_release(client: httpx.Client) -> None:
    # when
    response = client.post(
        "/api/v1/releases", json=release_body(), headers={"X-Correlation-ID": "req-1"}
    )
    # then
    assert response.status_code == 201
    body = response.json()
    assert set(body) == {"id", "object", "status", "external_ref", "created_at"}
    assert body["id"] == "REL-000001" and body["object"] == "release"
    assert body["status"] == "released" and body["external_ref"] == "wms:woo-1001"
    assert body["created_at"].endswith("Z")
    assert response.headers["Location"] == "/api/v1/releases/REL-000001"
    stored = client.get("/api/v1/releases/REL-000001").json()
    assert stored["sales_order"] == "SO-000001" and stored["warehouse"] == "AMS1"
    assert stored["correlation_id"] == "corr-1001"
    assert stored["request_correlation_id"] == "req-1"
    assert stored["ship_to"]["city"] == "Utrecht"
    assert stored["shipments"] == []
    assert stored["lines"][0] == {
        "line_number": 1,
        "sku": "APP-TEE-001",
        "quantity": 2,
        "picked": 0,
        "shipped": 0,
        "backordered": 0,
        "cancelled": 0,
    }


def test_release_warehouse_defaults_to_main(client: httpx.Client) -> None:
    # given
    body = release_body()
    del body["warehouse"]
    # when
    created = client.post("/api/v1/releases", json=body).json()
    # then
    assert client.get(f"/api/v1/releases/{created['id']}").json()["warehouse"] == "MAIN"


def test_release_list_filters_by_external_ref_and_status(client: httpx.Client) -> None:
    # given
    create(client)
    second = create(client, external_ref="wms:woo-1002")
    client.post(f"/api/v1/releases/{second['id']}/cancel", json={})
    # when
    everything = client.get("/api/v1/releases").json()
    by_ref = client.get("/api/v1/releases", params={"external_ref": "wms:woo-1002"}).json()
    released = client.get("/api/v1/releases", params={"status": "released"}).json()
    bad = client.get("/api/v1/releases", params={"status": "lost"})
    # then
    assert everything["count"] == 2
    assert [r["id"] for r in by_ref["results"]] == ["REL-000002"]
    assert [r["id"] for r in released["results"]] == ["REL-000001"]
    assert bad.status_code == 400
    assert bad.json() == {
        "error": "validation failed",
        "fields": {
            "status": "must be one of released, picking, packed, partially_shipped, shipped, "
            "cancelled"
        },
    }


def test_release_unknown_id_is_404(client: httpx.Client) -> None:
    # when
    response = client.get("/api/v1/releases/REL-999999")
    # then
    assert response.status_code == 404 and response.json() == {"error": "not found"}


def test_release_validation_names_every_bad_field(client: httpx.Client) -> None:
    # given
    bad = release_body(
        sales_order=17,
        warehouse="",
        ship_to="Utrecht",
        lines=[
            {"line_number": 1, "sku": "A", "quantity": 0},
            {"line_number": 1, "sku": "", "quantity": 1},
            {"line_number": 0, "quantity": 1.5},
            "line",
        ],
    )
    del bad["external_ref"]
    # when
    response = client.post("/api/v1/releases", json=bad)
    # then
    assert response.status_code == 400
    assert response.json() == {
        "error": "validation failed",
        "fields": {
            "external_ref": "this field is required",
            "sales_order": "must be a non-empty string",
            "warehouse": "must be a non-empty string",
            "ship_to": "must be an object",
            "lines[0].quantity": "must be a positive integer",
            "lines[1].line_number": "must be unique within the release",
            "lines[1].sku": "must be a non-empty string",
            "lines[2].line_number": "must be a positive integer",
            "lines[2].sku": "this field is required",
            "lines[2].quantity": "must be a positive integer",
            "lines[3]": "must be an object",
        },
    }
    assert state(client)["releases"] == 0


def test_release_invalid_json_and_empty_lines_are_400(client: httpx.Client) -> None:
    # when
    broken = client.post(
        "/api/v1/releases", content=b"{nope", headers={"Content-Type": "application/json"}
    )
    empty = client.post("/api/v1/releases", json=release_body(lines=[]))
    # then
    assert broken.status_code == 400
    assert broken.json() == {"error": "invalid JSON body", "fields": {}}
    assert empty.json() == {
        "error": "validation failed",
        "fields": {"lines": "must be a non-empty list"},
    }


@pytest.mark.parametrize(
    "header", [None, "Bearer wrong", "Basic d21zLXNlY3JldC10b2tlbg==", "Bearer"]
)
def test_api_without_valid_bearer_token_is_401(wms: WmsSimulator, header: str | None) -> None:
    # given
    headers = {"Authorization": header} if header else {}
    # when
    responses = [
        httpx.post(f"{wms.url}/api/v1/releases", json=release_body(), headers=headers),
        httpx.get(f"{wms.url}/api/v1/releases", headers=headers),
        httpx.get(f"{wms.url}/api/v1/shipments/SHP-000001", headers=headers),
        httpx.post(f"{wms.url}/api/v1/releases/REL-000001/cancel", headers=headers),
    ]
    # then
    for response in responses:
        assert response.status_code == 401
        assert response.json() == {"error": "unauthorized"}
        assert response.headers["WWW-Authenticate"] == 'Bearer realm="wms"'


def test_release_idempotent_replay_returns_the_stored_answer(client: httpx.Client) -> None:
    # given
    headers = {"Idempotency-Key": "rel-1"}
    first = client.post("/api/v1/releases", json=release_body(), headers=headers)
    # when
    second = client.post("/api/v1/releases", json=release_body(), headers=headers)
    # then
    assert first.status_code == second.status_code == 201
    assert second.json() == first.json()
    assert second.headers["Idempotent-Replayed"] == "true"
    assert "Idempotent-Replayed" not in first.headers
    assert state(client)["releases"] == 1


def test_release_idempotency_key_with_other_payload_is_422(client: httpx.Client) -> None:
    # given
    headers = {"Idempotency-Key": "rel-2"}
    client.post("/api/v1/releases", json=release_body(), headers=headers)
    # when
    response = client.post(
        "/api/v1/releases", json=release_body(sales_order="SO-000009"), headers=headers
    )
    # then
    assert response.status_code == 422
    assert response.json() == {"error": "idempotency key reused with a different payload"}
    assert state(client)["releases"] == 1


def test_release_same_external_ref_is_409_with_existing_id(client: httpx.Client) -> None:
    # given
    created = create(client)
    # when
    response = client.post("/api/v1/releases", json=release_body(sales_order="SO-2"))
    # then
    assert response.status_code == 409
    assert response.json() == {
        "error": "a release with this external_ref already exists",
        "id": created["id"],
        "external_ref": "wms:woo-1001",
    }


# -- cancellation ---------------------------------------------------------------------------


def test_cancel_release_while_released_emits_release_cancelled(
    client: httpx.Client, receiver: Receiver
) -> None:
    # given
    created = create(client)
    path = f"/api/v1/releases/{created['id']}/cancel"
    # when
    first = client.post(
        path, json={"reason": "customer changed mind"}, headers={"Idempotency-Key": "c1"}
    )
    replay = client.post(
        path, json={"reason": "customer changed mind"}, headers={"Idempotency-Key": "c1"}
    )
    again = client.post(path)
    # then
    assert first.status_code == 200
    body = first.json()
    assert body["id"] == created["id"] and body["status"] == "cancelled"
    assert body["cancelled_at"].endswith("Z")
    assert replay.json() == body and replay.headers["Idempotent-Replayed"] == "true"
    assert again.status_code == 200 and again.json() == body
    stored = client.get(f"/api/v1/releases/{created['id']}").json()
    assert stored["status"] == "cancelled" and stored["cancel_reason"] == "customer changed mind"
    wait_for(lambda: receiver.types() == ["release.cancelled"])
    event = receiver.events()[0]
    assert event["data"]["object"]["id"] == created["id"]
    assert event["data"]["object"]["status"] == "cancelled"


def test_cancel_release_once_picking_is_409(client: httpx.Client) -> None:
    # given
    created = create(client)
    advance(client, created["id"])
    # when
    response = client.post(f"/api/v1/releases/{created['id']}/cancel", json={})
    # then
    assert response.status_code == 409
    assert response.json() == {
        "error": "release is picking and can no longer be cancelled",
        "id": created["id"],
        "status": "picking",
    }


def test_cancel_release_bad_input_gets_clear_errors(client: httpx.Client) -> None:
    # given
    created = create(client)
    # when
    wrong = client.post(f"/api/v1/releases/{created['id']}/cancel", json={"reason": 3})
    unknown = client.post("/api/v1/releases/REL-999999/cancel", json={})
    # then
    assert wrong.status_code == 400
    assert wrong.json() == {"error": "validation failed", "fields": {"reason": "must be a string"}}
    assert unknown.status_code == 404 and unknown.json() == {"error": "not found"}


def test_cancel_line_cancels_unpicked_units_and_the_rest_ships(client: httpx.Client) -> None:
    # given
    created = create(client)
    path = f"/api/v1/releases/{created['id']}/lines/3/cancel"
    # when
    response = client.post(path, json={"quantity": 2}, headers={"Idempotency-Key": "lc1"})
    replay = client.post(path, json={"quantity": 2}, headers={"Idempotency-Key": "lc1"})
    done = advance(client, created["id"], times=3)
    # then
    assert response.status_code == 200
    line = response.json()["lines"][2]
    assert (line["quantity"], line["cancelled"]) == (3, 2)
    assert replay.headers["Idempotent-Replayed"] == "true"
    assert replay.json()["lines"][2]["cancelled"] == 2
    assert done["release"]["status"] == "shipped"
    shipment = client.get(f"/api/v1/shipments/{done['release']['shipments'][0]}").json()
    assert [(x["line_number"], x["quantity"]) for x in shipment["lines"]] == [
        (1, 2),
        (2, 1),
        (3, 1),
    ]


def test_cancel_line_refusals_explain_why(client: httpx.Client) -> None:
    # given
    created = create(client)
    base = f"/api/v1/releases/{created['id']}/lines"
    # when
    too_many = client.post(f"{base}/2/cancel", json={"quantity": 2})
    invalid = client.post(f"{base}/2/cancel", json={"quantity": 0})
    missing = client.post(f"{base}/2/cancel", json={})
    unknown = client.post(f"{base}/9/cancel", json={"quantity": 1})
    advance(client, created["id"])
    late = client.post(f"{base}/1/cancel", json={"quantity": 1})
    # then
    assert too_many.status_code == 409
    assert too_many.json() == {
        "error": "only 1 unit(s) of line 2 can still be cancelled",
        "id": created["id"],
        "status": "released",
        "line_number": 2,
        "cancellable": 1,
    }
    assert invalid.status_code == 400
    assert invalid.json()["fields"] == {"quantity": "must be a positive integer"}
    assert missing.json()["fields"] == {"quantity": "this field is required"}
    assert unknown.status_code == 404
    assert unknown.json() == {"error": "no such line", "id": created["id"], "line_number": 9}
    assert late.status_code == 409
    assert late.json()["error"] == "release is picking and its lines can no longer be cancelled"


def test_cancel_every_line_cancels_the_release(client: httpx.Client, receiver: Receiver) -> None:
    # given
    created = create(client, lines=[{"line_number": 5, "sku": "A", "quantity": 2}])
    # when
    response = client.post(f"/api/v1/releases/{created['id']}/lines/5/cancel", json={"quantity": 2})
    # then
    assert response.json()["status"] == "cancelled"
    assert response.json()["cancel_reason"] == "all lines cancelled"
    wait_for(lambda: receiver.types() == ["release.cancelled"])


# -- progress and shipments -----------------------------------------------------------------
