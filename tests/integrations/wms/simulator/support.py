"""What the WMS simulator's tests share: a release body, a webhook receiver and small steps
(create, advance, state); the fixtures are in this folder's conftest.py."""

from __future__ import annotations

import copy
import hmac
import json
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx

from integrations.simhooks import timestamped_signature as sign
from integrations.simkit import JsonHTTPServer, Request, Response, json_response

TOKEN = "wms-secret-token"
SECRET = "whsec_test"
REPO_ROOT = Path(__file__).resolve().parents[4]
FAST = {"pick_after_s": 0.05, "pack_after_s": 0.05, "ship_after_s": 0.05, "split_gap_s": 0.05}

RELEASE: dict[str, Any] = {
    "external_ref": "wms:woo-1001",
    "correlation_id": "corr-1001",
    "sales_order": "SO-000001",
    "warehouse": "AMS1",
    "ship_to": {"name": "Emma de Vries", "city": "Utrecht", "country": "NL"},
    "lines": [
        {"line_number": 1, "sku": "APP-TEE-001", "quantity": 2},
        {"line_number": 2, "sku": "HOME-MUG-02", "quantity": 1},
        {"line_number": 3, "sku": "HOME-CUP-03", "quantity": 3},
    ],
}


def release_body(**changes: Any) -> dict[str, Any]:
    body = copy.deepcopy(RELEASE)
    body.update(changes)
    return body


class Receiver(JsonHTTPServer):
    """A webhook receiver recording every delivery (optionally failing the first N)."""

    name = "wms-test-receiver"

    def __init__(self) -> None:
        super().__init__(host="127.0.0.1", port=0)
        self.lock = threading.Lock()
        self.received: list[tuple[dict[str, str], bytes]] = []
        self.fail_first = 0
        self.route("POST", r"/hook", self._hook)

    def _hook(self, request: Request) -> Response:
        with self.lock:
            self.received.append((dict(request.headers), request.body))
            if self.fail_first > 0:
                self.fail_first -= 1
                return json_response({"error": "receiver down"}, 503)
        return json_response({"ok": True})

    def events(self) -> list[dict[str, Any]]:
        with self.lock:
            return [json.loads(body) for _, body in self.received]

    def types(self) -> list[str]:
        return [event["type"] for event in self.events()]


def parse_signature(header: str) -> tuple[int, list[str]]:
    parts = [part.split("=", 1) for part in header.split(",")]
    timestamp = next(int(value) for name, value in parts if name == "t")
    return timestamp, [value for name, value in parts if name == "v1"]


def signature_ok(header: str, body: bytes, secret: str, tolerance_s: int = 300) -> bool:
    timestamp, signatures = parse_signature(header)
    if abs(time.time() - timestamp) > tolerance_s:
        return False
    expected = sign(secret, body, timestamp)
    return any(hmac.compare_digest(expected, candidate) for candidate in signatures)


def wait_for(predicate: Callable[[], bool], timeout: float = 3.0) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        assert time.monotonic() < deadline, "condition not reached in time"
        time.sleep(0.01)


def create(client: httpx.Client, **changes: Any) -> dict[str, Any]:
    response = client.post("/api/v1/releases", json=release_body(**changes))
    assert response.status_code == 201, response.text
    return response.json()


def advance(client: httpx.Client, release_id: str, times: int = 1) -> dict[str, Any]:
    body: dict[str, Any] = {}
    for _ in range(times):
        response = client.post(f"/_sim/releases/{release_id}/advance")
        assert response.status_code == 200, response.text
        body = response.json()
    return body


def state(client: httpx.Client) -> dict[str, Any]:
    return client.get("/_sim/state").json()


# -- releases -------------------------------------------------------------------------------
