"""What the ERP simulator's invoicing tests share: orders and shipments to send, a webhook
receiver and small steps; the fixtures are in this folder's conftest.py."""

from __future__ import annotations

import copy
import json
import threading
import time
from collections.abc import Callable
from typing import Any

import httpx

from integrations.simhooks import timestamped_signature as sign
from integrations.simkit import JsonHTTPServer, Request, Response, json_response

TOKEN = "secret-token"
SECRET = "whsec-test"
TOLERANCE_S = 300

ORDER: dict[str, Any] = {
    "external_ref": "woo-web-1001",
    "correlation_id": "corr-1001",
    "channel": "woo-web",
    "currency": "EUR",
    "customer": {"name": "Emma de Vries"},
    "lines": [
        {
            "line_number": 1,
            "sku": "APP-TEE-001",
            "name": "Tee",
            "quantity": 3,
            "unit_price": "10.0000",
            "discount": "1.0000",
            "tax": "6.0900",
            "tax_code": "HIGH",
            "total": "29.0000",
        },
        {
            "line_number": 2,
            "sku": "HOME-MUG-02",
            "quantity": 1,
            "unit_price": "12.0000",
            "discount": "0.0000",
            "tax": "2.5200",
            "total": "12.0000",
        },
    ],
    "shipping": "4.9500",
    "tax": "9.6500",
    "total": "55.6000",
    "placed_at": "2026-11-22T10:11:12+01:00",
}


def order(**changes: Any) -> dict[str, Any]:
    body = copy.deepcopy(ORDER)
    body.update(changes)
    return body


def shipment(ref: str = "SHP-1", lines: list[tuple[int, str, int]] | None = None) -> dict:
    lines = lines if lines is not None else [(1, "APP-TEE-001", 3), (2, "HOME-MUG-02", 1)]
    return {
        "shipment_ref": ref,
        "shipped_at": "2026-11-23T08:00:00Z",
        "carrier": "postnl",
        "tracking_number": "3STEST123",
        "lines": [{"line_number": n, "sku": sku, "quantity": q} for n, sku, q in lines],
    }


class Receiver(JsonHTTPServer):
    """A webhook endpoint that records what it gets."""

    name = "erp-webhook-receiver"

    def __init__(self) -> None:
        super().__init__(port=0)
        self.received: list[dict[str, Any]] = []
        self._got = threading.Lock()
        self.route("POST", r"/hooks", self.hook)

    def hook(self, request: Request) -> Response:
        header = request.header("ERP-Signature") or ""
        parts = [part.partition("=") for part in header.split(",")]
        timestamp = int(next(value for name, _, value in parts if name == "t"))
        signatures = [value for name, _, value in parts if name == "v1"]
        with self._got:
            self.received.append(
                {
                    "event": json.loads(request.body),
                    "body": request.body,
                    "t": timestamp,
                    "v1": signatures,
                    "user_agent": request.header("User-Agent"),
                }
            )
        return json_response({"ok": True})

    def events(self, event_type: str | None = None) -> list[dict[str, Any]]:
        with self._got:
            return [r for r in self.received if event_type in (None, r["event"]["type"])]


def signed_by(received: dict[str, Any], secret: str) -> bool:
    return sign(secret, received["body"], received["t"]) in received["v1"]


def fresh(received: dict[str, Any]) -> bool:
    return abs(time.time() - received["t"]) <= TOLERANCE_S


def wait_for(check: Callable[[], Any], timeout: float = 3.0) -> Any:
    deadline = time.monotonic() + timeout
    while not (result := check()):
        assert time.monotonic() < deadline, f"timed out waiting for {check}"
        time.sleep(0.02)
    return result


def create(client: httpx.Client, **changes: Any) -> str:
    response = client.post("/api/v1/sales-orders", json=order(**changes))
    assert response.status_code == 201, response.text
    return response.json()["id"]


def ship(client: httpx.Client, order_id: str, body: dict, **headers: str) -> httpx.Response:
    return client.post(f"/api/v1/sales-orders/{order_id}/shipments", json=body, headers=headers)


def invoices(client: httpx.Client, order_id: str) -> list[dict[str, Any]]:
    return client.get("/api/v1/invoices", params={"sales_order": order_id}).json()["results"]


def invoiced(client: httpx.Client, order_id: str, count: int) -> list[dict[str, Any]]:
    return wait_for(lambda: len(found := invoices(client, order_id)) >= count and found)


def sales_order(client: httpx.Client, order_id: str) -> dict[str, Any]:
    return client.get(f"/api/v1/sales-orders/{order_id}").json()


def faults(client: httpx.Client, **plan: Any) -> None:
    assert client.post("/_sim/faults", json=plan).status_code == 200
