from __future__ import annotations

from controltower.core.admin_helpers import register_canonical
from controltower.fulfilment.models import CarrierEvent, Shipment, ShipmentLine

register_canonical(Shipment, ShipmentLine, CarrierEvent)
