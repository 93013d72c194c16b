"""The transport of live updates: Channels groups (the sink of ``controltower.core.live``).

Domain apps register their renderers with ``controltower.core.live``; this module only carries
the rendered payloads to the browsers' groups. Consumers re-check the permission per event.
"""

from __future__ import annotations

import logging

from asgiref.sync import async_to_sync
from channels.layers import get_channel_layer

from controltower.core.live import LiveUpdate

logger = logging.getLogger(__name__)

OPS_GROUP = "dashboard.ops"


def send(group: str, message: LiveUpdate) -> None:
    layer = get_channel_layer()
    if layer is None:
        return
    try:
        async_to_sync(layer.group_send)(group, message)
    except Exception:  # a push is best effort; the page polls too
        logger.warning("push to %s failed", group, exc_info=True)
