"""Order to cash, the orders side: each system's step moves its aspect of the order through its
own table (transitions.ASPECTS); the stage is derived again after every step; the gates that
follow from it are announced (order_release_ready, order_progressed) for the connectors and the
finance domain, inside the same transaction.

A step that its table does not allow from where the order is (a shipment for an order that was
never released, a capture after a void) is refused: recorded on the order's timeline, an exception
opened, and nothing applied.
"""

from __future__ import annotations

import logging
from typing import Any

from django.utils import timezone

from controltower.catalog.models import PaymentMethod
from controltower.core import memo
from controltower.core.models import stamp
from controltower.core.writepath import domain_service
from controltower.exceptions.choices import ExceptionType, Severity
from controltower.exceptions.models import OpsException
from controltower.exceptions.services import close_exceptions_for, open_exception
from controltower.orders import events, live
from controltower.orders.choices import FulfilmentStatus, OrderEventType, OrderStage, OrderState
from controltower.orders.lifecycle import AT_CHECKOUT, derive_stage, is_authorized
from controltower.orders.models import Order
from controltower.orders.signals import order_progressed, order_release_ready
from controltower.orders.transitions import ASPECTS, aspect_allowed

logger = logging.getLogger(__name__)

LIFECYCLE_FIELDS = [
    "payment_status",
    "fulfilment_status",
    "invoicing_status",
    "posting_status",
    "stage",
    "waiting_on",
    "stage_changed_at",
    "released_at",
    "shipped_at",
    "invoiced_at",
    "posted_at",
    "wms_reference",
]
STEP_NAMES = {
    "payment_status": "payment",
    "fulfilment_status": "fulfilment",
    "invoicing_status": "invoicing",
    "posting_status": "posting",
}


class StepRefused(ValueError):
    """A system's step is not allowed from where the order is; the message says why."""


def capture_mode(order: Order) -> str:
    """When the order's payment method takes its money (catalog.PaymentMethod; unknown methods
    are expected at the gateway at checkout)."""
    code = order.payment_method or ""
    method = memo.remember(
        ("payment-method", code),
        lambda: PaymentMethod.objects.filter(code=code).values_list("capture_mode", flat=True)[:1],
    )
    return method[0] if method else AT_CHECKOUT


def refuse_step(
    order: Order, *, step: str, current: str, target: str, reason: str, money: Any = None
) -> None:
    """Record a refused step on the timeline and open an exception for people: nothing else."""
    events.step_refused(order, step=step, current=current, target=target, reason=reason)
    open_exception(
        type=ExceptionType.STEP_REFUSED,
        dedupe_key=f"order:{order.pk}:step:{step}:{target}",
        title=f"{order}: {step} {target} refused",
        detail=reason,
        severity=Severity.HIGH,
        correlation_id=order.correlation_id,
        money_at_risk=money if money is not None else order.total_amount,
        currency=order.currency,
        subject_type="orders.order",
        subject_id=str(order.pk),
        context={"step": step, "current": current, "target": target},
    )
    logger.warning("order %s: %s %s → %s refused: %s", order.pk, step, current, target, reason)


def set_aspect(order: Order, aspect: str, target: str, *, reason: str) -> bool:
    """Move one aspect (in memory; :func:`progress` saves). False, recorded and an exception
    when its table refuses the move; True when it moved or was already there."""
    current = getattr(order, aspect)
    if not aspect_allowed(aspect, current, target):
        refuse_step(
            order,
            step=STEP_NAMES[aspect],
            current=current,
            target=target,
            reason=f"{reason}: not allowed from {current} (legal: "
            f"{', '.join(sorted(ASPECTS[aspect][current])) or 'none, it is final'})",
        )
        return False
    setattr(order, aspect, target)
    return True


def derive(order: Order, *, reason: str) -> tuple[str, bool]:
    """Derive the (in-memory) order's stage and what it waits on, and whether it is now due for
    the warehouse release (then marked requested); returns (the stage it had, release due).
    The caller saves the order (:data:`LIFECYCLE_FIELDS`) and then calls :func:`announce`."""
    mode = capture_mode(order)
    old_stage = order.stage
    stage, waiting = derive_stage(order, capture_mode=mode)
    if stage != old_stage:  # (in history; the step that moved it is on the timeline)
        order.stage_changed_at = timezone.now()
    order.stage, order.waiting_on = stage, waiting
    release = (
        order.fulfilment_status == FulfilmentStatus.UNRELEASED
        and bool(order.erp_reference)
        and order.state not in (OrderState.CANCELLED, OrderState.FAILED, OrderState.REFUNDED)
        and order.trashed_at is None
        and is_authorized(order, mode)
    )
    if release:
        order.fulfilment_status = FulfilmentStatus.RELEASE_REQUESTED
        events.step_recorded(order, OrderEventType.RELEASE_REQUESTED, reason=reason)
    return old_stage, release


def _orders_reported_stuck() -> frozenset[int]:
    """The orders with an open stuck-order exception, read once per drain batch (almost always
    none): the steps of the other orders need not look for one. One the sweep opens meanwhile
    and the batch misses is closed by the next sweep, which closes whatever is no longer stuck."""

    def read() -> frozenset[int]:
        subjects = (
            OpsException.objects.open()
            .filter(type=ExceptionType.STUCK_ORDER, subject_type="orders.order")
            .values_list("subject_id", flat=True)
        )
        return frozenset(int(pk) for pk in subjects if pk.isdigit())

    return memo.remember(("orders-reported-stuck",), read)


def announce(order: Order, *, old_stage: str, release: bool, aspect: str, reason: str) -> None:
    """After the order was saved: ask for the release, clear a stuck-order exception of the
    stage it left, tell listeners (the posting gate) it moved on, push it to the pages."""
    if release:
        order_release_ready.send(sender=Order, order=order)
    if order.stage != old_stage and order.pk in _orders_reported_stuck():
        close_exceptions_for(
            f"stuck:{order.pk}:{old_stage}", reason=f"order moved on to {order.stage}"
        )
    order_progressed.send(sender=Order, order=order, aspect=aspect, reason=reason)
    live.order_changed(order.pk, created=False)


@domain_service
def progress(
    order: Order, *, reason: str, aspect: str = "", extra_fields: tuple[str, ...] = ()
) -> None:
    """After a step changed the (locked) order in memory: derive the stage, save (one history
    row naming ``reason``), announce."""
    old_stage, release = derive(order, reason=reason)
    stamp(order, reason[:100])
    order.save(update_fields=[*LIFECYCLE_FIELDS, *extra_fields, "updated_at"])
    announce(order, old_stage=old_stage, release=release, aspect=aspect, reason=reason)


def refresh_stage(order: Order, *, reason: str) -> None:
    """Derive the stage again after a change that is not a step (the order state moved)."""
    progress(order, reason=reason)


__all__ = [
    "LIFECYCLE_FIELDS",
    "OrderStage",
    "StepRefused",
    "announce",
    "capture_mode",
    "derive",
    "progress",
    "refresh_stage",
    "refuse_step",
    "set_aspect",
]
