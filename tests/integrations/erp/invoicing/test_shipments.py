"""ERP simulator over real HTTP: sales orders' tax fields and shipment confirmations (deliveries),
with their validation, idempotency and auth."""

from __future__ import annotations

import httpx

from integrations.erp.simulator.server import ErpSimulator
from tests.integrations.erp.invoicing.support import (
    create,
    order,
    sales_order,
    ship,
    shipment,
)


def test_create_sales_order_stores_tax_fields_and_answers_as_before(client: httpx.Client) -> None:
    # given
    body = order()
    del body["lines"][1]["line_number"]
    # when
    response = client.post("/api/v1/sales-orders", json=body)
    # then
    assert response.status_code == 201
    assert set(response.json()) == {"id", "status", "external_ref", "created_at"}
    stored = sales_order(client, response.json()["id"])
    assert stored["object"] == "sales_order"
    first, second = stored["lines"]
    assert (first["line_no"], first["line_number"], first["tax_code"]) == (1, 1, "HIGH")
    assert (first["tax"], first["discount"], first["total"]) == ("6.0900", "1.0000", "29.0000")
    assert (second["line_no"], second["line_number"], second["tax_code"]) == (2, 2, "STD")
    assert first["delivered"] == second["delivered"] == 0
    assert (stored["shipping"], stored["shipping_tax"], stored["tax"]) == ("4.9500", None, "9.6500")


def test_create_sales_order_rejects_bad_tax_fields(client: httpx.Client) -> None:
    # given
    body = order(shipping="abc", shipping_tax="-1.00")
    body["lines"][0].update(tax="x", discount="-1", tax_code="")
    body["lines"][1].update(line_number=1, total=5)
    # when
    response = client.post("/api/v1/sales-orders", json=body)
    # then
    assert response.status_code == 400
    assert response.json() == {
        "error": "validation failed",
        "fields": {
            "shipping": "must be a decimal string",
            "shipping_tax": "must not be negative",
            "lines[0].tax_code": "must be a non-empty string",
            "lines[0].tax": "must be a decimal string",
            "lines[0].discount": "must not be negative",
            "lines[1].line_number": "line 1 is already lines[0]",
            "lines[1].total": "must be a decimal string",
        },
    }


def test_shipment_confirms_delivery_and_ships_order(client: httpx.Client) -> None:
    # given
    order_id = create(client)
    # when
    response = ship(client, order_id, shipment())
    # then
    assert response.status_code == 201, response.text
    delivery = response.json()
    assert {k: delivery[k] for k in ("id", "object", "sales_order", "shipment_ref", "status")} == {
        "id": "DN-000001",
        "object": "delivery",
        "sales_order": order_id,
        "shipment_ref": "SHP-1",
        "status": "confirmed",
    }
    assert response.headers["Location"] == "/api/v1/deliveries/DN-000001"
    stored = sales_order(client, order_id)
    assert stored["status"] == "shipped"
    assert [line["delivered"] for line in stored["lines"]] == [3, 1]
    assert client.get("/api/v1/deliveries/DN-000001").json()["carrier"] == "postnl"


def test_shipment_partial_keeps_order_confirmed_and_repeated_ref_is_same_delivery(
    client: httpx.Client,
) -> None:
    # given
    order_id = create(client)
    first = ship(client, order_id, shipment("SHP-1", [(1, "APP-TEE-001", 2)]))
    # when
    again = ship(client, order_id, shipment("SHP-1", [(1, "APP-TEE-001", 2)]))
    # then
    assert first.status_code == 201 and again.status_code == 200
    assert again.json()["id"] == first.json()["id"]
    stored = sales_order(client, order_id)
    assert stored["status"] == "confirmed"
    assert [line["delivered"] for line in stored["lines"]] == [2, 0]
    assert stored["deliveries"] == ["DN-000001"]


