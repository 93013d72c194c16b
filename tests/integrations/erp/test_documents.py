"""The ERP, continued: shipments confirmed to it, its invoices / credit memos / cancels received
by signed webhook and applied through the finance and orders domains — and what a hostile or
premature event is told and leaves."""

from __future__ import annotations

import json
import time
from decimal import Decimal
from typing import Any

import httpx
import pytest
from django.test import Client

from controltower.exceptions.models import OpsException
from controltower.finance.models import CreditMemo, Invoice
from controltower.fulfilment.models import Shipment
from controltower.orders.choices import InvoicingStatus, OrderState
from controltower.orders.models import Order
from integrations.erp.adapter import SALES_ORDER_CANCEL
from integrations.erp.shipments import SHIPMENT_CONFIRM
from integrations.runtime.inbox import claim_inbound, process_inbound_event
from integrations.runtime.models import InboundEvent, OutboundMessage
from integrations.runtime.outbox import claim_outbound, deliver_outbound_message
from integrations.simhooks import signature_header
from tests.conftest import wait_for
from tests.factories import lifecycle
from tests.factories.integrations import erp_connection, woo_connection

SECRET = "whsec-erp"
URL = "/hooks/erp/erp-main/"


def _registered_paid(order: Order, erp_reference: str = "SO-000001") -> Order:
    return lifecycle.register(lifecycle.pay(order), erp_reference, connection="erp-main")


def _ship_all(order: Order) -> Shipment:
    released = lifecycle.release(order, "REL-1")
    shipment = lifecycle.ship(released, "SHP-1", tracking="JVGL0001")
    assert shipment is not None
    return shipment


def _invoice(order: Order, **changes: Any) -> dict[str, Any]:
    lines, net, tax = [], Decimal(0), Decimal(0)
    for line in order.lines.all():
        line_net = line.total_amount
        lines.append(
            {
                "line_number": line.line_number,
                "sku": line.sku_code,
                "quantity": line.quantity,
                "unit_price": f"{line.unit_price_amount:.4f}",
                "discount": f"{line.discount_amount:.2f}",
                "net": f"{line_net:.2f}",
                "tax": f"{line.tax_amount:.2f}",
                "tax_code": "STD",
                "total": f"{line_net + line.tax_amount:.2f}",
            }
        )
        net += line_net
        tax += line.tax_amount
    ship_tax = order.tax_amount - tax
    obj = {
        "id": "INV-000001",
        "object": "invoice",
        "number": "INV-2026-000001",
        "sales_order": order.erp_reference,
        "correlation_id": str(order.correlation_id),
        "delivery": "DN-000001",
        "shipment_ref": "SHP-1",
        "currency": order.currency,
        "lines": lines,
        "shipping_net": f"{order.shipping_amount:.2f}",
        "shipping_tax": f"{ship_tax:.2f}",
        "shipping_tax_code": "STD",
        "net_total": f"{net + order.shipping_amount:.2f}",
        "tax_total": f"{tax + ship_tax:.2f}",
        "total": f"{net + order.shipping_amount + tax + ship_tax:.2f}",
        "issued_at": "2026-11-22T10:05:00.000Z",
    }
    obj.update(changes)
    return obj


def _send(
    client: Client, kind: str, obj: dict[str, Any], *, event_id: str = "evt_1", age_s: int = 0
) -> Any:
    body = json.dumps(
        {
            "id": event_id,
            "object": "event",
            "type": kind,
            "created": 1795500001,
            "data": {"object": obj},
        }
    ).encode()
    header = signature_header([SECRET], body, int(time.time()) - age_s)
    return client.post(URL, data=body, content_type="application/json", HTTP_ERP_SIGNATURE=header)


def _drain_inbox() -> None:
    while ids := claim_inbound(50):
        for event_id in ids:
            process_inbound_event(event_id)


@pytest.fixture
def erp(db: None) -> Any:
    connection = erp_connection(base_url="http://127.0.0.1:9/")
    connection.set_credentials({"token": "t", "webhook_secret": SECRET})
    connection.save()
    return connection


