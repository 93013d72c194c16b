"""Refunds, notes, products, variations, batches, list filters and webhook topics over HTTP."""

from __future__ import annotations

import json
from collections.abc import Iterator

import httpx
import pytest

from integrations.woocommerce.simulator import WooCommerceSimulator
from tests.integrations.woocommerce.test_simulator_support import (
    API,
    CK,
    CS,
    SECRET,
    Receiver,
    oauth,
    wait_for,
)


@pytest.fixture
def woo() -> Iterator[WooCommerceSimulator]:
    sim = WooCommerceSimulator(port=0, consumer_key=CK, consumer_secret=CS, seed=3)
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


def subscribe(client: httpx.Client, receiver: Receiver, *topics: str) -> None:
    for topic in topics:
        response = client.post(
            f"{API}/webhooks",
            json={"topic": topic, "delivery_url": receiver.url, "secret": SECRET},
        )
        assert response.status_code == 201, response.text
        assert "secret" not in response.json()
    wait_for(lambda: len(receiver.received("ping")) == len(topics))


def paid_order(client: httpx.Client) -> dict:
    response = client.post(
        f"{API}/orders",
        json={
            "set_paid": True,
            "payment_method": "stripe",
            "line_items": [{"sku": "APP-TEE-001", "quantity": 2}, {"sku": "KN-MER-S"}],
        },
    )
    assert response.status_code == 201, response.text
    return response.json()


def test_refund_partial_then_full_marks_order_refunded_only_at_the_end(client, receiver) -> None:
    # given a paid order of 144.57 and a subscriber to order.updated
    subscribe(client, receiver, "order.updated")
    order = paid_order(client)
    line = order["line_items"][0]
    # when a partial refund for one tee is made
    partial = client.post(
        f"{API}/orders/{order['id']}/refunds",
        json={
            "amount": "24.14",
            "reason": "Damaged",
            "line_items": [
                {
                    "id": line["id"],
                    "quantity": 1,
                    "refund_total": 19.95,
                    "refund_tax": [{"id": 1, "refund_total": 4.19}],
                }
            ],
        },
    )
    # then the refund is stored with its lines and the order is not refunded yet
    assert partial.status_code == 201, partial.text
    refund = partial.json()
    assert (refund["amount"], refund["reason"], refund["refunded_payment"]) == (
        "24.14",
        "Damaged",
        True,
    )
    assert refund["line_items"][0]["quantity"] == -1
    assert refund["line_items"][0]["total"] == "-19.95"
    after = client.get(f"{API}/orders/{order['id']}").json()
    assert after["status"] == "processing"
    assert after["refunds"] == [{"id": refund["id"], "reason": "Damaged", "total": "-24.14"}]
    event = wait_for(lambda: receiver.received("event", "order.updated"))
    assert json.loads(event[-1]["body"])["refunds"][0]["total"] == "-24.14"
    # when more than what remains is asked, WooCommerce refuses
    too_much = client.post(f"{API}/orders/{order['id']}/refunds", json={"amount": "500.00"})
    assert too_much.status_code == 500
    assert too_much.json()["code"] == "woocommerce_rest_cannot_create_order_refund"
    assert too_much.json()["message"] == "Invalid refund amount."
    # when the rest is refunded, the order becomes refunded
    rest = str(round(float(order["total"]) - 24.14, 2))
    full = client.post(
        f"{API}/orders/{order['id']}/refunds", json={"amount": rest, "api_refund": False}
    )
    assert full.status_code == 201, full.text
    assert full.json()["refunded_payment"] is False
    assert client.get(f"{API}/orders/{order['id']}").json()["status"] == "refunded"
    listed = client.get(f"{API}/orders/{order['id']}/refunds").json()
    assert [r["id"] for r in listed] == [full.json()["id"], refund["id"]]


