"""ERP connector (generic JSON contract): accepted orders become ERP sales orders.

Deliver: ``POST {base_url}/api/v1/sales-orders`` with ``Authorization: Bearer <token>``,
``Idempotency-Key`` (the outbox key, so a retry after a lost answer creates nothing new) and
``X-Correlation-ID``. The ERP's sales-order id is recorded on the order as its ERP reference.
"""

from __future__ import annotations

import logging

import httpx

from controltower.catalog.choices import SystemKind
from controltower.orders.models import Order
from controltower.orders.services import record_erp_request, register_order_in_erp
from integrations.erp.translate import sales_order_payload
from integrations.runtime.http import (
    client_for,
    correlation_headers,
    result_from_error,
    result_from_response,
)
from integrations.runtime.models import Connection, OutboundMessage
from integrations.runtime.outbox import enqueue_outbound
from integrations.runtime.registry import (
    DeliveryResult,
    deliverer,
    on_delivered,
    subscribe,
)

logger = logging.getLogger(__name__)

SALES_ORDERS_PATH = "/api/v1/sales-orders"
SALES_ORDER_CREATE = "erp.sales_order.create"  # outbound message kind


@subscribe("order.accepted")
def queue_sales_order(order: Order) -> None:
    """In the accepting transaction: one outbox message per enabled-or-paused ERP connection."""
    for connection in Connection.objects.filter(kind=SystemKind.ERP):
        key = f"erp:{connection.slug}:sales-order:{order.correlation_id}"
        created = enqueue_outbound(
            connection,
            kind=SALES_ORDER_CREATE,
            idempotency_key=key,
            payload=sales_order_payload(order),
            correlation_id=order.correlation_id,
            subject_type="orders.order",
            subject_id=str(order.pk),
        )
        if created:
            record_erp_request(order, connection=connection.slug, idempotency_key=key)


@deliverer(SALES_ORDER_CREATE, label="ERP: create sales order")
def deliver_sales_order(message: OutboundMessage) -> DeliveryResult:
    connection = message.connection
    token = connection.credentials.get("token", "")
    headers = {
        "Authorization": f"Bearer {token}",
        "Idempotency-Key": message.idempotency_key,
        **correlation_headers(),
    }
    try:
        with client_for(connection) as client:
            response = client.post(SALES_ORDERS_PATH, json=message.payload, headers=headers)
    except httpx.HTTPError as exc:
        return result_from_error(exc)
    if response.status_code == 409:
        # The ERP already holds this external ref (created by an earlier attempt): same outcome.
        result = result_from_response(response)
        body = result.body if isinstance(result.body, dict) else {}
        if body.get("id"):
            return DeliveryResult(ok=True, status_code=409, body=body)
    return result_from_response(response)


@on_delivered(SALES_ORDER_CREATE)
def record_sales_order(message: OutboundMessage, result: DeliveryResult) -> None:
    body = result.body if isinstance(result.body, dict) else {}
    reference = str(body.get("id") or "")
    if not reference:
        logger.warning("ERP answered without a sales order id for message %s", message.pk)
        return
    order = Order.objects.filter(pk=message.subject_id).first()
    if order is None:
        logger.warning("order %s of message %s is gone", message.subject_id, message.pk)
        return
    register_order_in_erp(order, erp_reference=reference, connection=message.connection.slug)
