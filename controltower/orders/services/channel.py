"""Orders as their channel reports them: created (one by one, or a drain's new orders
together), updated with the stale-update guard, trashed and restored."""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal
from typing import Any

from django.db import transaction
from django.utils import timezone

from controltower.catalog.models import SKU, Channel
from controltower.core.context import correlated
from controltower.core.models import bulk_create, stamp
from controltower.core.writepath import domain_service
from controltower.exceptions.choices import ExceptionType, Severity
from controltower.exceptions.services import close_exceptions_for, open_exception
from controltower.inventory.services import (
    reserve_new_lines,
)
from controltower.orders import events, live
from controltower.orders.choices import OrderState
from controltower.orders.lifecycle import derive_stage
from controltower.orders.models import Order, OrderLine
from controltower.orders.services import lifecycle
from controltower.orders.services.states import (
    UnmappedChannelStatus,
    _apply_state,
    _enter,
    _move,
    _route,
    map_channel_status,
)
from controltower.orders.transitions import is_allowed, path_to

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class ChannelOrderLineData:
    external_id: str
    sku_code: str
    name: str
    quantity: int
    unit_price: Decimal
    discount: Decimal
    tax: Decimal
    total: Decimal
    tax_code: str = ""
    # Where the line is fulfilled when the channel says so (a till sale: its store); None: later.
    fulfilment_location_id: int | None = None


@dataclass(frozen=True)
class ChannelOrderData:
    """A channel's order, translated by an adapter into canonical terms."""

    source_system: str
    external_id: str
    number: str
    channel_status: str
    currency: str
    subtotal: Decimal
    discount: Decimal
    shipping: Decimal
    tax: Decimal
    total: Decimal
    placed_at: datetime
    source_updated_at: datetime
    customer_name: str = ""
    customer_email: str = ""
    billing_address: dict[str, Any] = field(default_factory=dict)
    shipping_address: dict[str, Any] = field(default_factory=dict)
    payment_method: str = ""
    lines: tuple[ChannelOrderLineData, ...] = ()


@dataclass
class OrderUpsert:
    order: Order
    created: bool = False
    changed: bool = False
    stale: bool = False
    became_accepted: bool = False


def _order_fields(data: ChannelOrderData) -> dict[str, Any]:
    return {
        "number": data.number,
        "channel_status": data.channel_status,
        "currency": data.currency,
        "subtotal_amount": data.subtotal,
        "discount_amount": data.discount,
        "shipping_amount": data.shipping,
        "tax_amount": data.tax,
        "total_amount": data.total,
        "customer_name": data.customer_name,
        "customer_email": data.customer_email,
        "billing_address": data.billing_address,
        "shipping_address": data.shipping_address,
        "payment_method": data.payment_method,
        "placed_at": data.placed_at,
        "source_updated_at": data.source_updated_at,
    }


def _line_row(
    order: Order,
    data: ChannelOrderData,
    number: int,
    line: ChannelOrderLineData,
    skus: dict[str, SKU],
) -> OrderLine:
    return OrderLine(
        order=order,
        correlation_id=order.correlation_id,
        source_system=data.source_system,
        external_id=f"{data.external_id}:{line.external_id}",
        source_updated_at=data.source_updated_at,
        line_number=number,
        sku=skus.get(line.sku_code),
        sku_code=line.sku_code,
        name=line.name,
        quantity=line.quantity,
        currency=data.currency,
        unit_price_amount=line.unit_price,
        discount_amount=line.discount,
        tax_amount=line.tax,
        total_amount=line.total,
        tax_code=line.tax_code,
        fulfilment_location_id=line.fulfilment_location_id,
    )


def _hold_lines(order: Order, lines: list[OrderLine]) -> None:
    """The order now knows all its lines: ``order.lines.all()`` in this transaction (the ERP's
    sales-order payload, reservations) reads them from here, as a prefetch would have."""
    held = order.lines.all()
    held._result_cache = lines  # type: ignore[attr-defined]
    held._prefetch_done = True  # type: ignore[attr-defined]
    order._prefetched_objects_cache = {"lines": held}  # type: ignore[attr-defined]


