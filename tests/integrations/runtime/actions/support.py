"""What the message-action tests share: the URLs, the answers people are given, and the steps
that bring a message or an event to where a person acts on it."""

from __future__ import annotations

from typing import Any

import httpx
from django.test import Client
from django.utils import timezone

from controltower.core.context import acting_as
from controltower.orders.models import Order
from integrations.erp.adapter import SALES_ORDER_CREATE
from integrations.runtime import registry
from integrations.runtime.choices import InboundStatus, OutboundStatus
from integrations.runtime.http import result_from_response
from integrations.runtime.inbox import claim_inbound, process_inbound_event
from integrations.runtime.models import (
    InboundEvent,
    OutboundMessage,
)
from integrations.runtime.outbox import (
    Attempt,
    _record_delivery,
    claim_outbound,
)
from tests.factories.woocommerce import body_of, webhook_headers, woo_order

HOOK = "/hooks/woocommerce/woo-web/"
OUTBOUND = "/api/v1/outbound-messages/"
INBOUND = "/api/v1/inbound-events/"
ACTIONS = "/api/v1/message-actions/"
ENDPOINT = f"erp-main:{SALES_ORDER_CREATE}"
FORBIDDEN = {"detail": "You do not have permission to perform this action."}
ANONYMOUS = {"detail": "Authentication credentials were not provided."}
# What the ERP answered; whether that is retried is for the runtime's HTTP table to decide.
REJECTED_422 = result_from_response(
    httpx.Response(422, json={"error": "unknown sku NW-TEE-001-BLK-M"})
)


def _webhook(client: Client, payload: dict[str, Any] | bytes) -> Any:
    body = payload if isinstance(payload, bytes) else body_of(payload)
    return client.post(
        HOOK, data=body, content_type="application/json", headers=webhook_headers(body)
    )


def _drain() -> dict[int, str]:
    return {event_id: process_inbound_event(event_id) for event_id in claim_inbound(10)}


def _order_message(client: Client, order_id: int = 1001) -> OutboundMessage:
    """A webhook received and processed: its order's ERP sales-order message, pending."""
    assert _webhook(client, woo_order(order_id)).status_code == 200
    _drain()
    order = Order.objects.get(external_id=str(order_id))
    return OutboundMessage.objects.get(correlation_id=order.correlation_id)


def _record(message: OutboundMessage, result: registry.DeliveryResult) -> OutboundMessage:
    """Claim the message as a worker would, and record the outcome of one delivery."""
    assert message.pk in claim_outbound(10)
    message.refresh_from_db()
    with acting_as("sync.erp"):
        policy = registry.policy_for(message.kind)
        _record_delivery(Attempt(message, result, timezone.now(), 12, "", policy))
    message.refresh_from_db()
    return message


def _dead_message(client: Client, order_id: int = 1001) -> OutboundMessage:
    """The ERP refused the sales order for good (HTTP 422): dead-lettered after one attempt."""
    message = _record(_order_message(client, order_id), REJECTED_422)
    assert message.status == OutboundStatus.DEAD
    return message


def _post(client: Client, url: str, data: dict[str, Any], **extra: Any) -> Any:
    return client.post(url, data, content_type="application/json", **extra)


def _failed_event(client: Client) -> InboundEvent:
    """A poison order (a line with quantity 0) dead-lettered by the inbox."""
    poison = woo_order(1002, lines=[("NW-TEE-001-BLK-M", 0, "19.95")])
    assert _webhook(client, poison).status_code == 200
    _drain()
    event = InboundEvent.objects.get(resource_id="1002")
    assert event.status == InboundStatus.FAILED
    return event
