"""Transactional rows, written only by services: read-only state, money and identity, no add."""

from __future__ import annotations

from controltower.core.admin_helpers import register_canonical
from controltower.returns.models import Refund, RefundLine, ReturnAuthorization, ReturnLine

register_canonical(ReturnAuthorization, ReturnLine, Refund, RefundLine)
