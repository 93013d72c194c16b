"""WooCommerce connector: inbound order events → canonical orders; our changes → the store.

Receive: ``webhooks.receive_webhook`` (signed webhooks into the inbox). Translate:
``translate.translate_order``. The domain decides; this adapter only calls its services and
announces ``order.accepted`` so that subscribed connectors (the ERP) queue their messages in the
same transaction.

Order topics: ``order.created`` / ``order.updated`` / ``order.backfill`` (full body, upsert);
``order.deleted`` (body only ``{"id": N}``: trash + cancel through the orders service);
``order.restored`` (full body: un-trash, back to the state its status implies if allowed). An
order whose status is ``trash`` is handled as deleted.

Out: when a person (or the ERP) cancels an order here, ``PUT /orders/<id> {"status":
"cancelled"}`` through the outbox (``ORDER_UPDATE``); when it has all shipped, ``{"status":
"completed"}``; a customer note (``ORDER_NOTE``, ``POST /orders/<id>/notes``) per parcel with its
carrier and tracking. Both are safe to retry: the PUT is absolute, and a note is looked for
before it is posted again.
"""

from __future__ import annotations

import json
import logging
from collections import Counter
from typing import Any

import httpx
from django.dispatch import receiver

from controltower.catalog.choices import SystemKind
from controltower.core import memo
from controltower.fulfilment.signals import shipment_recorded
from controltower.orders.choices import FulfilmentStatus
from controltower.orders.models import Order
from controltower.orders.services import (
    ChannelOrderData,
    UnmappedChannelStatus,
    create_channel_orders,
    record_channel_update_requested,
    restore_channel_order,
    trash_channel_order,
    upsert_channel_order,
)
from controltower.orders.signals import CancelOrigin, order_cancelled, order_progressed
from integrations.runtime.http import correlation_headers, result_from_error, result_from_response
from integrations.runtime.models import Connection, InboundEvent, OutboundMessage
from integrations.runtime.outbox import enqueue_outbound
from integrations.runtime.registry import (
    DeliveryResult,
    Ignored,
    PoisonMessage,
    deliverer,
    inbound,
    inbound_batch,
    publish_domain_event,
)
from integrations.woocommerce import (
    prices,  # noqa: F401 - registers the price push
    stock,  # noqa: F401 - registers the stock publisher
)
from integrations.woocommerce.client import WooCommerceError, woo_client
from integrations.woocommerce.products import handle_product_event
from integrations.woocommerce.refunds import record_order_refunds
from integrations.woocommerce.translate import (
    TRASH_STATUS,
    TranslationError,
    order_id_of,
    translate_order,
    translate_order_refunds,
)

logger = logging.getLogger(__name__)

ORDER_UPDATE = "woocommerce.order.update"
ORDER_NOTE = "woocommerce.order.note"
DELETED_TOPICS = frozenset({"order.deleted"})
RESTORED_TOPICS = frozenset({"order.restored"})


def source_system_for(connection: Connection) -> str:
    return f"woocommerce:{connection.slug}"


def _payload(event: InboundEvent) -> Any:
    try:
        return json.loads(event.body)
    except ValueError as exc:
        raise TranslationError(f"malformed JSON: {exc}") from exc


def _trash(event: InboundEvent, order_id: int) -> Any:
    source_system = source_system_for(event.connection)
    removal = trash_channel_order(
        source_system, str(order_id), reason=f"deleted in {event.connection.slug}"
    )
    if removal is None:
        return Ignored(
            f"{event.topic or 'order.deleted'} for order {order_id}: no such order here (never "
            "received, or deleted before we saw it)"
        )
    return removal.order.correlation_id


@inbound(SystemKind.WOOCOMMERCE)
def handle_inbound(event: InboundEvent) -> Any:
    """Apply one stored webhook; returns the order's correlation id, or None when ignored."""
    if event.resource == "product":
        return handle_product_event(event)
    if event.resource != "order":
        return Ignored(f"woocommerce {event.resource or 'unknown'} events are not handled")
    connection = event.connection
    if connection.channel_id is None:
        raise PoisonMessage(f"connection {connection.slug} has no channel configured")
    payload = _payload(event)
    if event.topic in DELETED_TOPICS:
        return _trash(event, order_id_of(payload))
    if isinstance(payload, dict) and payload.get("status") == TRASH_STATUS:
        return _trash(event, order_id_of(payload))
    data = translate_order(payload, source_system=source_system_for(connection))
    refunds = translate_order_refunds(payload)
    try:
        if event.topic in RESTORED_TOPICS:
            result = restore_channel_order(connection.channel, data)
        else:
            result = upsert_channel_order(connection.channel, data)
    except UnmappedChannelStatus as exc:
        raise PoisonMessage(str(exc)) from exc
    if result.became_accepted:
        publish_domain_event("order.accepted", result.order)
    record_order_refunds(connection, result.order, refunds)
    return result.order.correlation_id


