"""The POS simulator (docs/simulators.md): ten stores' tills over HTTP, signed webhooks, offline
uploads."""

from integrations.pos.simulator.server import DEFAULT_TOKEN, PosFaultPlan, PosSimulator

__all__ = ["DEFAULT_TOKEN", "PosFaultPlan", "PosSimulator"]
