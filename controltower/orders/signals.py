"""What the orders domain announces, for whoever listens (connectors subscribe; the domain imports
none of them). Sent inside the service's transaction, so receivers' outbox rows commit with it.
"""

from __future__ import annotations

from django.dispatch import Signal

# An order entered ``cancelled``. kwargs: ``order``, ``origin`` (one of ``CancelOrigin``),
# ``reason``.
order_cancelled = Signal()


class CancelOrigin:
    CHANNEL = "channel"  # the channel reported it (status cancelled, or the order was deleted)
    OURS = "ours"  # a person (or our own rule) cancelled it here: the channel must be told
