"""ERP simulator over real HTTP: invoices and credit memos issued as signed webhooks, ERP-side
cancels, faults, webhook delivery faults, reset and the CLI's invoicing options."""

from __future__ import annotations

import time
from decimal import Decimal

import httpx
import pytest

from integrations.erp.simulator.__main__ import build_parser
from integrations.erp.simulator.documents import allocate, prorate
from tests.integrations.erp.invoicing.support import (
    SECRET,
    Receiver,
    create,
    faults,
    fresh,
    invoiced,
    invoices,
    sales_order,
    ship,
    shipment,
    signed_by,
    wait_for,
)


def test_invoice_issued_after_delivery_is_signed_webhook(
    client: httpx.Client, receiver: Receiver
) -> None:
    # given
    order_id = create(client)
    # when
    ship(client, order_id, shipment())
    # then
    hook = wait_for(lambda: receiver.events("invoice.issued"))[0]
    assert signed_by(hook, SECRET) and fresh(hook)
    event = hook["event"]
    assert event["object"] == "event" and event["id"].startswith("evt_")
    invoice = event["data"]["object"]
    assert invoice == client.get(f"/api/v1/invoices/{invoice['id']}").json()
    assert {k: invoice[k] for k in ("id", "object", "sales_order", "delivery", "shipment_ref")} == {
        "id": "INV-000001",
        "object": "invoice",
        "sales_order": order_id,
        "delivery": "DN-000001",
        "shipment_ref": "SHP-1",
    }
    assert invoice["number"].startswith("INV-20") and invoice["number"].endswith("-000001")
    assert (invoice["external_ref"], invoice["correlation_id"]) == ("woo-web-1001", "corr-1001")
    assert invoice["lines"][0] == {
        "line_number": 1,
        "sku": "APP-TEE-001",
        "quantity": 3,
        "unit_price": "10.0000",
        "discount": "1.00",
        "net": "29.00",
        "tax": "6.09",
        "tax_code": "HIGH",
        "total": "35.09",
    }
    assert (invoice["shipping_net"], invoice["shipping_tax"]) == ("4.95", "1.04")
    assert (invoice["net_total"], invoice["tax_total"], invoice["total"]) == (
        "45.95",
        "9.65",
        "55.60",
    )
    assert sales_order(client, order_id)["status"] == "invoiced"
    assert client.get("/api/v1/invoices/INV-999999").status_code == 404


def test_invoices_of_partial_deliveries_sum_to_the_order(client: httpx.Client) -> None:
    # given
    order_id = create(client, shipping_tax="1.0400")
    # when
    for ref, lines in [
        ("S1", [(1, "APP-TEE-001", 1)]),
        ("S2", [(1, "APP-TEE-001", 1), (2, "HOME-MUG-02", 1)]),
        ("S3", [(1, "APP-TEE-001", 1)]),
    ]:
        assert ship(client, order_id, shipment(ref, lines)).status_code == 201
    found = invoiced(client, order_id, 3)
    # then
    tees = [next(ln for ln in inv["lines"] if ln["line_number"] == 1) for inv in found]
    assert [(t["net"], t["tax"], t["discount"]) for t in tees] == [
        ("9.67", "2.03", "0.33"),
        ("9.67", "2.03", "0.33"),
        ("9.66", "2.03", "0.34"),
    ]
    assert [inv["shipping_net"] for inv in found] == ["4.95", "0.00", "0.00"]
    assert sum(Decimal(inv["total"]) for inv in found) == Decimal("55.60")
    assert sum(Decimal(inv["tax_total"]) for inv in found) == Decimal("9.65")
    for inv in found:
        assert all(
            Decimal(ln["net"]) + Decimal(ln["tax"]) == Decimal(ln["total"]) for ln in inv["lines"]
        )
    wait_for(lambda: sales_order(client, order_id)["status"] == "invoiced")


def test_config_switches_auto_invoice_and_sim_trigger_invoices(client: httpx.Client) -> None:
    # given
    assert client.get("/_sim/config").json() == {"invoice_after_s": 0.05, "auto_invoice": True}
    client.post("/_sim/config", json={"auto_invoice": False, "invoice_after_s": 0})
    order_id = create(client)
    delivery = ship(client, order_id, shipment()).json()
    time.sleep(0.15)
    assert invoices(client, order_id) == []
    # when
    issued = client.post(f"/_sim/deliveries/{delivery['id']}/invoice")
    again = client.post(f"/_sim/deliveries/{delivery['id']}/invoice")
    # then
    assert issued.status_code == 201 and issued.json()["delivery"] == delivery["id"]
    assert again.status_code == 409
    assert again.json() == {
        "error": f"delivery {delivery['id']} is already invoiced",
        "invoice": issued.json()["id"],
    }
    bad = client.post("/_sim/config", json={"invoice_after_s": -1, "auto_invoice": "yes", "x": 1})
    assert bad.status_code == 400
    assert bad.json()["fields"] == {
        "invoice_after_s": "must be a number >= 0",
        "auto_invoice": "must be a boolean",
        "x": "unknown config key",
    }


