"""WooCommerce's own Python client (PyPI ``woocommerce``), unchanged, against the simulator."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from woocommerce import API as WooAPI

from integrations.woocommerce.simulator import WooCommerceSimulator
from tests.integrations.woocommerce.test_simulator_support import CK, CS, Receiver, wait_for


@pytest.fixture
def woo() -> Iterator[WooCommerceSimulator]:
    sim = WooCommerceSimulator(port=0, consumer_key=CK, consumer_secret=CS, seed=5)
    sim.serve_in_thread()
    yield sim
    sim.shutdown()


@pytest.fixture
def wcapi(woo: WooCommerceSimulator) -> WooAPI:
    # The default mode: over http the client signs OAuth 1.0a (HMAC-SHA256) in the query.
    return WooAPI(url=woo.url, consumer_key=CK, consumer_secret=CS, version="wc/v3", timeout=5)


def test_official_client_orders_crud(wcapi) -> None:
    # when the client creates, lists, reads, updates and deletes an order
    created = wcapi.post(
        "orders",
        {
            "payment_method": "stripe",
            "set_paid": True,
            "billing": {"first_name": "Léa", "email": "lea@example.fr"},
            "line_items": [{"sku": "ACC-TOTE-01", "quantity": 2}],
        },
    )
    assert created.status_code == 201, created.text
    order_id = created.json()["id"]
    listed = wcapi.get("orders", params={"per_page": 20, "status": "processing"})
    got = wcapi.get(f"orders/{order_id}")
    updated = wcapi.put(f"orders/{order_id}", {"status": "completed"})
    trashed = wcapi.delete(f"orders/{order_id}")
    deleted = wcapi.delete(f"orders/{order_id}", params={"force": True})
    # then every call is authenticated and answered as a shop would
    assert [o["id"] for o in listed.json()] == [order_id]
    assert listed.headers["X-WP-Total"] == "1"
    assert got.json()["billing"]["first_name"] == "Léa"
    assert updated.json()["status"] == "completed"
    assert trashed.json()["status"] == "trash"
    assert deleted.status_code == 200
    assert (
        wcapi.get(f"orders/{order_id}").json()["code"] == "woocommerce_rest_shop_order_invalid_id"
    )


def test_official_client_products_and_variations(wcapi) -> None:
    # when the client reads products and writes a variation's stock
    parents = wcapi.get("products", params={"type": "variable", "per_page": 50}).json()
    variation = wcapi.put("products/150/variations/151", {"stock_quantity": 4})
    batch = wcapi.post("products/batch", {"update": [{"id": 110, "regular_price": "21.00"}]})
    created = wcapi.post(
        "products", {"name": "Wool Scarf", "sku": "ACC-SCF-1", "regular_price": "35.00"}
    )
    # then
    assert {p["id"]: p["variations"] for p in parents} == {
        130: [131, 132, 133],
        140: [141, 142, 143],
        150: [151, 152],
    }
    assert variation.json()["stock_quantity"] == 4
    assert batch.json()["update"][0]["price"] == "21.00"
    assert created.status_code == 201
    assert wcapi.get(f"products/{created.json()['id']}").json()["sku"] == "ACC-SCF-1"


def test_official_client_refunds_and_notes(wcapi) -> None:
    # given an order paid by card
    order = wcapi.post(
        "orders",
        {"payment_method": "stripe", "set_paid": True, "line_items": [{"sku": "STA-NB-08"}]},
    ).json()
    # when a refund and a note are made through the client
    refund = wcapi.post(f"orders/{order['id']}/refunds", {"amount": "5.00", "reason": "Late"})
    note = wcapi.post(
        f"orders/{order['id']}/notes", {"note": "Refunded 5.00", "customer_note": True}
    )
    # then both are there, and the order shows the refund
    assert refund.status_code == 201, refund.text
    assert wcapi.get(f"orders/{order['id']}/refunds").json()[0]["amount"] == "5.00"
    assert wcapi.get(f"orders/{order['id']}").json()["refunds"][0]["total"] == "-5.00"
    assert note.status_code == 201
    assert wcapi.get(f"orders/{order['id']}/notes").json()[0]["note"] == "Refunded 5.00"
    assert (
        wcapi.delete(
            f"orders/{order['id']}/notes/{note.json()['id']}", params={"force": True}
        ).status_code
        == 200
    )


def test_official_client_webhooks_crud(wcapi) -> None:
    receiver = Receiver()
    try:
        # when a webhook is created, listed, updated and deleted through the client
        created = wcapi.post(
            "webhooks",
            {
                "name": "CT",
                "topic": "order.created",
                "delivery_url": receiver.url,
                "secret": "s3cret",
            },
        )
        hook_id = created.json()["id"]
        wait_for(lambda: receiver.received("ping"))
        listed = wcapi.get("webhooks").json()
        updated = wcapi.put(f"webhooks/{hook_id}", {"status": "paused"})
        deleted = wcapi.delete(f"webhooks/{hook_id}", params={"force": True})
        # then
        assert created.status_code == 201 and "secret" not in created.json()
        assert [h["id"] for h in listed] == [hook_id]
        assert updated.json()["status"] == "paused"
        assert deleted.status_code == 200
        assert wcapi.get("webhooks").json() == []
    finally:
        receiver.close()


def test_official_client_with_wrong_secret_is_refused(woo) -> None:
    # given the client holding a wrong secret
    wrong = WooAPI(url=woo.url, consumer_key=CK, consumer_secret="cs_wrong", version="wc/v3")
    # when it calls the shop
    response = wrong.get("orders")
    # then WooCommerce's authentication error comes back
    assert response.status_code == 401
    assert response.json()["message"] == "Invalid signature - provided signature does not match."
