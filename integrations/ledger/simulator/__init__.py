"""Ledger simulator: generic journal-batch general-ledger contract over real HTTP
(see docs/contracts/ledger.md)."""

from __future__ import annotations

from integrations.ledger.simulator.server import LedgerFaultPlan, LedgerSimulator

__all__ = ["LedgerFaultPlan", "LedgerSimulator"]