def test_credit_memo_for_lines_is_pro_rata_and_signed(
    client: httpx.Client, receiver: Receiver
) -> None:
    # given
    order_id = create(client)
    ship(client, order_id, shipment())
    invoice = invoiced(client, order_id, 1)[0]
    # when
    response = client.post(
        f"/_sim/sales-orders/{order_id}/credit-memos",
        json={"lines": [{"line_number": 1, "quantity": 1}], "reason": "damaged"},
    )
    # then
    assert response.status_code == 201, response.text
    memo = response.json()
    assert {k: memo[k] for k in ("id", "object", "invoice", "sales_order", "reason")} == {
        "id": "CM-000001",
        "object": "credit_memo",
        "invoice": invoice["id"],
        "sales_order": order_id,
        "reason": "damaged",
    }
    assert memo["number"].endswith("-000001") and memo["currency"] == "EUR"
    assert [(ln["quantity"], ln["net"], ln["tax"], ln["total"]) for ln in memo["lines"]] == [
        (1, "9.67", "2.03", "11.70")
    ]
    assert (memo["net_total"], memo["tax_total"], memo["total"]) == ("9.67", "2.03", "11.70")
    hook = wait_for(lambda: receiver.events("credit_memo.issued"))[0]
    assert signed_by(hook, SECRET) and hook["event"]["data"]["object"] == memo
    assert client.get(f"/api/v1/credit-memos/{memo['id']}").json() == memo


def test_credit_memo_by_amount_then_the_rest(client: httpx.Client) -> None:
    # given
    order_id = create(client)
    ship(client, order_id, shipment())
    invoiced(client, order_id, 1)
    path = f"/_sim/sales-orders/{order_id}/credit-memos"
    # when
    goodwill = client.post(path, json={"amount": "10.00", "reason": "goodwill"}).json()
    rest = client.post(path, json={"reason": "returned"}).json()
    nothing = client.post(path, json={"reason": "again"})
    # then
    assert goodwill["total"] == "10.00"
    assert [(ln["line_number"], ln["quantity"], ln["total"]) for ln in goodwill["lines"]] == [
        (1, 0, "7.07"),
        (2, 0, "2.93"),
    ]
    assert Decimal(goodwill["total"]) + Decimal(rest["total"]) == Decimal("49.61")  # the goods
    assert [ln["quantity"] for ln in rest["lines"]] == [3, 1]
    assert nothing.status_code == 409
    assert nothing.json() == {
        "error": f"nothing left to credit on sales order {order_id}",
        "id": order_id,
    }
    listed = client.get("/api/v1/credit-memos", params={"sales_order": order_id}).json()
    assert listed["count"] == 2


def test_credit_memo_bad_requests_get_clear_errors(client: httpx.Client) -> None:
    # given
    order_id = create(client)
    path = f"/_sim/sales-orders/{order_id}/credit-memos"
    early = client.post(path, json={"reason": "too early"})
    ship(client, order_id, shipment("S1", [(1, "APP-TEE-001", 1)]))
    invoiced(client, order_id, 1)
    # when
    shape = client.post(path, json={"lines": [{"line_number": 1}], "amount": "x"})
    over = client.post(
        path,
        json={
            "reason": "r",
            "lines": [{"line_number": 1, "quantity": 2}, {"line_number": 9, "quantity": 1}],
        },
    )
    unknown = client.post(path, json={"reason": "r", "invoice": "INV-999999"})
    too_much = client.post(path, json={"reason": "r", "amount": "100.00"})
    # then
    assert early.status_code == 409
    assert early.json() == {"error": "sales order has no invoice to credit", "id": order_id}
    assert shape.json() == {
        "error": "validation failed",
        "fields": {
            "reason": "this field is required",
            "amount": "give either lines or amount, not both",
            "lines[0].quantity": "this field is required",
        },
    }
    assert over.json()["fields"] == {
        "lines[0].quantity": "exceeds the 1 still to credit on line 1",
        "lines[1].line_number": f"no line 9 on sales order {order_id}",
    }
    assert unknown.json()["fields"] == {
        "invoice": f"no invoice INV-999999 on sales order {order_id}"
    }
    assert too_much.json()["fields"] == {"amount": "exceeds the 11.70 still to credit"}
    assert (
        client.post("/_sim/sales-orders/SO-999999/credit-memos", json={"reason": "r"}).status_code
        == 404
    )