def test_refund_bad_input_gets_woocommerce_errors(client) -> None:
    # given an order paid by bank transfer
    order = client.post(
        f"{API}/orders", json={"payment_method": "bacs", "line_items": [{"sku": "ACC-BEA-07"}]}
    ).json()
    url = f"{API}/orders/{order['id']}/refunds"
    # when refunds are asked with bad input
    number = client.post(url, json={"amount": 5})
    negative = client.post(url, json={"amount": "-1.00"})
    gateway = client.post(url, json={"amount": "1.00"})
    unknown_order = client.post(f"{API}/orders/999999/refunds", json={"amount": "1.00"})
    unknown_refund = client.get(f"{url}/424242")
    # then
    assert number.json()["data"]["params"] == {"amount": "amount is not of type string."}
    assert negative.json()["message"] == "Refund amount must be greater than zero."
    assert gateway.json()["message"] == (
        "The payment gateway for this order does not support automatic refunds."
    )
    assert unknown_order.status_code == 404
    assert unknown_order.json()["code"] == "woocommerce_rest_invalid_order_id"
    assert unknown_refund.status_code == 404
    assert unknown_refund.json()["code"] == "woocommerce_rest_shop_order_refund_invalid_id"
    assert client.get(url).json() == []  # nothing half-applied


def test_refund_get_and_delete(client) -> None:
    # given a refund
    order = paid_order(client)
    refund = client.post(
        f"{API}/orders/{order['id']}/refunds", json={"amount": "1.00", "api_refund": False}
    ).json()
    url = f"{API}/orders/{order['id']}/refunds/{refund['id']}"
    # when it is read, then deleted (trash not supported)
    assert client.get(url).json()["amount"] == "1.00"
    trash = client.delete(url, params={"force": "false"})
    deleted = client.delete(url)
    # then
    assert trash.status_code == 501
    assert trash.json()["code"] == "woocommerce_rest_trash_not_supported"
    assert deleted.status_code == 200
    assert client.get(f"{API}/orders/{order['id']}").json()["refunds"] == []


def test_notes_create_list_get_delete(client) -> None:
    # given an order
    order = paid_order(client)
    url = f"{API}/orders/{order['id']}/notes"
    # when a customer note and a private note are added
    shipped = client.post(
        url,
        json={
            "note": "Shipped with DHL, tracking 3S123",
            "customer_note": True,
            "added_by_user": True,
        },
    )
    private = client.post(url, json={"note": "Packed by Ana"})
    # then they are listed newest first and filtered by type
    assert shipped.status_code == 201, shipped.text
    assert shipped.json()["customer_note"] is True
    assert shipped.json()["author"] == "admin"
    assert private.json()["author"] == "system"
    assert [n["id"] for n in client.get(url).json()] == [private.json()["id"], shipped.json()["id"]]
    assert [n["note"] for n in client.get(url, params={"type": "customer"}).json()] == [
        "Shipped with DHL, tracking 3S123"
    ]
    assert client.get(f"{url}/{shipped.json()['id']}").json()["note"].startswith("Shipped")
    # and bad input is refused as WooCommerce does
    missing = client.post(url, json={"customer_note": True})
    assert missing.json()["message"] == "Missing parameter(s): note"
    assert client.post(url, json={"note": 5}).json()["data"]["params"] == {
        "note": "note is not of type string."
    }
    assert (
        client.post(f"{API}/orders/999999/notes", json={"note": "x"}).json()["code"]
        == "woocommerce_rest_order_invalid_id"
    )
    assert client.delete(f"{url}/{private.json()['id']}").status_code == 501
    assert (
        client.delete(f"{url}/{private.json()['id']}", params={"force": "true"}).status_code == 200
    )
    assert (
        client.get(f"{url}/{private.json()['id']}").json()["code"] == "woocommerce_rest_invalid_id"
    )


