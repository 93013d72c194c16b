"""ERP connector (generic JSON contract): accepted orders become ERP sales orders; cancelled
orders cancel them.

Deliver: ``POST {base_url}/api/v1/sales-orders`` with ``Authorization: Bearer <token>``,
``Idempotency-Key`` (the outbox key, so a retry after a lost answer creates nothing new) and
``X-Correlation-ID``. The ERP's sales-order id is recorded on the order as its ERP reference.
The create declares that it creates a sales order, so a delivered one is never replayed into a
second; and the order refuses (and reports) an answer that names a different sales order.

Cancel (``order_cancelled`` from the orders domain): ``POST /api/v1/sales-orders/<id>/cancel``
with an ``Idempotency-Key``. A create still in the outbox is withdrawn at delivery time (the order
is cancelled or trashed → no POST), so no sales order is created after the order was deleted,
whether the create was pending, retrying, dead-lettered and replayed later. A create in flight
when the order was cancelled lands, is recorded, and the cancel (which waits for it) follows.
The ERP refusing a cancel (already invoiced/shipped: 409) is permanent: the cancel message is
dead-lettered and opens an exception. A cancel the ERP made itself (``sales_order.cancelled``,
origin ``erp``) is recorded, never sent back.

Also here (modules imported below): ``shipments`` confirms each shipment to the ERP;
``documents`` applies what the ERP sends by webhook (invoices, credit memos, its cancels).
"""

from __future__ import annotations

import logging
from typing import Any

import httpx
from django.dispatch import receiver

from controltower.catalog.choices import SystemKind
from controltower.core import memo
from controltower.orders.choices import OrderState
from controltower.orders.models import Order
from controltower.orders.services import (
    record_erp_cancel_requested,
    record_erp_cancelled,
    record_erp_create_withdrawn,
    record_erp_request,
    register_order_in_erp,
    register_orders_in_erp,
)
from controltower.orders.signals import CancelOrigin, order_cancelled
from integrations.erp.translate import sales_order_payload
from integrations.runtime.http import (
    client_for,
    correlation_headers,
    result_from_error,
    result_from_response,
)
from integrations.runtime.models import Connection, OutboundMessage
from integrations.runtime.outbox import WITHDRAWN, created_reference, enqueue_outbound
from integrations.runtime.registry import (
    Creates,
    DeliveryResult,
    deliverer,
    on_delivered,
    on_delivered_batch,
    subscribe,
)

logger = logging.getLogger(__name__)

SALES_ORDERS_PATH = "/api/v1/sales-orders"
SALES_ORDER_CREATE = "erp.sales_order.create"  # outbound message kinds
SALES_ORDER_CANCEL = "erp.sales_order.cancel"


def create_key(connection: Connection, order: Order) -> str:
    return f"erp:{connection.slug}:sales-order:{order.correlation_id}"


def cancel_key(connection: Connection, order: Order) -> str:
    return f"erp:{connection.slug}:sales-order-cancel:{order.correlation_id}"


def _withdrawn_reason(state: str, trashed_at: Any) -> str:
    if trashed_at is not None:
        return "order deleted in the channel before it reached the ERP"
    if state == OrderState.CANCELLED:
        return "order cancelled before it reached the ERP"
    return ""


@subscribe("order.accepted")
def queue_sales_order(order: Order) -> None:
    """In the accepting transaction: one outbox message per enabled-or-paused ERP connection."""
    erps = memo.remember(
        ("connections", SystemKind.ERP),
        lambda: list(Connection.objects.filter(kind=SystemKind.ERP)),
    )
    for connection in erps:
        key = create_key(connection, order)
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


# A delivered create made a sales order: the runtime refuses to replay it into a second one (the
# contract has no sales-order update to offer instead).
@deliverer(
    SALES_ORDER_CREATE,
    label="ERP: create sales order",
    creates=Creates(what="sales order", reference_key="id"),
)
def deliver_sales_order(message: OutboundMessage) -> DeliveryResult:
    connection = message.connection
    held = (
        Order.objects.filter(pk=message.subject_id).values_list("state", "trashed_at")[:1]
        if message.subject_id.isdigit()
        else []
    )
    withdrawn = _withdrawn_reason(*held[0]) if held else "order is gone"
    if withdrawn:
        return DeliveryResult(ok=True, body={WITHDRAWN: True, "reason": withdrawn})
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
    if body.get(WITHDRAWN):
        order = Order.objects.filter(pk=message.subject_id).first()
        if order is not None:
            record_erp_create_withdrawn(
                order, connection=message.connection.slug, reason=str(body.get("reason", ""))
            )
        return
    reference = str(body.get("id") or "")
    if not reference:
        logger.warning("ERP answered without a sales order id for message %s", message.pk)
        return
    if not message.subject_id.isdigit():
        logger.warning("message %s names no order (%r)", message.pk, message.subject_id)
        return
    registered = register_order_in_erp(
        int(message.subject_id), erp_reference=reference, connection=message.connection.slug
    )
    if registered is None:
        logger.warning("order %s of message %s is gone", message.subject_id, message.pk)


