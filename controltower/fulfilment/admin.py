"""Transactional rows, written only by services: read-only state, money and identity, no add."""

from __future__ import annotations

from controltower.core.admin_helpers import register_canonical
from controltower.fulfilment.models import CarrierEvent, Shipment, ShipmentLine

register_canonical(Shipment, ShipmentLine, CarrierEvent)
