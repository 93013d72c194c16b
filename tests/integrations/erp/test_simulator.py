"""ERP simulator over real HTTP (no Django, no database)."""

from __future__ import annotations

import copy
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from integrations.erp.simulator.server import ErpSimulator
from integrations.simkit import free_port

TOKEN = "secret-token"
REPO_ROOT = Path(__file__).resolve().parents[3]

ORDER: dict[str, Any] = {
    "external_ref": "woo-1001",
    "correlation_id": "corr-1001",
    "channel": "woocommerce",
    "currency": "EUR",
    "customer": {"name": "Emma de Vries", "email": "emma@example.nl"},
    "lines": [
        {"sku": "APP-TEE-001", "quantity": 2, "unit_price": "19.9500"},
        {"sku": "HOME-MUG-02", "quantity": 1, "unit_price": "12.0000"},
    ],
    "total": "51.90",
    "placed_at": "2026-11-22T10:11:12+01:00",
}


def order(**changes: Any) -> dict[str, Any]:
    body = copy.deepcopy(ORDER)
    body.update(changes)
    return body


@pytest.fixture
def erp() -> Iterator[ErpSimulator]:
    sim = ErpSimulator(host="127.0.0.1", port=0, token=TOKEN)
    sim.serve_in_thread()
    yield sim
    sim.shutdown()


@pytest.fixture
def client(erp: ErpSimulator) -> Iterator[httpx.Client]:
    with httpx.Client(
        base_url=erp.url, headers={"Authorization": f"Bearer {TOKEN}"}, timeout=5
    ) as c:
        yield c


def state(client: httpx.Client) -> dict[str, Any]:
    return client.get("/_sim/state").json()


def test_health_and_url(erp: ErpSimulator) -> None:
    assert erp.port > 0
    assert erp.url == f"http://127.0.0.1:{erp.port}"
    response = httpx.get(f"{erp.url}/_sim/health")
    assert response.status_code == 200
    assert response.json() == {"ok": True}


@pytest.mark.parametrize("header", [None, "Bearer wrong", "Basic c2VjcmV0LXRva2Vu", "Bearer"])
def test_auth_required(erp: ErpSimulator, header: str | None) -> None:
    headers = {"Authorization": header} if header else {}
    response = httpx.post(f"{erp.url}/api/v1/sales-orders", json=order(), headers=headers)
    assert response.status_code == 401
    assert response.json() == {"error": "unauthorized"}
    response = httpx.get(f"{erp.url}/api/v1/sales-orders", headers=headers)
    assert response.status_code == 401


def test_create_get_and_list(client: httpx.Client) -> None:
    response = client.post(
        "/api/v1/sales-orders", json=order(), headers={"X-Correlation-ID": "req-abc"}
    )
    assert response.status_code == 201, response.text
    body = response.json()
    assert body["id"] == "SO-000001"
    assert body["status"] == "registered"
    assert body["external_ref"] == "woo-1001"
    assert body["created_at"].endswith("Z")
    assert response.headers["Location"] == "/api/v1/sales-orders/SO-000001"

    stored = client.get("/api/v1/sales-orders/SO-000001").json()
    assert stored["request_correlation_id"] == "req-abc"
    assert stored["correlation_id"] == "corr-1001"
    assert stored["lines"][0]["sku"] == "APP-TEE-001"
    assert stored["total"] == "51.90"

    client.post("/api/v1/sales-orders", json=order(external_ref="woo-1002"))
    listing = client.get("/api/v1/sales-orders").json()
    assert listing["count"] == 2
    filtered = client.get("/api/v1/sales-orders", params={"external_ref": "woo-1002"}).json()
    assert [o["id"] for o in filtered["results"]] == ["SO-000002"]
    assert client.get("/api/v1/sales-orders/SO-999999").status_code == 404

    assert state(client)["sales_orders"] == 2
    assert state(client)["by_status"] == {"registered": 2}


