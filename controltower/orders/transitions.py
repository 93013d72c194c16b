"""The canonical order state machine: every legal move, in one table."""

from __future__ import annotations

from controltower.orders.choices import OrderState as S

ALLOWED: dict[S, frozenset[S]] = {
    S.RECEIVED: frozenset({S.PENDING_PAYMENT, S.ON_HOLD, S.ACCEPTED, S.CANCELLED, S.FAILED}),
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


# A channel reports where an order *is*, not every step it took (WooCommerce merges updates),
# so a later state may be reached through states it implies. These are never implied: our own
# ERP progress, and ends that are not on the way anywhere.
_NEVER_IMPLIED = frozenset({S.REGISTERED, S.CANCELLED, S.FAILED, S.REFUNDED})


def is_allowed(current: str, target: str) -> bool:
    return S(target) in ALLOWED[S(current)]


def path_to(current: str, target: str) -> list[S] | None:
    """The shortest legal way from ``current`` to ``target`` (the states entered, in order), or
    None when there is none. A direct move is a path of one."""
    start, goal = S(current), S(target)
    if start == goal:
        return []
    frontier: list[list[S]] = [[start]]
    seen = {start}
    while frontier:
        route = frontier.pop(0)
        for nxt in sorted(ALLOWED[route[-1]]):
            if nxt == goal:
                return [*route[1:], nxt]
            if nxt in seen or nxt in _NEVER_IMPLIED:
                continue
            seen.add(nxt)
            frontier.append([*route, nxt])
    return None


class IllegalTransition(Exception):
    def __init__(self, current: str, target: str) -> None:
        super().__init__(f"illegal order transition {current} → {target}")
        self.current = current
        self.target = target
