"""Orders and the ERP: the sales order requested, acknowledged (one or a batch), cancelled or
withdrawn, a second reference refused, a reference re-pointed by a person with a reason."""

from __future__ import annotations

import contextlib
import logging
from typing import Any

from django.db import transaction
from django.utils import timezone

from controltower.core.context import acting_as, correlated
from controltower.core.models import bulk_update, stamp
from controltower.core.writepath import domain_service
from controltower.exceptions.choices import ExceptionType, Severity
from controltower.exceptions.services import close_exceptions_for, open_exception
from controltower.orders import events, live
from controltower.orders.choices import OrderState
from controltower.orders.locks import lock_order
from controltower.orders.models import Order
from controltower.orders.services import lifecycle
from controltower.orders.services.states import _enter, _move

logger = logging.getLogger(__name__)


class ErpReferenceError(ValueError):
    pass


def _erp_reference_conflict_key(order: Order) -> str:
    return f"order:{order.pk}:erp-reference-conflict"


REGISTERED = [OrderState.REGISTERED]  # the one step an ERP's acknowledgement takes


@domain_service
def register_order_in_erp(
    order: Order | int, *, erp_reference: str, connection: str
) -> Order | None:
    """The ERP acknowledged the sales order: record its reference and move to registered.
    ``order``: the order or its pk (locked here either way); None when there is no such order.

    A reference once recorded is never re-pointed here: an answer naming a different sales order
    (a second one in the ERP) is refused, recorded as ``erp_reference_refused`` and opens an
    exception; a person changes the reference with :func:`repoint_erp_reference`."""
    pk = order if isinstance(order, int) else order.pk
    return register_orders_in_erp([(pk, erp_reference)], connection=connection).get(pk)


@domain_service
def register_orders_in_erp(
    registrations: list[tuple[int, str]], *, connection: str
) -> dict[int, Order]:
    """:func:`register_order_in_erp` for many orders at once (``(order pk, ERP reference)``
    pairs): the orders locked in one statement, updated in one and their history in one.
    Returns the orders found, by pk."""
    with transaction.atomic(savepoint=False):
        wanted = dict(registrations)
        orders = {
            order.pk: order
            # With their channels and lines: what the release each may become due for is
            # built from (one read for the batch, not two per order).
            for order in Order.objects.select_for_update(of=("self",))
            .select_related("channel")
            .prefetch_related("lines")
            .filter(pk__in=list(wanted))
            .order_by("pk")
        }
        changed: list[Order] = []
        left: dict[int, OrderState] = {}  # the state each order moved from
        derived: dict[int, tuple[str, bool]] = {}  # lifecycle.derive per order
        now = timezone.now()
        for order in orders.values():
            reference = wanted[order.pk]
            with correlated(order.correlation_id):
                if order.erp_reference == reference:
                    continue
                if order.erp_reference:
                    _refuse_second_erp_reference(order, offered=reference, connection=connection)
                    continue
                order.erp_reference = reference
                order.erp_registered_at = now
                why = f"registered in ERP as {reference}"
                if order.state == OrderState.ACCEPTED:
                    left[order.pk], moved = _move(
                        order, [OrderState.REGISTERED], f"ERP {reference}"
                    )
                    order.state_changed_at = now  # one moment for the batch
                    why = f"{why}; {moved}"
                derived[order.pk] = lifecycle.derive(order, reason=f"ERP {reference}")
                stamp(order, why[:100])
                changed.append(order)
        bulk_update(
            Order,
            changed,
            [
                "erp_reference",
                "erp_registered_at",
                "state",
                "state_changed_at",
                *lifecycle.LIFECYCLE_FIELDS,
            ],
        )
        for order in changed:
            reference = order.erp_reference
            with correlated(order.correlation_id):
                events.erp_registered(order, erp_reference=reference, connection=connection)
                if order.pk in left:
                    _enter(
                        order, left[order.pk], [OrderState.REGISTERED], reason=f"ERP {reference}"
                    )
                old_stage, release = derived[order.pk]
                lifecycle.announce(
                    order,
                    old_stage=old_stage,
                    release=release,
                    aspect="erp_reference",
                    reason=f"registered in ERP as {reference}",
                )
    return orders


