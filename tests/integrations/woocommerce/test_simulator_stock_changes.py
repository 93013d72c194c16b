"""WooCommerce simulator: ``GET /_sim/stock-changes``, its record of when stock changed."""

from __future__ import annotations

import time
from collections.abc import Iterator

import httpx
import pytest

from integrations.woocommerce.simulator.server import WooCommerceSimulator
from tests.integrations.woocommerce.test_simulator_support import API, CK, CS, oauth

CATALOG = [
    {"sku": "S-1", "name": "Simple one", "price": "5.00", "product_id": 11, "stock_quantity": 3},
    {"sku": "S-2", "name": "Simple two", "price": "6.00", "product_id": 12, "stock_quantity": 4},
    {
        "sku": "V-M",
        "name": "Varied - M",
        "price": "9.00",
        "product_id": 20,
        "variation_id": 21,
        "stock_quantity": 1,
    },
]


@pytest.fixture
def woo() -> Iterator[WooCommerceSimulator]:
    sim = WooCommerceSimulator(port=0, consumer_key=CK, consumer_secret=CS, catalog=CATALOG)
    sim.serve_in_thread()
    yield sim
    sim.shutdown()


@pytest.fixture
def client(woo: WooCommerceSimulator) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=woo.url, auth=oauth(), timeout=5) as c:
        yield c


def test_stock_changes_records_batch_and_variation_updates_in_order(
    client: httpx.Client,
) -> None:
    # given
    start = client.get("/_sim/stock-changes").json()
    before = time.time()
    # when
    client.post(
        f"{API}/products/batch",
        json={"update": [{"id": 11, "stock_quantity": 7}, {"id": 12, "stock_quantity": 4}]},
    ).raise_for_status()
    client.put(f"{API}/products/20/variations/21", json={"stock_quantity": 0}).raise_for_status()
    client.put(f"{API}/products/11", json={"name": "Renamed"}).raise_for_status()
    answer = client.get("/_sim/stock-changes", params={"after": start["last"]}).json()
    # then: only real changes (12 kept its 4; a rename is no stock change), oldest first
    assert start == {"changes": [], "last": 0}
    assert [(c["seq"], c["id"], c["parent_id"], c["sku"], c["stock_quantity"]) for c in
            answer["changes"]] == [(1, 11, 0, "S-1", 7), (2, 21, 20, "V-M", 0)]  # fmt: skip
    assert answer["last"] == 2
    assert all(before <= c["at"] <= time.time() for c in answer["changes"])
    assert client.get("/_sim/stock-changes", params={"after": 1}).json()["changes"][0]["seq"] == 2


def test_stock_changes_refuses_a_bad_after(client: httpx.Client) -> None:
    # when
    response = client.get("/_sim/stock-changes", params={"after": "-1"})
    # then
    assert response.status_code == 400
    assert response.json() == {"error": "after must be a whole number >= 0 (a seq)"}
