"""WMS connector fixtures: the connection, a release-ready order made by the domain services, the
warehouse simulator over real HTTP, and signed event envelopes as the warehouse sends them."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from django.test import Client

from controltower.catalog.choices import SystemKind
from controltower.orders.models import Order
from integrations.runtime.models import Connection
from integrations.runtime.signing import signature_header
from tests.factories import lifecycle

WMS_TOKEN = "test-wms-token"
WMS_SECRET = "whsec_wms_test"
SLUG = "wms-main"
HOOK = f"/hooks/wms/{SLUG}/"
# The simulator moves nothing by itself unless a test asks it to.
MANUAL = {"auto_progress": False}


def wms_connection(
    *, base_url: str = "http://127.0.0.1:9", secrets: list[str] | None = None, **extra: Any
) -> Connection:
    extra.setdefault("timeout_s", 5)
    connection = Connection(
        slug=SLUG, name="Warehouse", kind=SystemKind.WMS, base_url=base_url, **extra
    )
    connection.set_credentials(
        {"token": WMS_TOKEN, "webhook_secrets": secrets or [WMS_SECRET], "warehouse": "AMS1"}
    )
    connection.save()
    return connection


def make_order(number: int = 1001) -> Order:
    """A web order for 2 tees and 1 cap, accepted as the storefront connector would."""
    return lifecycle.web_order(number)


def make_release_ready(order: Order) -> Order:
    """Money captured at the gateway and the order registered in the ERP: the domain announces
    ``order_release_ready`` (and the WMS connector queues the release)."""
    return lifecycle.take_to(order, "registered")


def release(order: Order, reference: str = "REL-000001") -> Order:
    return lifecycle.release(order, reference, connection=SLUG)


# --- what the warehouse sends --------------------------------------------------------------------
def release_object(
    order: Order, status: str, *, reference: str = "REL-000001", **extra: Any
) -> dict[str, Any]:
    lines = [
        {
            "line_number": line.line_number,
            "sku": line.sku_code,
            "quantity": line.quantity,
            "picked": 0,
            "shipped": 0,
            "backordered": 0,
            "cancelled": 0,
        }
        for line in order.lines.order_by("line_number")
    ]
    return {
        "id": reference,
        "object": "release",
        "external_ref": f"{order.channel.code}-{order.number}",
        "correlation_id": str(order.correlation_id),
        "sales_order": order.erp_reference,
        "warehouse": "AMS1",
        "status": status,
        "lines": lines,
        "shipments": [],
        "cancel_reason": None,
        **extra,
    }


def shipment_object(
    order: Order,
    shipment_id: str,
    lines: dict[int, int],
    *,
    reference: str = "REL-000001",
    tracking: str = "",
) -> dict[str, Any]:
    held = {line.line_number: line.sku_code for line in order.lines.all()}
    return {
        "id": shipment_id,
        "object": "shipment",
        "release": reference,
        "external_ref": f"{order.channel.code}-{order.number}",
        "correlation_id": str(order.correlation_id),
        "sales_order": order.erp_reference,
        "warehouse": "AMS1",
        "carrier": "DHL",
        "tracking_number": tracking or f"JVGL{shipment_id[-6:]:0>16}",
        "shipped_at": "2026-11-22T11:00:00.000Z",
        "lines": [
            {"line_number": n, "sku": held.get(n, "UNKNOWN"), "quantity": q}
            for n, q in lines.items()
        ],
    }


_sequence = iter(range(1, 10**6))


def envelope(event_type: str, obj: dict[str, Any], *, event_id: str = "") -> dict[str, Any]:
    return {
        "id": event_id or f"evt_{next(_sequence):08d}",
        "object": "event",
        "type": event_type,
        "created": int(time.time()),
        "data": {"object": obj},
    }


def signed(body: bytes, secrets: list[str] | None = None, *, at: int | None = None) -> dict:
    return {"WMS-Signature": signature_header(secrets or [WMS_SECRET], body, at)}


def post_event(client: Client, event: dict[str, Any] | bytes, **signing: Any) -> Any:
    body = event if isinstance(event, bytes) else json.dumps(event).encode()
    return client.post(
        HOOK, data=body, content_type="application/json", headers=signed(body, **signing)
    )


# --- the simulator -------------------------------------------------------------------------------
@pytest.fixture
def wms_simulator() -> Iterator[Any]:
    """The WMS simulator over real HTTP, moving releases only when a test says so."""
    from integrations.wms.simulator import WmsSimulator

    sim = WmsSimulator(token=WMS_TOKEN, config=MANUAL, seed=7, webhook_retry_base_s=0.2)
    sim.serve_in_thread()
    try:
        yield sim
    finally:
        sim.shutdown()


def sim_post(sim: Any, path: str, payload: dict[str, Any]) -> httpx.Response:
    return httpx.post(f"{sim.url}{path}", json=payload, timeout=10)


def sim_releases(sim: Any) -> list[dict[str, Any]]:
    response = httpx.get(
        f"{sim.url}/api/v1/releases", headers={"Authorization": f"Bearer {WMS_TOKEN}"}
    )
    return response.json()["results"]