@on_delivered_batch(SALES_ORDER_CREATE)
def record_sales_orders(outcomes: list[tuple[OutboundMessage, DeliveryResult]]) -> None:
    """:func:`record_sales_order` for a batch: the plain answers (a sales order id for an order)
    registered together; anything else one by one."""
    plain: dict[str, list[tuple[int, str]]] = {}
    for message, result in outcomes:
        body = result.body if isinstance(result.body, dict) else {}
        reference = str(body.get("id") or "")
        if body.get(WITHDRAWN) or not reference or not message.subject_id.isdigit():
            record_sales_order(message, result)
            continue
        plain.setdefault(message.connection.slug, []).append((int(message.subject_id), reference))
    for slug, registrations in plain.items():
        register_orders_in_erp(registrations, connection=slug)


@receiver(order_cancelled, dispatch_uid="erp.queue_sales_order_cancel")
def queue_sales_order_cancel(
    sender: Any, *, order: Order, reason: str = "", origin: str = "", **_: Any
) -> None:
    """In the cancelling transaction: one cancel per ERP connection that has (or may get) the
    sales order. Never asked for, or cancelled by the ERP itself: nothing to send."""
    if origin == CancelOrigin.ERP:
        return
    for connection in Connection.objects.filter(kind=SystemKind.ERP):
        asked = OutboundMessage.objects.filter(idempotency_key=create_key(connection, order))
        if not order.erp_reference and not asked.exists():
            continue
        key = cancel_key(connection, order)
        created = enqueue_outbound(
            connection,
            kind=SALES_ORDER_CANCEL,
            idempotency_key=key,
            payload={"reason": reason[:200]},
            correlation_id=order.correlation_id,
            subject_type="orders.order",
            subject_id=str(order.pk),
        )
        if created:
            record_erp_cancel_requested(order, connection=connection.slug, idempotency_key=key)


def _sales_order_id(message: OutboundMessage, order: Order) -> str | DeliveryResult:
    """The ERP id to cancel, or the result to record while there is none (yet)."""
    if order.erp_reference:
        return order.erp_reference
    return created_reference(
        create_key(message.connection, order),
        skipped="no sales order was created in the ERP; nothing to cancel",
        waiting="waiting for the sales-order create to settle before cancelling",
    )


@deliverer(SALES_ORDER_CANCEL, label="ERP: cancel sales order")
def deliver_sales_order_cancel(message: OutboundMessage) -> DeliveryResult:
    order = Order.objects.filter(pk=message.subject_id).first()
    if order is None:
        return DeliveryResult(ok=True, body={"skipped": "order is gone"})
    target = _sales_order_id(message, order)
    if isinstance(target, DeliveryResult):
        return target
    headers = {
        "Authorization": f"Bearer {message.connection.credentials.get('token', '')}",
        "Idempotency-Key": message.idempotency_key,
        **correlation_headers(),
    }
    try:
        with client_for(message.connection) as client:
            response = client.post(
                f"{SALES_ORDERS_PATH}/{target}/cancel", json=message.payload, headers=headers
            )
    except httpx.HTTPError as exc:
        return result_from_error(exc)
    result = result_from_response(response)
    if not result.ok and isinstance(result.body, dict) and result.body.get("error"):
        return DeliveryResult(
            ok=False,
            status_code=result.status_code,
            body=result.body,
            error=f"HTTP {result.status_code}: {result.body['error']}",
            retryable=result.retryable,
            retry_after_s=result.retry_after_s,
        )
    return result


@on_delivered(SALES_ORDER_CANCEL)
def record_sales_order_cancel(message: OutboundMessage, result: DeliveryResult) -> None:
    body = result.body if isinstance(result.body, dict) else {}
    if body.get("status") != "cancelled":
        return
    order = Order.objects.filter(pk=message.subject_id).first()
    if order is not None:
        record_erp_cancelled(
            order, erp_reference=str(body.get("id", "")), connection=message.connection.slug
        )


from integrations.erp import documents, shipments  # noqa: E402, F401 - they register too