def _create_lines(order: Order, data: ChannelOrderData) -> list[OrderLine]:
    skus = {s.code: s for s in SKU.objects.filter(code__in=[ln.sku_code for ln in data.lines])}
    rows = [_line_row(order, data, number, line, skus) for number, line in enumerate(data.lines, 1)]
    # One statement for the lines and one for their history rows, however many lines.
    lines = bulk_create(OrderLine, rows, reason="received from channel")
    _hold_lines(order, lines)
    return lines


def _arrival_route(target: OrderState) -> list[OrderState] | None:
    """The states a new order passes through to ``target``; None when none reaches it."""
    return path_to(OrderState.RECEIVED, target) if target != OrderState.RECEIVED else []


def _new_order(channel: Channel, data: ChannelOrderData, route: list[OrderState]) -> Order:
    """A new order (not saved), born in the last state of ``route``: one INSERT and one history
    row that names how it got there."""
    order = Order(
        channel=channel,
        source_system=data.source_system,
        external_id=data.external_id,
        **_order_fields(data),
    )
    received = f"received from {data.source_system}"
    if route:
        _first, moved = _move(order, route, f"channel status {data.channel_status}")
        received = f"{received}; {moved}"
    order.stage, order.waiting_on = derive_stage(order, capture_mode=lifecycle.capture_mode(order))
    return stamp(order, received[:100])  # type: ignore[return-value]


@domain_service
def upsert_channel_order(channel: Channel, data: ChannelOrderData) -> OrderUpsert:
    """Create or update an order from its channel's view, refusing stale updates.

    Idempotent: the same data applied twice changes nothing the second time.
    """
    target = map_channel_status(channel, data.channel_status)
    with transaction.atomic(savepoint=False):
        existing = (
            Order.objects.select_for_update(of=("self",))
            .filter(source_system=data.source_system, external_id=data.external_id)
            .first()
        )
        if existing is None:
            route = _arrival_route(target)
            entered = route or []
            order = _new_order(channel, data, entered)
            reason = f"channel status {data.channel_status}"
            with correlated(order.correlation_id):
                order.save(force_insert=True)
                if route is None:
                    _route(order, target, reason=reason)  # records the refusal
                lines = _create_lines(order, data)
                events.order_received(
                    order, source=data.source_system, channel_status=data.channel_status
                )
                _enter(order, OrderState.RECEIVED, entered, reason=reason, lines=lines)
            live.order_changed(order.pk, created=True)
            return OrderUpsert(
                order=order,
                created=True,
                changed=True,
                became_accepted=OrderState.ACCEPTED in entered,
            )

        order = existing
        with correlated(order.correlation_id):
            if order.is_stale(data.source_updated_at):
                events.stale_update_refused(
                    order,
                    held=order.source_updated_at.isoformat(),
                    offered=data.source_updated_at.isoformat(),
                )
                return OrderUpsert(order=order, stale=True)
            if order.source_updated_at == data.source_updated_at:
                return OrderUpsert(order=order)
            fields = _order_fields(data)
            changed = [name for name, value in fields.items() if getattr(order, name) != value]
            for name in changed:
                setattr(order, name, fields[name])
            stamp(order, f"updated from {data.source_system}")
            order.save(update_fields=[*changed, "updated_at"])
            events.order_updated(order, changed=[c for c in changed if c != "source_updated_at"])
            entered = _apply_state(order, target, reason=f"channel status {data.channel_status}")
            live.order_changed(order.pk, created=False)
            return OrderUpsert(
                order=order, changed=True, became_accepted=OrderState.ACCEPTED in entered
            )


# A new order entering these states has no consequence beyond its reservations; one that
# arrives cancelled or failed (a signal to the ERP and the store) takes the one-by-one path.
_BATCHABLE_STATES = frozenset(
    {OrderState.ACCEPTED, OrderState.PENDING_PAYMENT, OrderState.ON_HOLD, OrderState.RECEIVED}
)


