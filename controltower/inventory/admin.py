"""Inventory: allocation rules are configuration (addable); stock positions and reservations are
written only by the inventory services."""

from __future__ import annotations

from controltower.core.admin_helpers import register_canonical
from controltower.inventory.models import ChannelAllocationRule, Reservation, StockPosition

register_canonical(ChannelAllocationRule, service_only=False)
register_canonical(StockPosition, Reservation)