@pytest.mark.django_db
def test_an_invoice_issued_by_the_erp_becomes_an_invoice_and_moves_the_order(
    client: Client, erp: Any
) -> None:
    order = _registered_paid(lifecycle.web_order())
    _ship_all(order)
    response = _send(client, "invoice.issued", _invoice(order))
    assert response.status_code == 200, response.content
    _drain_inbox()
    event = InboundEvent.objects.get()
    assert event.status == "processed", event.error
    invoice = Invoice.objects.get()
    assert (invoice.number, invoice.total_amount) == ("INV-2026-000001", order.total_amount)
    assert invoice.lines.count() == order.lines.count()
    order.refresh_from_db()
    assert order.invoicing_status == InvoicingStatus.INVOICED
    # the same event again (at-least-once delivery) changes nothing
    assert _send(client, "invoice.issued", _invoice(order)).json()["status"] == "duplicate"
    assert Invoice.objects.count() == 1


@pytest.mark.django_db
def test_an_invoice_before_the_shipment_waits_and_applies_once_shipped(
    client: Client, erp: Any
) -> None:
    order = _registered_paid(lifecycle.web_order())
    _send(client, "invoice.issued", _invoice(order))
    _drain_inbox()
    event = InboundEvent.objects.get()
    assert event.status == "pending" and "before the order shipped" in event.error
    assert not Invoice.objects.exists()
    _ship_all(order)
    InboundEvent.objects.filter(pk=event.pk).update(claimed_until=None)
    _drain_inbox()
    event.refresh_from_db()
    assert event.status == "processed", event.error
    assert Invoice.objects.count() == 1


@pytest.mark.django_db
def test_an_invoice_that_does_not_add_up_is_refused_with_an_exception(
    client: Client, erp: Any
) -> None:
    order = _registered_paid(lifecycle.web_order())
    _ship_all(order)
    _send(client, "invoice.issued", _invoice(order, total="9999.00"))
    _drain_inbox()
    assert not Invoice.objects.exists()
    problem = OpsException.objects.get(type="step_refused")
    assert "INV-2026-000001 refused" in problem.title
    assert "do not add up" in problem.detail


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("change", "told"),
    [
        ({"total": -5}, "total: must not be negative"),
        ({"total": "1e9"}, "1E+9 is larger than any order"),
        ({"total": True}, "total: must be a decimal string"),
        ({"lines": []}, "lines: must be a non-empty list"),
        ({"lines": [{"line_number": "1"}]}, "lines[0].line_number: must be a positive integer"),
        ({"currency": "EURO"}, "not an ISO 4217 code"),
        ({"issued_at": "yesterday"}, "issued_at: 'yesterday' is not an ISO 8601 time"),
        ({"correlation_id": "not-a-uuid"}, "correlation_id: 'not-a-uuid' is not a UUID"),
    ],
)
def test_hostile_invoices_are_dead_lettered_with_a_clear_error_and_apply_nothing(
    client: Client, erp: Any, change: dict[str, Any], told: str
) -> None:
    order = _registered_paid(lifecycle.web_order())
    _ship_all(order)
    assert _send(client, "invoice.issued", _invoice(order, **change)).status_code == 200
    _drain_inbox()
    event = InboundEvent.objects.get()
    assert event.status == "failed" and told in event.error, event.error
    assert not Invoice.objects.exists()
    order.refresh_from_db()
    assert order.invoicing_status == InvoicingStatus.NONE


@pytest.mark.django_db
def test_signatures_are_checked_and_unknown_events_refused(client: Client, erp: Any) -> None:
    order = _registered_paid(lifecycle.web_order())
    _ship_all(order)
    stale = _send(client, "invoice.issued", _invoice(order), age_s=600)
    assert stale.status_code == 401 and "ERP-Signature" in stale.json()["detail"]
    forged = client.post(
        URL, data=b"{}", content_type="application/json", HTTP_ERP_SIGNATURE="t=1,v1=00"
    )
    assert forged.status_code == 401
    unknown = _send(client, "invoice.exploded", _invoice(order), event_id="evt_9")
    assert unknown.status_code == 400 and "unknown event type" in unknown.json()["detail"]
    assert not Invoice.objects.exists()