def test_products_variable_parent_and_single_variation(client) -> None:
    # when the variable parent and one of its variations are read
    parent = client.get(f"{API}/products/130").json()
    variations = client.get(f"{API}/products/130/variations").json()
    one = client.get(f"{API}/products/130/variations/132")
    # then the parent lists its variations as WooCommerce renders them
    assert parent["type"] == "variable"
    assert parent["variations"] == [131, 132, 133]
    assert parent["attributes"][0]["options"] == ["S", "M", "L"]
    assert {v["id"] for v in variations} == {131, 132, 133}
    assert one.json()["sku"] == "KN-MER-M" and one.json()["parent_id"] == 130
    # and a variation's stock can be written
    updated = client.put(f"{API}/products/130/variations/132", json={"stock_quantity": 3})
    assert updated.json()["stock_quantity"] == 3
    wrong = client.get(f"{API}/products/140/variations/132")
    assert wrong.status_code == 404
    assert wrong.json()["code"] == "woocommerce_rest_product_variation_invalid_id"
    assert client.get(f"{API}/products/999").json()["code"] == "woocommerce_rest_product_invalid_id"


def test_products_batch_limit_and_per_item_errors(client, receiver) -> None:
    # given a subscriber to product events
    subscribe(client, receiver, "product.created", "product.updated", "product.deleted")
    # when 101 items are sent
    too_many = client.post(
        f"{API}/products/batch",
        json={"create": [{"name": f"P{i}"} for i in range(60)], "delete": list(range(41))},
    )
    # then nothing is done and WooCommerce's 413 comes back
    assert too_many.status_code == 413
    assert too_many.json() == {
        "code": "woocommerce_rest_request_entity_too_large",
        "message": "Unable to accept more than 100 items for this request.",
        "data": {"status": 413},
    }
    # when a mixed batch has one bad entry per section
    batch = client.post(
        f"{API}/products/batch",
        json={
            "create": [
                {"name": "Linen Shirt", "sku": "LIN-1", "regular_price": "49.00"},
                {"name": "Dup", "sku": "APP-TEE-001"},
            ],
            "update": [{"id": 110, "stock_quantity": 7}, {"id": 999999, "stock_quantity": 1}],
            "delete": [111, 999998],
        },
    )
    # then good entries apply and bad ones answer with their own error
    assert batch.status_code == 200, batch.text
    body = batch.json()
    assert body["create"][0]["sku"] == "LIN-1"
    assert body["create"][1] == {
        "id": 0,
        "error": {
            "code": "product_invalid_sku",
            "message": "Invalid or duplicated SKU.",
            "data": {"status": 400},
        },
    }
    assert body["update"][0]["stock_quantity"] == 7
    assert body["update"][1]["error"]["code"] == "woocommerce_rest_product_invalid_id"
    assert body["delete"][0]["id"] == 111
    assert body["delete"][1]["error"]["code"] == "woocommerce_rest_product_invalid_id"
    deleted = wait_for(lambda: receiver.received("event", "product.deleted"))
    assert json.loads(deleted[0]["body"]) == {"id": 111}
    wait_for(
        lambda: (
            receiver.received("event", "product.created")
            and receiver.received("event", "product.updated")
        )
    )
    # and variations batch writes stock the same way
    variations = client.post(
        f"{API}/products/140/variations/batch", json={"update": [{"id": 141, "stock_quantity": 0}]}
    )
    assert variations.json()["update"][0]["stock_status"] == "outofstock"


def test_products_trash_and_restore_fire_webhooks(woo, client, receiver) -> None:
    # given a subscriber to deleted and restored products
    subscribe(client, receiver, "product.deleted", "product.restored")
    # when a product is trashed, trashed again, and restored
    trashed = client.delete(f"{API}/products/112")
    again = client.delete(f"{API}/products/112")
    restored = httpx.post(f"{woo.url}/_sim/products/112/restore")
    # then
    assert trashed.json()["status"] == "trash"
    assert again.status_code == 410
    assert again.json()["code"] == "woocommerce_rest_already_trashed"
    assert restored.json()["status"] == "draft"
    wait_for(lambda: receiver.received("event", "product.restored"))
    assert json.loads(receiver.received("event", "product.deleted")[0]["body"]) == {"id": 112}