def test_credit_memo_idempotency_key(client: httpx.Client) -> None:
    # given
    order_id = create(client)
    ship(client, order_id, shipment())
    invoiced(client, order_id, 1)
    path = f"/_sim/sales-orders/{order_id}/credit-memos"
    body = {"amount": "5.00", "reason": "goodwill"}
    first = client.post(path, json=body, headers={"Idempotency-Key": "cm1"})
    # when
    replay = client.post(path, json=body, headers={"Idempotency-Key": "cm1"})
    conflict = client.post(
        path, json={**body, "amount": "6.00"}, headers={"Idempotency-Key": "cm1"}
    )
    # then
    assert replay.json() == first.json() and replay.headers["Idempotent-Replayed"] == "true"
    assert conflict.status_code == 422
    assert client.get("/api/v1/credit-memos").json()["count"] == 1


def test_erp_side_cancel_emits_webhook_and_api_cancel_does_not(
    client: httpx.Client, receiver: Receiver
) -> None:
    # given
    by_api, by_erp = create(client), create(client, external_ref="woo-web-1002")
    client.post(f"/api/v1/sales-orders/{by_api}/cancel", json={"reason": "customer"})
    # when
    response = client.post(f"/_sim/sales-orders/{by_erp}/cancel", json={"reason": "credit block"})
    again = client.post(f"/_sim/sales-orders/{by_erp}/cancel", json={"reason": "credit block"})
    # then
    assert response.status_code == 200 and response.json()["status"] == "cancelled"
    assert again.status_code == 200
    hook = wait_for(lambda: receiver.events("sales_order.cancelled"))[0]
    obj = hook["event"]["data"]["object"]
    assert signed_by(hook, SECRET)
    assert (obj["object"], obj["id"], obj["status"], obj["cancel_reason"]) == (
        "sales_order",
        by_erp,
        "cancelled",
        "credit block",
    )
    time.sleep(0.1)
    assert len(receiver.events()) == 1


def test_cancel_after_a_delivery_is_refused(client: httpx.Client) -> None:
    # given
    order_id = create(client)
    ship(client, order_id, shipment("S1", [(1, "APP-TEE-001", 1)]))
    # when
    by_api = client.post(f"/api/v1/sales-orders/{order_id}/cancel", json={})
    by_erp = client.post(f"/_sim/sales-orders/{order_id}/cancel", json={"reason": 3})
    by_erp_ok = client.post(f"/_sim/sales-orders/{order_id}/cancel", json={})
    # then
    assert by_api.status_code == 409
    assert by_api.json() == {
        "error": "sales order is partly delivered and can no longer be cancelled",
        "id": order_id,
        "status": "confirmed",
    }
    assert by_erp.json() == {"error": "validation failed", "fields": {"reason": "must be a string"}}
    assert by_erp_ok.status_code == 409


def test_fail_next_on_shipment_creates_nothing(client: httpx.Client) -> None:
    # given
    order_id = create(client)
    faults(client, fail_next=1, fail_status=503)
    # when
    failed = ship(client, order_id, shipment(), **{"Idempotency-Key": "k"})
    retried = ship(client, order_id, shipment(), **{"Idempotency-Key": "k"})
    # then
    assert failed.status_code == 503 and failed.json() == {"error": "simulated failure"}
    assert retried.status_code == 201 and "Idempotent-Replayed" not in retried.headers


def test_rate_limit_on_invoices_has_retry_after(client: httpx.Client) -> None:
    # given
    faults(client, rate_limit_next=1, retry_after=3)
    # when
    limited = client.get("/api/v1/invoices")
    after = client.get("/api/v1/invoices")
    # then
    assert limited.status_code == 429 and limited.headers["Retry-After"] == "3"
    assert after.status_code == 200


def test_timeout_after_processing_confirms_the_delivery(client: httpx.Client) -> None:
    # given
    order_id = create(client)
    faults(client, timeout_next=1, timeout_seconds=1)
    # when
    with pytest.raises(httpx.ReadTimeout):
        client.post(
            f"/api/v1/sales-orders/{order_id}/shipments",
            json=shipment(),
            headers={"Idempotency-Key": "slow"},
            timeout=0.2,
        )
    retry = ship(client, order_id, shipment(), **{"Idempotency-Key": "slow"})
    # then
    assert retry.status_code == 201 and retry.headers["Idempotent-Replayed"] == "true"
    assert sales_order(client, order_id)["deliveries"] == [retry.json()["id"]]