@domain_service
def create_channel_orders(channel: Channel, batch: list[ChannelOrderData]) -> list[OrderUpsert]:
    """Create many new orders of one channel at once: what :func:`upsert_channel_order` does for
    a new order — born in the state its channel status implies, its lines, reservations and
    timeline, one history row each — with each kind of row inserted in one statement for the
    whole batch. Orders held already, unmapped statuses and arrivals the state machine refuses
    or that arrive cancelled/failed are left out (not in the result): the caller takes those
    one by one through :func:`upsert_channel_order`."""
    routes: dict[str, tuple[ChannelOrderData, list[OrderState]]] = {}
    for data in batch:
        try:
            target = map_channel_status(channel, data.channel_status)
        except UnmappedChannelStatus:
            continue
        route = _arrival_route(target)
        if route is not None and set(route) <= _BATCHABLE_STATES:
            routes[(data.source_system, data.external_id)] = (data, route)
    if not routes:
        return []
    with transaction.atomic(savepoint=False):
        held = Order.objects.filter(
            source_system__in={key[0] for key in routes},
            external_id__in=[key[1] for key in routes],
        ).values_list("source_system", "external_id")
        for key in held:
            routes.pop(key, None)
        orders = [_new_order(channel, data, route) for data, route in routes.values()]
        bulk_create(Order, orders, reason="received")  # each row keeps its own reason
        lines = _create_batch_lines(orders, [data for data, _ in routes.values()])
        accepted: list[OrderLine] = []
        results = []
        for order, (data, route) in zip(orders, routes.values(), strict=True):
            with correlated(order.correlation_id):
                events.order_received(
                    order, source=data.source_system, channel_status=data.channel_status
                )
                reason = f"channel status {data.channel_status}"
                _enter(order, OrderState.RECEIVED, route, reason=reason, reserve=False)
            if OrderState.ACCEPTED in route:
                accepted.extend(lines[order.pk])
            live.order_changed(order.pk, created=True)
            results.append(
                OrderUpsert(
                    order=order,
                    created=True,
                    changed=True,
                    became_accepted=OrderState.ACCEPTED in route,
                )
            )
        reserve_new_lines(accepted)
    return results


def _create_batch_lines(
    orders: list[Order], batch: list[ChannelOrderData]
) -> dict[int, list[OrderLine]]:
    """The lines of many new orders in one statement (and one for their history); each order
    then knows its lines, as after :func:`_create_lines`."""
    codes = {line.sku_code for data in batch for line in data.lines}
    skus = {s.code: s for s in SKU.objects.filter(code__in=codes)}
    rows = [
        _line_row(order, data, number, line, skus)
        for order, data in zip(orders, batch, strict=True)
        for number, line in enumerate(data.lines, start=1)
    ]
    created = bulk_create(OrderLine, rows, reason="received from channel")
    by_order: dict[int, list[OrderLine]] = {order.pk: [] for order in orders}
    for line in created:
        by_order[line.order_id].append(line)
    for order in orders:
        _hold_lines(order, by_order[order.pk])
    return by_order


@dataclass
class OrderRemoval:
    order: Order
    trashed: bool = False  # newly trashed by this call (False: it was already)
    cancelled: bool = False  # entered cancelled by this call
    cancel_refused: bool = False  # too late to cancel: an exception was opened


def _cancel_impossible_key(order: Order) -> str:
    return f"order:{order.pk}:channel-removed-after-fulfilment"