def test_orders_delete_trash_force_and_restore(woo, client, receiver) -> None:
    # given subscribers to deleted and restored orders
    subscribe(client, receiver, "order.deleted", "order.restored")
    order = paid_order(client)
    # when it is trashed, restored through the control API, then force-deleted
    trashed = client.delete(f"{API}/orders/{order['id']}")
    hidden = client.get(f"{API}/orders").json()
    restored = httpx.post(f"{woo.url}/_sim/orders/{order['id']}/restore")
    # (WooCommerce builds a payload at delivery time: let the restore go out before the delete)
    back = wait_for(lambda: receiver.received("event", "order.restored"))
    forced = client.delete(f"{API}/orders/{order['id']}", params={"force": "true"})
    # then each step is what WooCommerce does and says
    assert trashed.json()["status"] == "trash"
    assert hidden == []
    assert restored.json()["status"] == "processing"
    assert forced.status_code == 200
    assert (
        client.get(f"{API}/orders/{order['id']}").json()["code"]
        == "woocommerce_rest_shop_order_invalid_id"
    )
    deleted = wait_for(
        lambda: (
            len(receiver.received("event", "order.deleted")) == 2
            and receiver.received("event", "order.deleted")
        )
    )
    assert [json.loads(d["body"]) for d in deleted] == [{"id": order["id"]}] * 2
    assert json.loads(back[0]["body"])["status"] == "processing"
    assert client.delete(f"{API}/orders/{order['id']}", params={"force": "yes"}).json()["data"][
        "params"
    ] == {"force": "force is not of type boolean."}


def test_lists_honour_filters_and_refuse_bad_values(woo, client) -> None:
    # given five generated orders
    ids = httpx.post(f"{woo.url}/_sim/orders", json={"count": 5}).json()["created"]
    # when filtered by include, exclude, offset, search and status
    include = client.get(
        f"{API}/orders", params={"include": f"{ids[3]},{ids[1]}", "orderby": "include"}
    )
    exclude = client.get(f"{API}/orders", params={"exclude": str(ids[0]), "order": "asc"})
    offset = client.get(f"{API}/orders", params={"offset": 3, "order": "asc"})
    search = client.get(f"{API}/orders", params={"search": str(ids[2])})
    status = client.get(f"{API}/orders", params={"status": "completed"})
    # then
    assert [o["id"] for o in include.json()] == [ids[3], ids[1]]
    assert [o["id"] for o in exclude.json()] == ids[1:]
    assert [o["id"] for o in offset.json()] == ids[3:]
    assert [o["id"] for o in search.json()] == [ids[2]]
    assert status.json() == []
    # and products filter the same way
    skus = client.get(f"{API}/products", params={"search": "mug"}).json()
    assert [p["sku"] for p in skus] == ["HOME-MUG-02"]
    # and invalid values answer rest_invalid_param with WooCommerce's messages
    bad = client.get(
        f"{API}/orders",
        params={"offset": "x", "include": "1,a", "status": "bogus", "after": "yesterday"},
    )
    assert bad.status_code == 400
    assert bad.json()["code"] == "rest_invalid_param"
    assert bad.json()["message"] == "Invalid parameter(s): after, offset, include, status"
    params = bad.json()["data"]["params"]
    assert params["offset"] == "offset is not of type integer."
    assert params["include"] == "include[1] is not of type integer."
    assert params["status"].startswith("status[0] is not one of any, trash, pending,")
    assert (
        client.get(f"{API}/products", params={"orderby": "nope"})
        .json()["data"]["params"]["orderby"]
        .startswith("orderby is not one of date, modified, id")
    )


def test_webhook_secret_is_write_only(client, receiver) -> None:
    # given a webhook created with a secret
    subscribe(client, receiver, "order.created")
    hook = client.get(f"{API}/webhooks").json()[0]
    # when it is read in every way
    seen = [
        hook,
        client.get(f"{API}/webhooks/{hook['id']}", params={"context": "edit"}).json(),
        client.put(f"{API}/webhooks/{hook['id']}", json={"secret": "new"}).json(),
        client.delete(f"{API}/webhooks/{hook['id']}", params={"force": "true"}).json(),
    ]
    # then the secret never comes back
    assert all("secret" not in body for body in seen)
    assert (
        client.get(f"{API}/webhooks/{hook['id']}").json()["code"]
        == "woocommerce_rest_shop_webhook_invalid_id"
    )
