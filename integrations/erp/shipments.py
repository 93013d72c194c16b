"""Shipment confirmation to the ERP: each shipment the WMS reported becomes a delivery on the
ERP's sales order (``POST /api/v1/sales-orders/<id>/shipments``), which the ERP then invoices.

Queued in the transaction that recorded the shipment (``fulfilment.signals.shipment_recorded``);
safe to retry: the Idempotency-Key is per shipment, and the ERP answers a ``shipment_ref`` it
already holds with the same delivery (200). A sales order the ERP cancelled meanwhile (409) is
permanent: the message is dead-lettered and opens an exception naming it."""

from __future__ import annotations

from typing import Any

import httpx
from django.dispatch import receiver

from controltower.catalog.choices import SystemKind
from controltower.core import memo
from controltower.fulfilment.models import Shipment
from controltower.fulfilment.services import record_shipment_confirmed
from controltower.fulfilment.signals import shipment_recorded
from controltower.orders.models import Order
from integrations.erp.translate import shipment_payload
from integrations.runtime.http import (
    client_for,
    correlation_headers,
    result_from_error,
    result_from_response,
)
from integrations.runtime.models import Connection, OutboundMessage
from integrations.runtime.outbox import enqueue_outbound
from integrations.runtime.registry import DeliveryResult, deliverer, on_delivered

SHIPMENT_CONFIRM = "erp.shipment.confirm"
SALES_ORDERS_PATH = "/api/v1/sales-orders"


def confirm_key(connection: Connection, shipment: Shipment) -> str:
    return f"erp:{connection.slug}:shipment:{shipment.source_system}:{shipment.external_id}"


@receiver(shipment_recorded, dispatch_uid="erp.queue_shipment_confirm")
def queue_shipment_confirm(sender: Any, *, order: Order, shipment: Shipment, **_: Any) -> None:
    erps = memo.remember(  # once per drain batch, shared with the sales-order create
        ("connections", SystemKind.ERP),
        lambda: list(Connection.objects.filter(kind=SystemKind.ERP)),
    )
    for connection in erps:
        enqueue_outbound(
            connection,
            kind=SHIPMENT_CONFIRM,
            idempotency_key=confirm_key(connection, shipment),
            payload={"sales_order": order.erp_reference, **shipment_payload(shipment)},
            correlation_id=order.correlation_id,
            subject_type="fulfilment.shipment",
            subject_id=str(shipment.pk),
        )


def _error_result(result: DeliveryResult) -> DeliveryResult:
    """The ERP's own words (``error`` and the fields it names) in the error ops read."""
    body = result.body if isinstance(result.body, dict) else {}
    if result.ok or not body.get("error"):
        return result
    fields = body.get("fields") if isinstance(body.get("fields"), dict) else {}
    detail = "; ".join(f"{name}: {problem}" for name, problem in list(fields.items())[:5])
    return DeliveryResult(
        ok=False,
        status_code=result.status_code,
        body=body,
        error=f"HTTP {result.status_code}: {body['error']}" + (f" ({detail})" if detail else ""),
        retryable=result.retryable,
        retry_after_s=result.retry_after_s,
    )


@deliverer(SHIPMENT_CONFIRM, label="ERP: confirm shipment")
def deliver_shipment_confirm(message: OutboundMessage) -> DeliveryResult:
    payload = dict(message.payload)
    sales_order = str(payload.pop("sales_order", "") or "")
    if not sales_order:
        order = Order.objects.filter(shipments__pk=message.subject_id).first()
        sales_order = order.erp_reference if order is not None else ""
    if not sales_order:
        return DeliveryResult(
            ok=False, error="the order has no ERP sales order to confirm against", retryable=False
        )
    headers = {
        "Authorization": f"Bearer {message.connection.credentials.get('token', '')}",
        "Idempotency-Key": message.idempotency_key,
        **correlation_headers(),
    }
    try:
        with client_for(message.connection) as client:
            response = client.post(
                f"{SALES_ORDERS_PATH}/{sales_order}/shipments", json=payload, headers=headers
            )
    except httpx.HTTPError as exc:
        return result_from_error(exc)
    return _error_result(result_from_response(response))


@on_delivered(SHIPMENT_CONFIRM)
def record_shipment_confirm(message: OutboundMessage, result: DeliveryResult) -> None:
    body = result.body if isinstance(result.body, dict) else {}
    shipment = Shipment.objects.filter(pk=message.subject_id).first()
    if shipment is not None and body.get("id"):
        record_shipment_confirmed(shipment, reference=str(body["id"]))
