"""What the inbox and the outbox share: who a connector syncs as, replay ancestry, and the
reading of a message's money at risk for its dead letter."""

from __future__ import annotations

import json
from decimal import Decimal
from typing import Any

from controltower.core.context import SERVICE_USERS


def service_username(kind: str) -> str:
    """The service user that names a connector's sync in history: ``sync.<kind>``."""
    name = f"sync.{kind}"
    return name if name in SERVICE_USERS else "system.runtime"


def replay_ancestors(model: Any, row: Any) -> list[int]:
    """The ids a replay descends from: its original, the original's original, …"""
    ids: list[int] = []
    parent_id = row.replay_of_id
    while parent_id is not None and parent_id not in ids:
        ids.append(parent_id)
        parent_id = (
            model.objects.filter(pk=parent_id).values_list("replay_of_id", flat=True).first()
        )
    return ids


def money_in(payload: Any) -> tuple[Decimal, str]:
    """The amount a message is about (its ``total`` and ``currency``), for money at risk."""
    if not isinstance(payload, dict):
        return Decimal(0), "EUR"
    currency = str(payload.get("currency") or "EUR")[:3].upper()
    try:
        amount = Decimal(str(payload.get("total", "0")))
    except ArithmeticError:
        return Decimal(0), currency
    return (amount if amount.is_finite() and amount > 0 else Decimal(0)), currency


def body_text(body: Any) -> str:
    if body is None:
        return ""
    if isinstance(body, str):
        return body
    return json.dumps(body, default=str)
