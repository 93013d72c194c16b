"""What the fulfilment domain announces (the ERP and storefront connectors listen)."""

from __future__ import annotations

from django.dispatch import Signal

# A shipment was recorded for an order. kwargs: ``order``, ``shipment``.
shipment_recorded = Signal()
# The warehouse release of a cancelled order must be withdrawn. kwargs: ``order``, ``reason``.
release_cancel_due = Signal()
