"""The canonical order state machine: every legal move, in one table."""

from __future__ import annotations

from controltower.orders.choices import OrderState as S

ALLOWED: dict[S, frozenset[S]] = {
    S.RECEIVED: frozenset(
        {S.PENDING_PAYMENT, S.ON_HOLD, S.ACCEPTED, S.CANCELLED, S.FAILED, S.COMPLETED}
    ),
    S.PENDING_PAYMENT: frozenset({S.ON_HOLD, S.ACCEPTED, S.CANCELLED, S.FAILED}),
    S.ON_HOLD: frozenset({S.PENDING_PAYMENT, S.ACCEPTED, S.CANCELLED, S.FAILED}),
    S.ACCEPTED: frozenset(
        {
            S.REGISTERED,
            S.ON_HOLD,
            S.CANCELLED,
            S.PARTIALLY_SHIPPED,
            S.SHIPPED,
            S.COMPLETED,
            S.REFUNDED,
        }
    ),
    S.REGISTERED: frozenset(
        {S.PARTIALLY_SHIPPED, S.SHIPPED, S.COMPLETED, S.CANCELLED, S.ON_HOLD, S.REFUNDED}
    ),
    S.PARTIALLY_SHIPPED: frozenset({S.SHIPPED, S.COMPLETED, S.REFUNDED}),
    S.SHIPPED: frozenset({S.COMPLETED, S.REFUNDED}),
    S.COMPLETED: frozenset({S.REFUNDED}),
    S.CANCELLED: frozenset(),
    S.REFUNDED: frozenset(),
    S.FAILED: frozenset({S.PENDING_PAYMENT, S.ACCEPTED, S.CANCELLED}),
}

TERMINAL: frozenset[S] = frozenset(state for state, targets in ALLOWED.items() if not targets)


def is_allowed(current: str, target: str) -> bool:
    return S(target) in ALLOWED[S(current)]


class IllegalTransition(Exception):
    def __init__(self, current: str, target: str) -> None:
        super().__init__(f"illegal order transition {current} → {target}")
        self.current = current
        self.target = target
