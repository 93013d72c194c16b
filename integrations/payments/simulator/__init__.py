"""Payment gateway simulator: Stripe's PaymentIntents, refunds and balance transactions over real
HTTP, with signed webhooks (see docs/contracts/payments.md)."""

from __future__ import annotations

from integrations.payments.simulator.server import PaymentsFaultPlan, PaymentsSimulator

__all__ = ["PaymentsFaultPlan", "PaymentsSimulator"]
