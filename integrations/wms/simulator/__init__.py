"""WMS simulator: generic release/shipment warehouse contract over real HTTP
(see docs/contracts/wms.md)."""

from __future__ import annotations

from integrations.wms.simulator.server import WmsFaultPlan, WmsSimulator

__all__ = ["WmsFaultPlan", "WmsSimulator"]
