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
    ERP = "erp"  # the ERP cancelled it by itself: the channel must be told, the ERP need not be


# Order to cash (services/lifecycle.py): sent inside the service's transaction.
# The order is registered and its money secured: release it to the warehouse. kwargs: ``order``.
order_release_ready = Signal()
# The order moved on in any aspect; listeners evaluate their gates (the posting gate, capture at
# shipment). kwargs: ``order``, ``aspect`` (the field that changed), ``reason``.
order_progressed = Signal()
# A person cancelled quantities of some lines that had not shipped (a backorder that will not
# come). kwargs: ``order``, ``value`` (Decimal: what those units were worth, tax included),
# ``key`` (stable: the same cancel is one refund), ``reason``.
order_lines_cancelled = Signal()
