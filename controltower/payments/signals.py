"""What the payments domain asks of the gateway (the gateway connector listens)."""

from __future__ import annotations

from django.dispatch import Signal

# Capture (part of) an authorization. kwargs: ``payment``, ``amount`` (Decimal), ``final``
# (bool: release the rest), ``key`` (a stable idempotency suffix), ``reason``.
payment_capture_due = Signal()
# Void an authorization. kwargs: ``payment``, ``reason``.
payment_void_due = Signal()
# Refund captured money. kwargs: ``payment``, ``amount``, ``key``, ``reason``.
payment_refund_due = Signal()