def test_validation_errors(client: httpx.Client) -> None:
    bad = order(
        lines=[
            {"sku": "A", "quantity": 0, "unit_price": "1.00"},
            {"sku": "B", "quantity": 1, "unit_price": "abc"},
            {"sku": "", "quantity": -2, "unit_price": 3},
        ]
    )
    del bad["external_ref"]
    bad["total"] = "12,50"
    response = client.post("/api/v1/sales-orders", json=bad)
    assert response.status_code == 400
    body = response.json()
    assert body["error"] == "validation failed"
    assert body["fields"] == {
        "external_ref": "this field is required",
        "total": "must be a decimal string",
        "lines[0].quantity": "must be a positive integer",
        "lines[1].unit_price": "must be a decimal string",
        "lines[2].sku": "must be a non-empty string",
        "lines[2].quantity": "must be a positive integer",
        "lines[2].unit_price": "must be a decimal string",
    }
    response = client.post(
        "/api/v1/sales-orders", content=b"{not json", headers={"Content-Type": "application/json"}
    )
    assert response.status_code == 400
    assert response.json()["error"] == "invalid JSON body"
    assert client.post("/api/v1/sales-orders", json=order(lines=[])).json()["fields"] == {
        "lines": "must be a non-empty list"
    }
    assert state(client)["sales_orders"] == 0


def test_idempotent_replay_returns_same_response(client: httpx.Client) -> None:
    headers = {"Idempotency-Key": "idem-1"}
    first = client.post("/api/v1/sales-orders", json=order(), headers=headers)
    second = client.post("/api/v1/sales-orders", json=order(), headers=headers)
    assert first.status_code == second.status_code == 201
    assert first.json() == second.json()
    assert second.headers["Idempotent-Replayed"] == "true"
    assert state(client)["sales_orders"] == 1


def test_idempotency_key_reused_with_different_payload(client: httpx.Client) -> None:
    headers = {"Idempotency-Key": "idem-2"}
    assert client.post("/api/v1/sales-orders", json=order(), headers=headers).status_code == 201
    response = client.post("/api/v1/sales-orders", json=order(total="99.00"), headers=headers)
    assert response.status_code == 422
    assert response.json() == {"error": "idempotency key reused with a different payload"}
    assert state(client)["sales_orders"] == 1


def test_duplicate_external_ref_conflict(client: httpx.Client) -> None:
    created = client.post("/api/v1/sales-orders", json=order()).json()
    response = client.post("/api/v1/sales-orders", json=order())
    assert response.status_code == 409
    assert response.json()["id"] == created["id"]
    assert state(client)["sales_orders"] == 1


def test_fail_next_then_success(client: httpx.Client) -> None:
    plan = client.post("/_sim/faults", json={"fail_next": 2, "fail_status": 503}).json()
    assert plan["fail_next"] == 2
    statuses = [
        client.post(
            "/api/v1/sales-orders", json=order(), headers={"Idempotency-Key": "k"}
        ).status_code
        for _ in range(3)
    ]
    assert statuses == [503, 503, 201]
    assert client.get("/_sim/health").status_code == 200  # /_sim is never faulted
    assert state(client)["sales_orders"] == 1
    log = client.get("/_sim/requests").json()
    assert [(e["status"], e["fault"], e["idempotency_key"]) for e in log] == [
        (503, "fail", "k"),
        (503, "fail", "k"),
        (201, None, "k"),
    ]


def test_rate_limit_with_retry_after(client: httpx.Client) -> None:
    client.post("/_sim/faults", json={"rate_limit_next": 1, "retry_after": 7})
    response = client.post("/api/v1/sales-orders", json=order())
    assert response.status_code == 429
    assert response.headers["Retry-After"] == "7"
    assert client.post("/api/v1/sales-orders", json=order()).status_code == 201


def test_timeout_mode_still_creates_order(client: httpx.Client) -> None:
    client.post("/_sim/faults", json={"timeout_next": 1, "timeout_seconds": 2})
    started = time.monotonic()
    with pytest.raises(httpx.ReadTimeout):
        client.post(
            "/api/v1/sales-orders",
            json=order(),
            headers={"Idempotency-Key": "slow-1"},
            timeout=0.5,
        )
    assert time.monotonic() - started < 1.5
    assert state(client)["sales_orders"] == 1
    # The client's retry with the same key is answered from the idempotency store.
    retry = client.post("/api/v1/sales-orders", json=order(), headers={"Idempotency-Key": "slow-1"})
    assert retry.status_code == 201
    assert retry.json()["id"] == "SO-000001"
    assert state(client)["sales_orders"] == 1


