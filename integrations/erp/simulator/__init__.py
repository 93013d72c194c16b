"""ERP simulator: generic JSON sales-order contract over real HTTP (see docs/contracts/erp.md)."""

from __future__ import annotations

from integrations.erp.simulator.server import ErpSimulator

__all__ = ["ErpSimulator"]
