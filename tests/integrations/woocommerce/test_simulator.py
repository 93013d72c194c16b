"""WooCommerce simulator over real HTTP: REST API v3 and webhook deliveries (no Django)."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import os
import re
import signal
import subprocess
import sys
import time
from collections import defaultdict
from collections.abc import Iterator
from decimal import Decimal
from pathlib import Path
from typing import Any

import httpx
import pytest

from integrations.simkit import free_port
from integrations.woocommerce.simulator.server import HOOKSHOT_USER_AGENT, WooCommerceSimulator
from tests.integrations.woocommerce.test_simulator_support import (
    API,
    CK,
    CS,
    SECRET,
    Receiver,
    oauth,
    wait_for,
)

WC_DATE = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}$")
MONEY = re.compile(r"^-?\d+\.\d{2}$")
REPO_ROOT = Path(__file__).resolve().parents[3]


@pytest.fixture
def woo() -> Iterator[WooCommerceSimulator]:
    sim = WooCommerceSimulator(port=0, consumer_key=CK, consumer_secret=CS, seed=42)
    sim.serve_in_thread()
    yield sim
    sim.shutdown()


@pytest.fixture
def client(woo: WooCommerceSimulator) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=woo.url, auth=oauth(), timeout=5) as c:
        yield c


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    r = Receiver()
    yield r
    r.close()


def create_webhook(client: httpx.Client, receiver: Receiver, topic: str = "order.created") -> int:
    response = client.post(
        f"{API}/webhooks",
        json={
            "name": "Control Tower",
            "topic": topic,
            "delivery_url": receiver.url,
            "secret": SECRET,
            "status": "active",
        },
    )
    assert response.status_code == 201, response.text
    webhook_id = response.json()["id"]
    wait_for(lambda: receiver.received("ping"))
    return webhook_id


def assert_totals_add_up(order: dict[str, Any]) -> None:
    lines = sum(Decimal(li["total"]) for li in order["line_items"])
    line_tax = sum(Decimal(li["total_tax"]) for li in order["line_items"])
    shipping = sum(Decimal(sl["total"]) for sl in order["shipping_lines"])
    shipping_tax = sum(Decimal(sl["total_tax"]) for sl in order["shipping_lines"])
    assert Decimal(order["cart_tax"]) == line_tax
    assert Decimal(order["shipping_total"]) == shipping
    assert Decimal(order["shipping_tax"]) == shipping_tax
    assert Decimal(order["total_tax"]) == line_tax + shipping_tax
    assert Decimal(order["total"]) == lines + shipping + line_tax + shipping_tax
    tax_line = order["tax_lines"][0]
    assert Decimal(tax_line["tax_total"]) == line_tax
    assert Decimal(tax_line["shipping_tax_total"]) == shipping_tax
    for key in ("discount_total", "shipping_total", "shipping_tax", "cart_tax", "total"):
        assert isinstance(order[key], str) and MONEY.match(order[key]), key
    for line in order["line_items"]:
        for key in ("subtotal", "subtotal_tax", "total", "total_tax"):
            assert isinstance(line[key], str) and MONEY.match(line[key]), key
        assert isinstance(line["price"], float | int)
        assert Decimal(line["subtotal"]) == Decimal(str(line["price"])) * line["quantity"]


def test_pagination_headers_and_per_page_limit(client: httpx.Client) -> None:
    client.post("/_sim/orders", json={"count": 5})
    response = client.get(f"{API}/orders", params={"per_page": 2})
    assert response.status_code == 200
    assert response.headers["X-WP-Total"] == "5"
    assert response.headers["X-WP-TotalPages"] == "3"
    assert 'rel="next"' in response.headers["Link"]
    assert [o["id"] for o in response.json()] == [1005, 1004]  # newest first by default
    last = client.get(f"{API}/orders", params={"per_page": 2, "page": 3, "order": "asc"})
    assert [o["id"] for o in last.json()] == [1005]

    too_many = client.get(f"{API}/orders", params={"per_page": 101})
    assert too_many.status_code == 400
    body = too_many.json()
    assert body["code"] == "rest_invalid_param"
    assert body["data"]["status"] == 400
    assert body["data"]["params"]["per_page"] == (
        "per_page must be between 1 (inclusive) and 100 (inclusive)"
    )
    assert client.get(f"{API}/orders", params={"orderby": "bogus"}).status_code == 400

    products = client.get(f"{API}/products", params={"per_page": 100, "type": "simple"})
    assert products.headers["X-WP-Total"] == "12"
    product = products.json()[0]
    assert isinstance(product["price"], str) and isinstance(product["stock_quantity"], int)
    every = client.get(f"{API}/products", params={"per_page": 100}).json()
    assert {p["type"] for p in every} == {"simple", "variable"}  # variations are not listed


def test_rest_create_and_update_order(client: httpx.Client) -> None:
    response = client.post(
        f"{API}/orders",
        json={
            "set_paid": True,
            "billing": {"first_name": "Emma", "last_name": "de Vries", "email": "e@example.nl"},
            "line_items": [
                {"sku": "APP-TEE-001", "quantity": 3},
                {"product_id": 130, "variation_id": 132, "quantity": 1},
            ],
        },
    )
    assert response.status_code == 201, response.text
    order = response.json()
    assert order["status"] == "processing"
    assert order["currency"] == "EUR"
    assert order["created_via"] == "rest-api"
    assert order["shipping_total"] == "4.95"
    assert order["shipping"]["first_name"] == "Emma"
    assert [li["sku"] for li in order["line_items"]] == ["APP-TEE-001", "KN-MER-M"]
    assert order["line_items"][0]["subtotal"] == "59.85"
    assert order["line_items"][0]["price"] == 19.95
    assert order["line_items"][1]["parent_name"] == "Merino Crew Sweater"
    assert order["total"] == "174.00"  # 59.85 + 79.00 + 4.95 + VAT(12.57 + 16.59 + 1.04)
    assert_totals_add_up(order)
    for key in ("date_created", "date_created_gmt", "date_modified_gmt", "date_paid"):
        assert WC_DATE.match(order[key]), key
    assert order["date_completed"] is None

    bad = client.post(f"{API}/orders", json={"line_items": [{"sku": "NOPE", "quantity": 1}]})
    assert bad.status_code == 400
    assert bad.json()["code"] == "woocommerce_rest_invalid_product_id"

    updated = client.put(f"{API}/orders/{order['id']}", json={"status": "completed"}).json()
    assert updated["status"] == "completed"
    assert WC_DATE.match(updated["date_completed_gmt"])
    assert updated["date_modified_gmt"] >= order["date_modified_gmt"]
    assert client.get(f"{API}/orders/{order['id']}").json()["status"] == "completed"
    assert client.get(f"{API}/orders/99999").status_code == 404

    # modified_after is strict, at second resolution, like WordPress' date query.
    after = client.get(
        f"{API}/orders",
        params={"modified_after": updated["date_modified_gmt"], "dates_are_gmt": "true"},
    )
    assert after.json() == []
    assert after.headers["X-WP-Total"] == "0"


def test_webhook_creation_sends_form_encoded_ping(client: httpx.Client, receiver: Receiver) -> None:
    webhook_id = create_webhook(client, receiver)
    (ping,) = receiver.received("ping")
    assert ping["headers"]["Content-Type"] == "application/x-www-form-urlencoded"
    assert ping["body"] == f"webhook_id={webhook_id}".encode()
    assert "X-WC-Webhook-Signature" not in ping["headers"]
    hook = client.get(f"{API}/webhooks/{webhook_id}").json()
    assert hook["status"] == "active"
    assert hook["topic"] == "order.created"
    assert hook["resource"] == "order" and hook["event"] == "created"
    assert client.get(f"{API}/webhooks").headers["X-WP-Total"] == "1"


def test_order_creation_delivers_signed_webhook(
    woo: WooCommerceSimulator, client: httpx.Client, receiver: Receiver
) -> None:
    webhook_id = create_webhook(client, receiver)
    order = client.post(
        f"{API}/orders", json={"line_items": [{"sku": "ACC-BEA-07", "quantity": 1}]}
    ).json()
    (delivery,) = wait_for(lambda: receiver.received("event"))
    headers, body = delivery["headers"], delivery["body"]
    expected_signature = base64.b64encode(
        hmac.new(SECRET.encode(), body, hashlib.sha256).digest()
    ).decode()
    assert headers["X-WC-Webhook-Signature"] == expected_signature
    assert headers["Content-Type"] == "application/json"
    assert headers["User-Agent"] == HOOKSHOT_USER_AGENT
    assert HOOKSHOT_USER_AGENT == "WooCommerce/9.4.0 Hookshot (WordPress/6.7)"
    assert headers["X-WC-Webhook-Source"] == f"{woo.url}/"
    assert headers["X-WC-Webhook-Topic"] == "order.created"
    assert headers["X-WC-Webhook-Resource"] == "order"
    assert headers["X-WC-Webhook-Event"] == "created"
    assert headers["X-WC-Webhook-ID"] == str(webhook_id)
    assert re.fullmatch(r"[0-9a-f]{32}", headers["X-WC-Webhook-Delivery-ID"])
    assert json.loads(body) == order

    records = wait_for(lambda: [d for d in woo.deliveries() if d["kind"] == "event"])
    assert records[0]["order_id"] == order["id"]
    assert records[0]["status_code"] == 200
    assert records[0]["duration_ms"] >= 0
    assert client.get("/_sim/deliveries").json()[-1]["webhook_id"] == webhook_id
    state = client.get("/_sim/state").json()
    assert (state["orders"], state["webhooks"], state["deliveries"]) == (1, 1, 2)

    client.put(f"{API}/orders/{order['id']}", json={"status": "completed"})
    time.sleep(0.1)
    assert len(receiver.received("event")) == 1  # not subscribed to order.updated


def test_delivery_id_is_not_unique_within_a_second(
    client: httpx.Client, receiver: Receiver
) -> None:
    create_webhook(client, receiver)
    client.post("/_sim/faults", json={"duplicate_deliveries": 1})
    wait_for(lambda: time.time() % 1 < 0.4, timeout=2)  # start early in a second
    client.post("/_sim/orders", json={"count": 2})
    events = wait_for(lambda: len(receiver.received("event")) == 4 and receiver.received("event"))
    by_order: dict[int, list[str]] = defaultdict(list)
    for event in events:
        by_order[json.loads(event["body"])["id"]].append(
            event["headers"]["X-WC-Webhook-Delivery-ID"]
        )
    assert sorted(by_order) == [1001, 1002]
    delivery_ids = [e["headers"]["X-WC-Webhook-Delivery-ID"] for e in events]
    assert len(set(delivery_ids)) == 1  # 2 orders x 2 copies, all in the same second


def test_webhook_disabled_after_five_failures(
    woo: WooCommerceSimulator, client: httpx.Client, receiver: Receiver
) -> None:
    receiver.status = 500
    webhook_id = create_webhook(client, receiver)
    client.post("/_sim/orders", json={"count": 5})
    wait_for(lambda: len(receiver.received("event")) == 5)
    wait_for(lambda: client.get(f"{API}/webhooks/{webhook_id}").json()["status"] == "disabled")
    failed = [d for d in woo.deliveries() if d["kind"] == "event"]
    assert [d["status_code"] for d in failed] == [500] * 5
    assert [d["failure_count"] for d in failed] == [1, 2, 3, 4, 5]
    client.post("/_sim/orders", json={"count": 1})
    time.sleep(0.15)
    assert len(receiver.received("event")) == 5  # never retried, nothing more sent


def test_generator_creates_believable_orders(client: httpx.Client) -> None:
    response = client.post("/_sim/orders", json={"count": 7})
    assert response.status_code == 201
    assert response.json()["count"] == 7
    assert client.get("/_sim/state").json()["orders"] == 7
    orders = client.get(f"{API}/orders", params={"per_page": 100}).json()
    assert len(orders) == 7
    for order in orders:
        assert order["status"] == "processing"
        assert order["payment_method"] == "stripe"
        assert order["currency"] == "EUR"
        assert order["created_via"] == "checkout"
        assert 1 <= len(order["line_items"]) <= 4
        assert order["shipping_lines"][0]["total"] == "4.95"
        assert order["tax_lines"][0]["rate_percent"] == 21
        assert order["billing"]["country"] in {"NL", "BE", "DE", "FR", "ES"}
        assert "@" in order["billing"]["email"] and order["billing"]["last_name"]
        assert order["date_paid_gmt"] is not None
        assert_totals_add_up(order)


def test_custom_catalog_rate_and_shuffle(
    woo: WooCommerceSimulator, client: httpx.Client, receiver: Receiver
) -> None:
    catalog = [
        {"sku": "X-1", "name": "Thing One", "price": "10.00", "product_id": 1},
        {"sku": "X-2", "name": "Thing Two", "price": 5.5, "product_id": 2},
    ]
    assert client.post("/_sim/catalog", json=catalog).json() == {"items": 2}
    assert client.post("/_sim/catalog", json=[{"sku": "bad"}]).status_code == 400

    create_webhook(client, receiver)
    client.post("/_sim/faults", json={"shuffle_deliveries": True})
    created = client.post("/_sim/orders", json={"count": 4}).json()["created"]
    events = wait_for(lambda: len(receiver.received("event")) == 4 and receiver.received("event"))
    delivered = [json.loads(e["body"])["id"] for e in events]
    assert sorted(delivered) == created
    assert delivered != created  # out of order

    assert client.post("/_sim/rate", json={"rate": 25}).json() == {"rate": 25}
    wait_for(lambda: client.get("/_sim/state").json()["orders"] >= 6, timeout=3)
    client.post("/_sim/rate", json={"rate": 0})
    orders = client.get(f"{API}/orders", params={"per_page": 100}).json()
    assert {li["sku"] for o in orders for li in o["line_items"]} <= {"X-1", "X-2"}


def test_rest_faults_apply_to_wp_json_only(client: httpx.Client) -> None:
    client.post("/_sim/faults", json={"fail_next": 1, "rate_limit_next": 1, "retry_after": 3})
    limited = client.get(f"{API}/orders")
    assert limited.status_code == 429
    assert limited.headers["Retry-After"] == "3"
    assert client.get("/_sim/state").status_code == 200
    failed = client.get(f"{API}/orders")
    assert failed.status_code == 500
    assert failed.json()["code"] == "internal_server_error"
    assert client.get(f"{API}/orders").status_code == 200


def test_cli_with_catalog_file_stops_on_sigterm(tmp_path: Path) -> None:
    catalog = tmp_path / "catalog.json"
    catalog.write_text(
        json.dumps([{"sku": "CLI-1", "name": "Cli Thing", "price": "3.00", "product_id": 9}])
    )
    port = free_port()
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "integrations.woocommerce.simulator",
            *("--port", str(port), "--consumer-key", CK, "--consumer-secret", CS),
            *("--catalog", str(catalog), "--rate", "0"),
        ],
        cwd=REPO_ROOT,
        env={**os.environ, "PYTHONPATH": str(REPO_ROOT)},
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    base = f"http://127.0.0.1:{port}"
    try:

        def healthy() -> bool:
            try:
                return httpx.get(f"{base}/_sim/health").status_code == 200
            except httpx.TransportError:
                return False

        wait_for(healthy, timeout=10)
        products = httpx.get(f"{base}{API}/products", auth=oauth()).json()
        assert [p["sku"] for p in products] == ["CLI-1"]
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=5) == 0
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