def test_shipment_idempotency_key_replays_and_refuses_other_payload(client: httpx.Client) -> None:
    # given
    order_id = create(client)
    first = ship(client, order_id, shipment(), **{"Idempotency-Key": "s1"})
    # when
    replay = ship(client, order_id, shipment(), **{"Idempotency-Key": "s1"})
    conflict = ship(client, order_id, shipment("SHP-2"), **{"Idempotency-Key": "s1"})
    # then
    assert replay.status_code == 201 and replay.json() == first.json()
    assert replay.headers["Idempotent-Replayed"] == "true"
    assert conflict.status_code == 422
    assert conflict.json() == {"error": "idempotency key reused with a different payload"}
    assert client.get("/api/v1/deliveries").json()["count"] == 1


def test_shipment_beyond_the_order_is_refused_per_line(client: httpx.Client) -> None:
    # given
    order_id = create(client)
    # when
    too_many = ship(client, order_id, shipment("S", [(2, "HOME-MUG-02", 2)]))
    wrong = ship(client, order_id, shipment("S", [(7, "X", 1), (1, "HOME-MUG-02", 1)]))
    twice = ship(client, order_id, shipment("S", [(1, "APP-TEE-001", 2), (1, "APP-TEE-001", 2)]))
    # then
    assert too_many.status_code == 400
    assert too_many.json() == {
        "error": "validation failed",
        "fields": {"lines[0].quantity": "exceeds the 1 still to deliver on line 2"},
    }
    assert wrong.json()["fields"] == {
        "lines[0].line_number": f"no line 7 on sales order {order_id}",
        "lines[1].sku": "line 1 is APP-TEE-001",
    }
    assert twice.json()["fields"] == {
        "lines[1].quantity": "exceeds the 1 still to deliver on line 1"
    }
    assert sales_order(client, order_id)["deliveries"] == []


def test_shipment_bad_shape_gets_field_errors(client: httpx.Client) -> None:
    # given
    order_id = create(client)
    body = {"shipped_at": "yesterday", "carrier": 5, "lines": [{"line_number": 0, "sku": ""}, 3]}
    # when
    response = ship(client, order_id, body)
    empty = ship(client, order_id, {**shipment(), "lines": []})
    # then
    assert response.status_code == 400
    assert response.json()["fields"] == {
        "shipment_ref": "this field is required",
        "shipped_at": "must be an ISO 8601 string",
        "carrier": "must be a string",
        "lines[0].line_number": "must be a positive integer",
        "lines[0].quantity": "this field is required",
        "lines[0].sku": "must be a non-empty string",
        "lines[1]": "must be an object",
    }
    assert empty.json()["fields"] == {"lines": "must be a non-empty list"}
    assert ship(client, "SO-999999", shipment()).json() == {"error": "not found"}


def test_shipment_on_cancelled_order_conflicts(client: httpx.Client) -> None:
    # given
    order_id = create(client)
    client.post(f"/api/v1/sales-orders/{order_id}/cancel", json={"reason": "customer"})
    # when
    response = ship(client, order_id, shipment())
    # then
    assert response.status_code == 409
    assert response.json() == {
        "error": "sales order is cancelled and can no longer be shipped",
        "id": order_id,
        "status": "cancelled",
    }


def test_documents_require_bearer_token(erp: ErpSimulator, client: httpx.Client) -> None:
    # given
    order_id = create(client)
    # when
    responses = [
        httpx.post(f"{erp.url}/api/v1/sales-orders/{order_id}/shipments", json=shipment()),
        httpx.get(f"{erp.url}/api/v1/invoices", headers={"Authorization": "Bearer wrong"}),
        httpx.get(f"{erp.url}/api/v1/credit-memos/CM-000001"),
        httpx.get(f"{erp.url}/api/v1/deliveries"),
    ]
    # then
    assert [r.status_code for r in responses] == [401, 401, 401, 401]
    assert responses[0].json() == {"error": "unauthorized"}
    assert responses[0].headers["WWW-Authenticate"] == 'Bearer realm="erp"'