def test_duplicate_webhooks_repeat_the_same_event(client: httpx.Client, receiver: Receiver) -> None:
    # given
    faults(client, duplicate_webhooks=1)
    order_id = create(client)
    # when
    client.post(f"/_sim/sales-orders/{order_id}/cancel", json={})
    # then
    copies = wait_for(lambda: len(found := receiver.events()) == 2 and found)
    assert copies[0]["event"]["id"] == copies[1]["event"]["id"]
    assert all(signed_by(copy_, SECRET) for copy_ in copies)


def test_shuffled_webhooks_arrive_out_of_order(client: httpx.Client, receiver: Receiver) -> None:
    # given
    faults(client, shuffle_webhooks=True)
    first, second = create(client), create(client, external_ref="woo-web-1002")
    # when
    client.post(f"/_sim/sales-orders/{first}/cancel", json={})
    client.post(f"/_sim/sales-orders/{second}/cancel", json={})
    # then
    got = wait_for(lambda: len(found := receiver.events()) == 2 and found)
    assert [g["event"]["data"]["object"]["id"] for g in got] == [second, first]


def test_stale_webhook_is_signed_in_the_past(client: httpx.Client, receiver: Receiver) -> None:
    # given
    faults(client, stale_webhook_s=600)
    order_id = create(client)
    # when
    client.post(f"/_sim/sales-orders/{order_id}/cancel", json={})
    # then
    hook = wait_for(receiver.events)[0]
    assert signed_by(hook, SECRET) and not fresh(hook)
    assert client.get("/_sim/faults").json()["stale_webhook_s"] == 0


def test_rotated_secret_signs_with_both(client: httpx.Client, receiver: Receiver) -> None:
    # given
    endpoint = client.get("/_sim/webhook_endpoints").json()[0]
    client.post(f"/_sim/webhook_endpoints/{endpoint['id']}/rotate", json={"secret": "whsec-new"})
    order_id = create(client)
    # when
    client.post(f"/_sim/sales-orders/{order_id}/cancel", json={})
    # then
    hook = wait_for(receiver.events)[0]
    assert len(hook["v1"]) == 2
    assert signed_by(hook, "whsec-new") and signed_by(hook, SECRET)


def test_bad_invoice_totals_fault_issues_an_invoice_that_does_not_add_up(
    client: httpx.Client,
) -> None:
    # given
    faults(client, bad_invoice_totals_next=1)
    order_id = create(client)
    # when
    ship(client, order_id, shipment())
    invoice = invoiced(client, order_id, 1)[0]
    # then
    lines_tax = sum(Decimal(ln["tax"]) for ln in invoice["lines"]) + Decimal(
        invoice["shipping_tax"]
    )
    assert Decimal(invoice["tax_total"]) == lines_tax + Decimal("0.01")
    assert invoice["total"] == "55.61"
    assert client.get("/_sim/faults").json()["bad_invoice_totals_next"] == 0


def test_reset_all_wipes_documents_and_webhook_endpoints(
    client: httpx.Client, receiver: Receiver
) -> None:
    # given
    order_id = create(client)
    ship(client, order_id, shipment())
    invoiced(client, order_id, 1)
    client.post("/_sim/config", json={"auto_invoice": False})
    # when
    client.post("/_sim/reset", json={"all": True})
    # then
    documents = client.get("/_sim/documents").json()
    assert documents == {
        "deliveries": [],
        "invoices": [],
        "credit_memos": [],
        "pending_invoices": [],
        "pending_webhooks": documents["pending_webhooks"],
    }
    assert client.get("/_sim/webhook_endpoints").json() == []
    assert client.get("/_sim/config").json()["auto_invoice"] is True
    assert create(client) == "SO-000001"


def test_cli_parser_reads_invoicing_defaults_from_env(monkeypatch: pytest.MonkeyPatch) -> None:
    # given
    monkeypatch.setenv("ERP_SIM_INVOICE_AFTER_S", "1.5")
    monkeypatch.setenv("ERP_SIM_AUTO_INVOICE", "0")
    # when
    args = build_parser().parse_args(["--webhook-url", "http://x/hooks"])
    # then
    assert (args.invoice_after, args.auto_invoice, args.webhook_url) == (
        1.5,
        False,
        "http://x/hooks",
    )


def test_prorate_and_allocate_never_go_negative_and_sum_exactly() -> None:
    # given
    total, whole = Decimal("0.05"), 10
    # when
    shares, done = [], Decimal(0)
    for index in range(whole):
        share = prorate(total, done, 1, index, whole)
        shares.append(share)
        done += share
    parts = allocate(Decimal("1.00"), [Decimal("1.00")] * 3)
    # then
    assert all(share >= 0 for share in shares) and sum(shares) == total
    assert parts == [Decimal("0.33"), Decimal("0.34"), Decimal("0.33")]
