from __future__ import annotations

from controltower.core.admin_helpers import register_canonical
from controltower.inventory.models import ChannelAllocationRule, Reservation, StockPosition

register_canonical(StockPosition, Reservation, ChannelAllocationRule)
