"""Inventory: allocation, freshness and drift rules are configuration (addable; the stock rules
page edits them too); stock positions and reservations are written only by the inventory
services."""

from __future__ import annotations

from controltower.core.admin_helpers import register_canonical
from controltower.inventory.models import (
    ChannelAllocationRule,
    DriftTolerance,
    Reservation,
    StockFreshnessRule,
    StockPosition,
)

register_canonical(ChannelAllocationRule, StockFreshnessRule, DriftTolerance, service_only=False)
register_canonical(StockPosition, Reservation)