@domain_service
def record_erp_request(order: Order, *, connection: str, idempotency_key: str) -> None:
    """A connector queued the order for an ERP: a timeline entry for ops (the message itself
    is the connector's outbox row)."""
    events.erp_requested(order, connection=connection, idempotency_key=idempotency_key)


@domain_service
def record_erp_cancel_requested(order: Order, *, connection: str, idempotency_key: str) -> None:
    with correlated(order.correlation_id):
        events.erp_cancel_requested(order, connection=connection, idempotency_key=idempotency_key)


@domain_service
def record_erp_cancelled(order: Order, *, erp_reference: str, connection: str) -> None:
    with transaction.atomic(savepoint=False), correlated(order.correlation_id):
        events.erp_cancelled(order, erp_reference=erp_reference, connection=connection)
        live.order_changed(order.pk, created=False)


@domain_service
def record_erp_create_withdrawn(order: Order, *, connection: str, reason: str) -> None:
    with correlated(order.correlation_id):
        events.erp_create_withdrawn(order, connection=connection, reason=reason)


def _refuse_second_erp_reference(order: Order, *, offered: str, connection: str) -> None:
    held = order.erp_reference
    events.erp_reference_refused(order, held=held, offered=offered, connection=connection)
    logger.warning(
        "order %s holds ERP reference %s; %s named %s: refused", order.pk, held, connection, offered
    )
    open_exception(
        type=ExceptionType.STUCK_ORDER,
        dedupe_key=_erp_reference_conflict_key(order),
        title=f"Order {order} has a second ERP sales order {offered} (holds {held})",
        detail=(
            f"The ERP ({connection}) answered with sales order {offered} for order "
            f"{order.number}, which is registered as {held}. The reference was not changed. "
            f"Cancel the sales order that should not exist in the ERP; if {offered} is the "
            "right one, change the order's ERP reference (with a reason)."
        ),
        severity=Severity.HIGH,
        correlation_id=order.correlation_id,
        money_at_risk=order.total_amount,
        currency=order.currency,
        subject_type="orders.order",
        subject_id=str(order.pk),
        context={"held": held, "offered": offered, "connection": connection},
    )
    live.order_changed(order.pk, created=False)


@domain_service
def repoint_erp_reference(order: Order, *, reference: str, reason: str, actor: Any = None) -> Order:
    """A person says the order's ERP sales order is ``reference`` (not the one recorded): the
    change, its reason and who made it go into the order's history and an
    ``erp_reference_repointed`` event; a reference conflict on the order closes."""
    reference = (reference or "").strip()
    reason = (reason or "").strip()
    if not reason:
        raise ErpReferenceError("a reason is required to change an ERP reference")
    if not reference:
        raise ErpReferenceError("the new ERP reference is empty")
    acting = acting_as(actor) if actor is not None else contextlib.nullcontext()
    with acting, transaction.atomic(savepoint=False):
        order = lock_order(order.pk)
        with correlated(order.correlation_id):
            old = order.erp_reference
            if old == reference:
                raise ErpReferenceError(f"order {order} is already registered as {reference}")
            order.erp_reference = reference
            if order.erp_registered_at is None:
                order.erp_registered_at = timezone.now()
            stamp(order, f"ERP reference {old or 'none'} → {reference}: {reason}"[:100])
            order.save(update_fields=["erp_reference", "erp_registered_at", "updated_at"])
            events.erp_reference_repointed(order, old=old, new=reference, reason=reason)
            close_exceptions_for(
                _erp_reference_conflict_key(order), reason=f"ERP reference set to {reference}"
            )
            live.order_changed(order.pk, created=False)
    return order