def test_fault_config_validation_and_reset(client: httpx.Client) -> None:
    assert client.post("/_sim/faults", json={"nope": 1}).status_code == 400
    assert client.post("/_sim/faults", json={"fail_next": -1}).status_code == 400
    client.post("/_sim/faults", json={"fail_next": 5, "latency_ms": 10})
    reset = client.post("/_sim/reset").json()
    assert reset["faults"]["fail_next"] == 0
    assert reset["faults"]["latency_ms"] == 0
    assert client.post("/api/v1/sales-orders", json=order()).status_code == 201
    client.post("/_sim/reset", json={"all": True})
    assert state(client) == {
        "sales_orders": 0,
        "requests": 0,
        "by_status": {},
        "faults": client.get("/_sim/faults").json(),
    }


def test_keep_alive_connection_reused(erp: ErpSimulator) -> None:
    with httpx.Client(base_url=erp.url, headers={"Authorization": f"Bearer {TOKEN}"}) as c:
        ports = set()
        for _ in range(3):
            response = c.get("/api/v1/sales-orders")
            assert response.http_version == "HTTP/1.1"
            stream = response.extensions["network_stream"]
            ports.add(stream.get_extra_info("client_addr")[1])
        assert len(ports) == 1


def test_cli_starts_and_stops_on_sigterm() -> None:
    port = free_port()
    proc = subprocess.Popen(
        [sys.executable, "-m", "integrations.erp.simulator", "--port", str(port), "--token", "x"],
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
        response = httpx.get(
            f"http://127.0.0.1:{port}/api/v1/sales-orders", headers={"Authorization": "Bearer x"}
        )
        assert response.status_code == 200
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=5) == 0
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()


def test_cancel_sales_order_cancels_once_and_replays_by_key(client: httpx.Client) -> None:
    # given
    created = client.post("/api/v1/sales-orders", json=order()).json()
    path = f"/api/v1/sales-orders/{created['id']}/cancel"
    # when
    first = client.post(
        path, json={"reason": "deleted in store"}, headers={"Idempotency-Key": "c1"}
    )
    again = client.post(
        path, json={"reason": "deleted in store"}, headers={"Idempotency-Key": "c1"}
    )
    unkeyed = client.post(path, json={})
    # then
    assert first.status_code == 200
    assert first.json()["status"] == "cancelled"
    assert again.json() == first.json() and again.headers["Idempotent-Replayed"] == "true"
    assert unkeyed.status_code == 200 and unkeyed.json()["status"] == "cancelled"
    stored = client.get(f"/api/v1/sales-orders/{created['id']}").json()
    assert stored["status"] == "cancelled" and stored["cancel_reason"] == "deleted in store"


def test_cancel_sales_order_after_shipping_is_refused(client: httpx.Client) -> None:
    # given
    created = client.post("/api/v1/sales-orders", json=order()).json()
    client.post(f"/_sim/sales-orders/{created['id']}/status", json={"status": "shipped"})
    # when
    response = client.post(f"/api/v1/sales-orders/{created['id']}/cancel", json={})
    # then
    assert response.status_code == 409
    assert response.json() == {
        "error": "sales order is shipped and can no longer be cancelled",
        "id": created["id"],
        "status": "shipped",
    }


def test_cancel_sales_order_bad_input_gets_clear_errors(client: httpx.Client) -> None:
    # given
    created = client.post("/api/v1/sales-orders", json=order()).json()
    path = f"/api/v1/sales-orders/{created['id']}/cancel"
    # when
    wrong_type = client.post(path, json={"reason": 7})
    unknown = client.post("/api/v1/sales-orders/SO-999999/cancel", json={})
    # then
    assert wrong_type.status_code == 400
    assert wrong_type.json() == {
        "error": "validation failed",
        "fields": {"reason": "must be a string"},
    }
    assert unknown.status_code == 404 and unknown.json() == {"error": "not found"}
    assert client.get(f"/api/v1/sales-orders/{created['id']}").json()["status"] == "registered"
