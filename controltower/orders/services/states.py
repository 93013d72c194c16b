"""Where an order is in its lifecycle: the state machine applied (one save and one history row
per move, a timeline entry and the consequences of each state entered), transitions asked for,
and a person's cancel."""

from __future__ import annotations

import logging
from typing import Any

from django.db import transaction
from django.utils import timezone

from controltower.catalog.models import Channel
from controltower.core import memo
from controltower.core.context import acting_as, correlated
from controltower.core.models import stamp
from controltower.core.writepath import domain_service
from controltower.inventory.services import (
    release_order_reservations,
    reserve_order_lines,
)
from controltower.orders import events, live
from controltower.orders.choices import OrderState
from controltower.orders.locks import lock_order
from controltower.orders.models import ChannelStatusMapping, Order, OrderLine
from controltower.orders.services import lifecycle
from controltower.orders.signals import CancelOrigin, order_cancelled
from controltower.orders.transitions import IllegalTransition, is_allowed, path_to

logger = logging.getLogger(__name__)


# Our own progress past "accepted" that a channel does not know about: a channel that still says
# "processing" (→ accepted) is consistent with these, not a request to go back.
_PROGRESS_BEYOND_ACCEPTED = frozenset(
    {OrderState.REGISTERED, OrderState.PARTIALLY_SHIPPED, OrderState.SHIPPED}
)


class UnmappedChannelStatus(ValueError):
    pass


def map_channel_status(channel: Channel, channel_status: str) -> OrderState:
    mapping = memo.remember(
        ("channel-status", channel.pk, channel_status),
        lambda: ChannelStatusMapping.objects.filter(
            channel=channel, channel_status=channel_status
        ).first(),
    )
    if mapping is None:
        raise UnmappedChannelStatus(
            f"channel {channel.code} has no mapping for status {channel_status!r}"
        )
    return OrderState(mapping.state)


def _route(order: Order, target: OrderState, *, reason: str) -> list[OrderState]:
    """The states an order passes through to reach ``target``; [] when there is nothing to do.

    A channel reports where an order is, not each step (WooCommerce merges updates): an order
    held as pending payment that the store reports completed was accepted on the way. A target
    no legal path reaches is refused and recorded, and changes nothing.
    """
    current = OrderState(order.state)
    if target == current:
        return []
    if target == OrderState.ACCEPTED and current in _PROGRESS_BEYOND_ACCEPTED:
        return []
    route = path_to(current, target)
    if route is None:
        events.transition_refused(order, current=current, target=target, reason=reason)
        logger.warning("order transition refused %s → %s", current, target)
        return []
    return route


def _move(order: Order, route: list[OrderState], reason: str) -> tuple[OrderState, str]:
    """Put the order in the route's last state (the caller saves it, once); the state it left
    and the history reason that names the whole route."""
    first = OrderState(order.state)
    order.state = route[-1]
    order.state_changed_at = timezone.now()
    steps = " → ".join([first, *route])
    return first, f"{steps}: {reason}"


def _enter(
    order: Order,
    first: OrderState,
    route: list[OrderState],
    *,
    reason: str,
    origin: str = CancelOrigin.CHANNEL,
    lines: list[OrderLine] | None = None,
    reserve: bool = True,
) -> None:
    """What entering each state of ``route`` means: its timeline entry and its consequences
    (``lines``: the order's lines when the caller holds them all, just created; ``reserve``
    False: the caller reserves them, for many orders at once)."""
    old = first
    for step in route:
        why = reason if step == route[-1] else f"implied by {reason}"
        events.state_changed(order, old=old, new=step, reason=why)
        if step == OrderState.ACCEPTED and reserve:
            reserve_order_lines(order, lines=lines)
        elif step in (OrderState.CANCELLED, OrderState.FAILED):
            release_order_reservations(order, reason=f"order {step}")
        if step == OrderState.CANCELLED:
            order_cancelled.send(sender=Order, order=order, origin=origin, reason=why)
        old = step


def _apply_state(
    order: Order, target: OrderState, *, reason: str, origin: str = CancelOrigin.CHANNEL
) -> list[OrderState]:
    """Move to ``target`` through the states it implies (one save, one history row naming the
    route; one timeline entry per state); returns the states entered."""
    route = _route(order, target, reason=reason)
    if not route:
        return []
    first, why = _move(order, route, reason)
    old_stage, release = lifecycle.derive(order, reason=reason)
    stamp(order, why[:100])
    order.save(
        update_fields=["state", "state_changed_at", *lifecycle.LIFECYCLE_FIELDS, "updated_at"]
    )
    _enter(order, first, route, reason=reason, origin=origin)
    lifecycle.announce(order, old_stage=old_stage, release=release, aspect="state", reason=reason)
    return route


@domain_service
def transition_order(
    order: Order, target: OrderState, *, reason: str, origin: str = CancelOrigin.CHANNEL
) -> Order:
    """Move an order to ``target``; an illegal move is recorded, changes nothing, and raises
    ``IllegalTransition`` (the record is written after the refused block, so it survives)."""
    with transaction.atomic(savepoint=False):
        order = lock_order(order.pk)
        current = order.state
        refused = target != current and not is_allowed(current, target)
        if not refused and _apply_state(order, target, reason=reason, origin=origin):
            live.order_changed(order.pk, created=False)
    if refused:
        with correlated(order.correlation_id):
            events.transition_refused(order, current=current, target=target, reason=reason)
        raise IllegalTransition(current, target)
    return order


@domain_service
def cancel_order(order: Order, *, actor: Any, reason: str) -> Order:
    """A person cancels an order here (an ops/admin action). Listeners of ``order_cancelled``
    (origin ``ours``) tell the channel and the ERP. Illegal from the order's state → recorded,
    nothing changes, ``IllegalTransition``; cancelling a cancelled order changes nothing."""
    reason = (reason or "").strip() or "no reason given"
    with acting_as(actor):
        return transition_order(
            order,
            OrderState.CANCELLED,
            reason=f"cancelled here: {reason}",
            origin=CancelOrigin.OURS,
        )
