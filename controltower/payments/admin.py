"""Transactional rows, written only by services: read-only state, money and identity, no add."""

from __future__ import annotations

from controltower.core.admin_helpers import register_canonical
from controltower.payments.models import Payment, PaymentTransaction, Settlement, SettlementLine

register_canonical(Payment, PaymentTransaction, Settlement, SettlementLine)