@domain_service
def trash_channel_order(
    source_system: str, external_id: str, *, reason: str
) -> OrderRemoval | None:
    """The channel deleted (trashed) an order: mark it trashed and cancel it, keeping its history.

    Too late to cancel (it shipped, completed or was refunded): the refused move is recorded and
    an exception asks a person to decide. Unknown order → ``None`` (nothing to do). Idempotent: a
    second delete of a trashed order changes nothing.
    """
    with transaction.atomic(savepoint=False):
        order = (
            Order.objects.select_for_update(of=("self",))
            .filter(source_system=source_system, external_id=external_id)
            .first()
        )
        if order is None:
            return None
        if order.trashed_at is not None:
            return OrderRemoval(order=order)
        with correlated(order.correlation_id):
            order.trashed_at = timezone.now()
            stamp(order, f"trashed in {source_system}")
            order.save(update_fields=["trashed_at", "updated_at"])
            events.order_trashed(order, source=source_system, state=order.state)
            held = OrderState(order.state)
            result = OrderRemoval(order=order, trashed=True)
            if held == OrderState.CANCELLED:
                pass
            elif is_allowed(held, OrderState.CANCELLED):
                result.cancelled = bool(_apply_state(order, OrderState.CANCELLED, reason=reason))
            else:
                _apply_state(order, OrderState.CANCELLED, reason=reason)  # records the refusal
                result.cancel_refused = True
                open_exception(
                    type=ExceptionType.STUCK_ORDER,
                    dedupe_key=_cancel_impossible_key(order),
                    title=f"Order {order} was deleted in the store after it was {held.label}",
                    detail=(
                        f"{source_system} deleted order {order.number} while it is {held.label} "
                        "here: it can no longer be cancelled (the goods have left). Decide: "
                        "restore it in the store, or refund / recover the goods."
                    ),
                    severity=Severity.HIGH,
                    correlation_id=order.correlation_id,
                    money_at_risk=order.total_amount,
                    currency=order.currency,
                    subject_type="orders.order",
                    subject_id=str(order.pk),
                    context={"state": held, "source_system": source_system},
                )
            live.order_changed(order.pk, created=False)
            return result


@domain_service
def restore_channel_order(channel: Channel, data: ChannelOrderData) -> OrderUpsert:
    """The channel restored a trashed order (full body): un-trash it and move it to the state its
    channel status implies, if the state machine allows it. Otherwise the refused move is recorded
    and an exception explains it (a cancelled order stays cancelled; a person re-enters it)."""
    target = map_channel_status(channel, data.channel_status)
    with transaction.atomic(savepoint=False):
        order = (
            Order.objects.select_for_update(of=("self",))
            .filter(source_system=data.source_system, external_id=data.external_id)
            .first()
        )
        if order is not None and order.trashed_at is not None:
            with correlated(order.correlation_id):
                order.trashed_at = None
                stamp(order, f"restored in {data.source_system}")
                order.save(update_fields=["trashed_at", "updated_at"])
                events.order_restored(
                    order, source=data.source_system, channel_status=data.channel_status
                )
                close_exceptions_for(_cancel_impossible_key(order), reason="restored in store")
        result = upsert_channel_order(channel, data)
        order = result.order
        if not result.stale and order.state != target:
            with correlated(order.correlation_id):
                open_exception(
                    type=ExceptionType.STUCK_ORDER,
                    dedupe_key=f"order:{order.pk}:restore-refused",
                    title=f"Order {order} was restored in the store but stays {order.state}",
                    detail=(
                        f"{data.source_system} restored order {order.number} as "
                        f"{data.channel_status!r} ({target.label}), but it is "
                        f"{OrderState(order.state).label} here and the state machine does not "
                        f"allow {order.state} → {target}. Re-enter the order or cancel it in "
                        "the store."
                    ),
                    severity=Severity.MEDIUM,
                    correlation_id=order.correlation_id,
                    money_at_risk=order.total_amount,
                    currency=order.currency,
                    subject_type="orders.order",
                    subject_id=str(order.pk),
                    context={"state": order.state, "target": target},
                )
        return result


@domain_service
def record_channel_update_requested(
    order: Order, *, connection: str, change: str, idempotency_key: str
) -> None:
    with correlated(order.correlation_id):
        events.channel_update_requested(
            order, connection=connection, change=change, idempotency_key=idempotency_key
        )