@inbound_batch(SystemKind.WOOCOMMERCE)
def handle_inbound_batch(events: list[InboundEvent]) -> dict[int, Any]:
    """New orders of a drain's batch, created together (``create_channel_orders``); returns
    ``{event id: correlation id}`` for them. Everything else — deletions, restores, trashed
    orders, bodies carrying refunds, orders held already or named twice in the batch, anything
    that does not translate — is left to :func:`handle_inbound`, one by one."""
    candidates: dict[int, list[tuple[InboundEvent, ChannelOrderData]]] = {}
    named: Counter[tuple[int, str]] = Counter()
    for event in events:
        connection = event.connection
        plain = (
            event.resource == "order"
            and event.topic not in DELETED_TOPICS | RESTORED_TOPICS
            and connection.channel_id is not None
        )
        if not plain:
            continue
        try:
            payload = json.loads(event.body)
            if not isinstance(payload, dict) or payload.get("status") == TRASH_STATUS:
                continue
            if translate_order_refunds(payload):
                continue
            data = translate_order(payload, source_system=source_system_for(connection))
        except (ValueError, TranslationError, RecursionError):
            continue
        named[(connection.pk, data.external_id)] += 1
        candidates.setdefault(connection.pk, []).append((event, data))
    outcomes: dict[int, Any] = {}
    for group in candidates.values():
        group = [(e, d) for e, d in group if named[(e.connection.pk, d.external_id)] == 1]
        if not group:
            continue
        channel = group[0][0].connection.channel
        created = create_channel_orders(channel, [data for _, data in group])
        by_id = {result.order.external_id: result for result in created}
        for event, data in group:
            result = by_id.get(data.external_id)
            if result is None:
                continue
            if result.became_accepted:
                publish_domain_event("order.accepted", result.order)
            outcomes[event.pk] = result.order.correlation_id
    return outcomes


# --- back to the store ---------------------------------------------------------------------


def _store_connection(order: Order) -> Connection | None:
    prefix = "woocommerce:"
    if not order.source_system.startswith(prefix):
        return None
    slug = order.source_system[len(prefix) :]
    # Once per drain batch (controltower.core.memo): every order of it asks for its store.
    return memo.remember(
        ("connection", SystemKind.WOOCOMMERCE, slug),
        lambda: Connection.objects.filter(kind=SystemKind.WOOCOMMERCE, slug=slug).first(),
    )


@receiver(order_cancelled, dispatch_uid="woocommerce.tell_store_of_cancel")
def tell_store_of_cancel(sender: Any, *, order: Order, origin: str, **_: Any) -> None:
    """Cancelled here or by the ERP (not by the store): queue ``PUT /orders/<id> {"status":
    "cancelled"}``.

    No echo loop: the ``order.updated`` WooCommerce sends back says "cancelled", which we already
    are, and a cancel the store reported (origin ``channel``) is never sent back."""
    if origin == CancelOrigin.CHANNEL:
        return
    connection = _store_connection(order)
    if connection is None:
        return
    key = f"woocommerce:{connection.slug}:order-status:{order.external_id}:cancelled"
    created = enqueue_outbound(
        connection,
        kind=ORDER_UPDATE,
        idempotency_key=key,
        payload={"order_id": order.external_id, "body": {"status": "cancelled"}},
        correlation_id=order.correlation_id,
        subject_type="orders.order",
        subject_id=str(order.pk),
    )
    if created:
        record_channel_update_requested(
            order, connection=connection.slug, change="status → cancelled", idempotency_key=key
        )


def queue_customer_note(order: Order, *, note: str, key: str) -> bool:
    """Queue a customer note on the store's order (e.g. carrier and tracking). ``key`` names the
    business fact (``shipment:<id>``) so the same note is queued once."""
    connection = _store_connection(order)
    if connection is None:
        return False
    idempotency_key = f"woocommerce:{connection.slug}:order-note:{order.external_id}:{key}"
    created = enqueue_outbound(
        connection,
        kind=ORDER_NOTE,
        idempotency_key=idempotency_key,
        payload={"order_id": order.external_id, "note": note, "customer_note": True},
        correlation_id=order.correlation_id,
        subject_type="orders.order",
        subject_id=str(order.pk),
    )
    if created:
        record_channel_update_requested(
            order, connection=connection.slug, change="customer note", idempotency_key=key
        )
    return created


