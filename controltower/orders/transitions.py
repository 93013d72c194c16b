"""The canonical order state machine: every legal move, in one table."""

from __future__ import annotations

from controltower.orders.choices import (
    FulfilmentStatus,
    InvoicingStatus,
    PaymentStatus,
    PostingStatus,
)
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


# --- the aspects of order-to-cash: each system's step has its own small table -------------------
# (payment at the gateway, fulfilment at the warehouse, invoicing at the ERP, posting at the
# ledger). The order's stage is derived from its state and these (lifecycle.derive_stage).

P = PaymentStatus
F = FulfilmentStatus
I = InvoicingStatus  # noqa: E741
Q = PostingStatus

PAYMENT_ALLOWED: dict[str, frozenset[str]] = {
    P.NONE: frozenset({P.AUTHORIZED, P.PARTIALLY_CAPTURED, P.CAPTURED, P.FAILED, P.NOT_REQUIRED}),
    P.FAILED: frozenset({P.AUTHORIZED, P.PARTIALLY_CAPTURED, P.CAPTURED}),
    P.AUTHORIZED: frozenset({P.PARTIALLY_CAPTURED, P.CAPTURED, P.VOIDED, P.FAILED}),
    P.PARTIALLY_CAPTURED: frozenset({P.CAPTURED, P.PARTIALLY_REFUNDED, P.REFUNDED}),
    P.CAPTURED: frozenset({P.PARTIALLY_REFUNDED, P.REFUNDED}),
    P.PARTIALLY_REFUNDED: frozenset({P.REFUNDED}),
    P.REFUNDED: frozenset(),
    P.VOIDED: frozenset(),
    P.NOT_REQUIRED: frozenset(),
}

FULFILMENT_ALLOWED: dict[str, frozenset[str]] = {
    F.UNRELEASED: frozenset({F.RELEASE_REQUESTED}),
    F.RELEASE_REQUESTED: frozenset({F.RELEASED, F.UNRELEASED, F.RELEASE_CANCELLED}),
    F.RELEASED: frozenset({F.PICKING, F.PARTIALLY_SHIPPED, F.SHIPPED, F.RELEASE_CANCELLED}),
    F.PICKING: frozenset({F.PARTIALLY_SHIPPED, F.SHIPPED}),
    F.PARTIALLY_SHIPPED: frozenset({F.SHIPPED}),
    F.SHIPPED: frozenset(),
    F.RELEASE_CANCELLED: frozenset(),
}

INVOICING_ALLOWED: dict[str, frozenset[str]] = {
    I.NONE: frozenset({I.PARTIALLY_INVOICED, I.INVOICED}),
    I.PARTIALLY_INVOICED: frozenset({I.INVOICED}),
    I.INVOICED: frozenset(),
}

POSTING_ALLOWED: dict[str, frozenset[str]] = {
    Q.NONE: frozenset({Q.BLOCKED, Q.QUEUED}),
    Q.BLOCKED: frozenset({Q.QUEUED}),
    Q.QUEUED: frozenset({Q.SENT, Q.BLOCKED, Q.POSTED, Q.REJECTED}),
    Q.SENT: frozenset({Q.POSTED, Q.REJECTED, Q.QUEUED}),
    Q.REJECTED: frozenset({Q.QUEUED, Q.BLOCKED}),
    Q.POSTED: frozenset(),
}

ASPECTS: dict[str, dict[str, frozenset[str]]] = {
    "payment_status": PAYMENT_ALLOWED,
    "fulfilment_status": FULFILMENT_ALLOWED,
    "invoicing_status": INVOICING_ALLOWED,
    "posting_status": POSTING_ALLOWED,
}


def aspect_allowed(aspect: str, current: str, target: str) -> bool:
    return target == current or target in ASPECTS[aspect][current]
