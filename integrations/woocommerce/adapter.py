"""WooCommerce connector: inbound order events → canonical orders.

Receive: ``webhooks.receive_webhook`` (signed webhooks into the inbox). Translate:
``translate.translate_order``. The domain decides; this adapter only calls its services and
announces ``order.accepted`` so that subscribed connectors (the ERP) queue their messages in the
same transaction.
"""

from __future__ import annotations

import json
import logging
from typing import Any

from controltower.catalog.choices import SystemKind
from controltower.orders.services import UnmappedChannelStatus, upsert_channel_order
from integrations.runtime.models import Connection, InboundEvent
from integrations.runtime.registry import PoisonMessage, inbound, publish_domain_event
from integrations.woocommerce.translate import TranslationError, translate_order

logger = logging.getLogger(__name__)


def source_system_for(connection: Connection) -> str:
    return f"woocommerce:{connection.slug}"


@inbound(SystemKind.WOOCOMMERCE)
def handle_inbound(event: InboundEvent) -> Any:
    """Apply one stored webhook; returns the order's correlation id, or None when ignored."""
    if event.resource != "order":
        logger.info("woocommerce %s events are not handled yet; ignored", event.resource)
        return None
    connection = event.connection
    if connection.channel_id is None:
        raise PoisonMessage(f"connection {connection.slug} has no channel configured")
    try:
        payload = json.loads(event.body)
    except ValueError as exc:
        raise TranslationError(f"malformed JSON: {exc}") from exc
    data = translate_order(payload, source_system=source_system_for(connection))
    try:
        result = upsert_channel_order(connection.channel, data)
    except UnmappedChannelStatus as exc:
        raise PoisonMessage(str(exc)) from exc
    if result.became_accepted:
        publish_domain_event("order.accepted", result.order)
    return result.order.correlation_id
