"""One constructor per order event type: the timeline people read on the trace page."""

from __future__ import annotations

from typing import Any

from controltower.orders.choices import OrderEventType
from controltower.orders.models import Order, OrderEvent


def _event(order: Order, type: OrderEventType, **parameters: Any) -> OrderEvent:
    return OrderEvent.record(
        order=order, correlation_id=order.correlation_id, type=type, parameters=parameters
    )


def order_received(order: Order, *, source: str, channel_status: str) -> OrderEvent:
    return _event(order, OrderEventType.RECEIVED, source=source, channel_status=channel_status)


def order_updated(order: Order, *, changed: list[str]) -> OrderEvent:
    return _event(order, OrderEventType.UPDATED, changed=changed)


def state_changed(order: Order, *, old: str, new: str, reason: str) -> OrderEvent:
    return _event(order, OrderEventType.STATE_CHANGED, old=old, new=new, reason=reason)


def transition_refused(order: Order, *, current: str, target: str, reason: str) -> OrderEvent:
    return _event(
        order, OrderEventType.TRANSITION_REFUSED, current=current, target=target, reason=reason
    )


def stale_update_refused(order: Order, *, held: str, offered: str) -> OrderEvent:
    return _event(order, OrderEventType.STALE_UPDATE_REFUSED, held=held, offered=offered)


def erp_requested(order: Order, *, connection: str, idempotency_key: str) -> OrderEvent:
    return _event(
        order, OrderEventType.ERP_REQUESTED, connection=connection, idempotency_key=idempotency_key
    )


def erp_registered(order: Order, *, erp_reference: str, connection: str) -> OrderEvent:
    return _event(
        order, OrderEventType.ERP_REGISTERED, erp_reference=erp_reference, connection=connection
    )


def order_trashed(order: Order, *, source: str, state: str) -> OrderEvent:
    return _event(order, OrderEventType.TRASHED, source=source, state=state)


def order_restored(order: Order, *, source: str, channel_status: str) -> OrderEvent:
    return _event(order, OrderEventType.RESTORED, source=source, channel_status=channel_status)


def erp_cancel_requested(order: Order, *, connection: str, idempotency_key: str) -> OrderEvent:
    return _event(
        order,
        OrderEventType.ERP_CANCEL_REQUESTED,
        connection=connection,
        idempotency_key=idempotency_key,
    )


def erp_cancelled(order: Order, *, erp_reference: str, connection: str) -> OrderEvent:
    return _event(
        order, OrderEventType.ERP_CANCELLED, erp_reference=erp_reference, connection=connection
    )


def erp_create_withdrawn(order: Order, *, connection: str, reason: str) -> OrderEvent:
    return _event(order, OrderEventType.ERP_CREATE_WITHDRAWN, connection=connection, reason=reason)


def channel_update_requested(
    order: Order, *, connection: str, change: str, idempotency_key: str
) -> OrderEvent:
    return _event(
        order,
        OrderEventType.CHANNEL_UPDATE_REQUESTED,
        connection=connection,
        change=change,
        idempotency_key=idempotency_key,
    )


def erp_reference_refused(order: Order, *, held: str, offered: str, connection: str) -> OrderEvent:
    return _event(
        order,
        OrderEventType.ERP_REFERENCE_REFUSED,
        held=held,
        offered=offered,
        connection=connection,
    )


def erp_reference_repointed(order: Order, *, old: str, new: str, reason: str) -> OrderEvent:
    return _event(order, OrderEventType.ERP_REFERENCE_REPOINTED, old=old, new=new, reason=reason)


def stage_changed(order: Order, *, old: str, new: str, waiting_on: str) -> OrderEvent:
    return _event(order, OrderEventType.STAGE_CHANGED, old=old, new=new, waiting_on=waiting_on)


def step_refused(order: Order, *, step: str, current: str, target: str, reason: str) -> OrderEvent:
    return _event(
        order,
        OrderEventType.STEP_REFUSED,
        step=step,
        current=current,
        target=target,
        reason=reason,
    )


def step_recorded(order: Order, type: OrderEventType, **parameters: Any) -> OrderEvent:
    """A system's step in order to cash (payment, warehouse, invoice, posting), with what it
    said: one constructor for the lifecycle's many event types, each named by ``type``."""
    return _event(order, type, **parameters)