@receiver(shipment_recorded, dispatch_uid="woocommerce.tell_customer_of_shipment")
def tell_customer_of_shipment(sender: Any, *, order: Order, shipment: Any, **_: Any) -> None:
    """Each parcel: a customer note with its carrier and tracking number (WooCommerce mails it)."""
    parcel = f"{shipment.carrier} {shipment.tracking_number}".strip() or shipment.external_id
    items = sum(line.quantity for line in shipment.lines.all())
    note = f"Your order is on its way: {items} item(s) shipped with {parcel}."
    queue_customer_note(order, note=note, key=f"shipment:{shipment.external_id}")


@receiver(order_progressed, dispatch_uid="woocommerce.tell_store_shipped")
def tell_store_shipped(sender: Any, *, order: Order, aspect: str, **_: Any) -> None:
    """Everything shipped: the store's order becomes ``completed`` (WooCommerce's "fulfilled"),
    which the store then reports back as ``order.updated`` and closes the order here once it is
    posted."""
    if aspect != "fulfilment_status" or order.fulfilment_status != FulfilmentStatus.SHIPPED:
        return
    connection = _store_connection(order)
    if connection is None:
        return
    key = f"woocommerce:{connection.slug}:order-status:{order.external_id}:completed"
    created = enqueue_outbound(
        connection,
        kind=ORDER_UPDATE,
        idempotency_key=key,
        payload={"order_id": order.external_id, "body": {"status": "completed"}},
        correlation_id=order.correlation_id,
        subject_type="orders.order",
        subject_id=str(order.pk),
    )
    if created:
        record_channel_update_requested(
            order, connection=connection.slug, change="status → completed", idempotency_key=key
        )


def _order_path(message: OutboundMessage) -> str:
    order_id = str(message.payload.get("order_id", ""))
    if not order_id.isdigit():
        raise PoisonMessage(f"payload.order_id must be a WooCommerce order id, not {order_id!r}")
    return f"/orders/{order_id}"


def _result(response: httpx.Response) -> DeliveryResult:
    result = result_from_response(response)
    if result.ok:
        return result
    error = WooCommerceError.from_response(response)
    return DeliveryResult(
        ok=False,
        status_code=result.status_code,
        body=result.body,
        error=str(error),
        retryable=result.retryable,
        retry_after_s=result.retry_after_s,
    )


@deliverer(ORDER_UPDATE)
def deliver_order_update(message: OutboundMessage) -> DeliveryResult:
    """``PUT /orders/<id>`` with an absolute body: sending it twice leaves the same order."""
    path = _order_path(message)
    body = message.payload.get("body")
    if not isinstance(body, dict) or not body:
        raise PoisonMessage("payload.body must be a non-empty object")
    try:
        with woo_client(message.connection) as client:
            response = client.put(path, json=body, headers=correlation_headers())
    except httpx.HTTPError as exc:
        return result_from_error(exc)
    return _result(response)


@deliverer(ORDER_NOTE)
def deliver_order_note(message: OutboundMessage) -> DeliveryResult:
    """``POST /orders/<id>/notes``. WooCommerce has no idempotency keys, so the note is looked
    for first (an earlier attempt or a replay may have landed) and never posted twice."""
    path = f"{_order_path(message)}/notes"
    note = message.payload.get("note")
    if not isinstance(note, str) or not note.strip():
        raise PoisonMessage("payload.note must be a non-empty string")
    customer_note = bool(message.payload.get("customer_note", True))
    try:
        with woo_client(message.connection) as client:
            response = client.get(path, params={"type": "customer" if customer_note else "any"})
            if response.status_code != 200:
                return _result(response)
            existing = response.json()
            for held in existing if isinstance(existing, list) else []:
                same = held.get("note") == note and bool(held.get("customer_note")) == customer_note
                if same:
                    return DeliveryResult(ok=True, status_code=200, body=held)
            response = client.post(
                path,
                json={"note": note, "customer_note": customer_note},
                headers=correlation_headers(),
            )
    except httpx.HTTPError as exc:
        return result_from_error(exc)
    return _result(response)