@pytest.mark.django_db
def test_a_credit_memo_is_recorded_against_its_invoice(client: Client, erp: Any) -> None:
    order = _registered_paid(lifecycle.web_order())
    _ship_all(order)
    _send(client, "invoice.issued", _invoice(order))
    line = order.lines.order_by("line_number").first()
    memo = {
        "id": "CM-000001",
        "object": "credit_memo",
        "number": "CM-2026-000001",
        "invoice": "INV-000001",
        "sales_order": order.erp_reference,
        "correlation_id": str(order.correlation_id),
        "currency": order.currency,
        "lines": [
            {
                "line_number": line.line_number,
                "sku": line.sku_code,
                "quantity": 0,
                "unit_price": f"{line.unit_price_amount:.4f}",
                "discount": "0.00",
                "net": "5.00",
                "tax": "1.05",
                "tax_code": "STD",
                "total": "6.05",
            }
        ],
        "net_total": "5.00",
        "tax_total": "1.05",
        "total": "6.05",
        "reason": "damaged in transit",
        "issued_at": "2026-11-24T12:00:00.000Z",
    }
    _send(client, "credit_memo.issued", memo, event_id="evt_2")
    _drain_inbox()
    credit = CreditMemo.objects.get()
    assert (credit.total_amount, credit.reason) == (Decimal("6.05"), "damaged in transit")
    assert credit.invoice == Invoice.objects.get()


@pytest.mark.django_db
def test_the_erp_cancelling_an_order_cancels_it_here_tells_the_store_not_the_erp(
    client: Client, erp: Any
) -> None:
    woo_connection()
    order = _registered_paid(lifecycle.web_order())
    obj = {
        "id": order.erp_reference,
        "object": "sales_order",
        "status": "cancelled",
        "correlation_id": str(order.correlation_id),
        "cancel_reason": "credit block",
    }
    _send(client, "sales_order.cancelled", obj)
    _drain_inbox()
    order.refresh_from_db()
    assert order.state == OrderState.CANCELLED
    assert "cancelled in the ERP: credit block" in str(order.history.first().history_change_reason)
    assert not OutboundMessage.objects.filter(kind=SALES_ORDER_CANCEL).exists()
    store = OutboundMessage.objects.get(kind="woocommerce.order.update")
    assert store.payload["body"] == {"status": "cancelled"}


@pytest.mark.slow
def test_shipment_confirmed_to_the_erp_simulator_comes_back_as_an_invoice(
    web_server: Any, erp_simulator: Any
) -> None:
    erp = erp_connection(base_url=erp_simulator.url)
    erp.set_credentials({"token": "test-erp-token", "webhook_secret": SECRET})
    erp.save()
    httpx.post(
        f"{erp_simulator.url}/_sim/webhook_endpoints",
        json={"url": f"{web_server.url}{URL}", "secret": SECRET},
    ).raise_for_status()
    order = lifecycle.web_order()
    from integrations.erp.adapter import queue_sales_order

    queue_sales_order(order)
    for message_id in claim_outbound(10):
        deliver_outbound_message(message_id)
    order.refresh_from_db()
    assert order.erp_reference.startswith("SO-")
    order = _registered_paid(order, erp_reference=order.erp_reference)
    shipment = _ship_all(order)
    confirm = OutboundMessage.objects.get(kind=SHIPMENT_CONFIRM)
    assert confirm.payload["lines"] and confirm.payload["tracking_number"] == "JVGL0001"
    for message_id in claim_outbound(10):
        deliver_outbound_message(message_id)
    shipment.refresh_from_db()
    assert shipment.erp_confirmed_at is not None

    def invoiced() -> bool:
        _drain_inbox()
        return Invoice.objects.filter(order=order).exists()

    wait_for(invoiced, timeout=20)
    order.refresh_from_db()
    assert order.invoicing_status == InvoicingStatus.INVOICED
    assert Invoice.objects.get().total_amount == order.total_amount
