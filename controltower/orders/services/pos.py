"""Orders sold at a store's till (the POS channel): the sale is the order, the store its location.

A till sale is paid and handed over at once, so it takes the lifecycle's own steps without the
ERP or the warehouse (docs/lifecycle.md, *The till sale*): it arrives *accepted* through the
channel's status mapping (reserving its lines at the store), its tenders are captured at the till
(``payments.till``), and :func:`fulfil_at_till` moves its fulfilment unreleased → release
requested → released → shipped in one step with every line handed over and its reservation
consumed — no release is asked of a warehouse (the release is asked only for orders the ERP
registered, and a till sale is never sent to the ERP). The receipt is its invoice
(``finance.services.record_invoice``), so the posting gate and the sales entry are the web
order's. A voided sale ends *refunded* (:func:`void_till_order`) once its tenders were given back.

The connector (``integrations.pos``) calls these in order, in the inbox's one transaction.
"""

from __future__ import annotations

import dataclasses
from datetime import datetime

from django.db import transaction

from controltower.catalog.choices import LocationType
from controltower.catalog.models import SKU, Channel, Location
from controltower.core.context import correlated
from controltower.core.models import bulk_update, stamp
from controltower.core.writepath import domain_service
from controltower.inventory.choices import ReservationStatus
from controltower.inventory.models import Reservation
from controltower.inventory.services import stock_changed
from controltower.orders import events
from controltower.orders.choices import FulfilmentStatus as F
from controltower.orders.choices import OrderEventType, OrderLineStatus, OrderState
from controltower.orders.locks import lock_order
from controltower.orders.models import Order, OrderLine
from controltower.orders.services.channel import ChannelOrderData, OrderUpsert, upsert_channel_order
from controltower.orders.services.lifecycle import progress, set_aspect
from controltower.orders.services.states import transition_order

ENDED = frozenset({OrderState.CANCELLED, OrderState.FAILED, OrderState.REFUNDED})
TILL_STEPS = (F.RELEASE_REQUESTED, F.RELEASED, F.SHIPPED)


class TillRefused(ValueError):
    """A till transaction that cannot be applied; the message says what a person must fix."""


def till_store(code: str) -> Location:
    """The store a POS transaction names: a Location of type store, else :class:`TillRefused`."""
    store = Location.objects.filter(code=code).first()
    if store is None:
        raise TillRefused(f"unknown store {code!r}: no location has that code")
    if store.type != LocationType.STORE:
        raise TillRefused(f"location {code!r} is a {store.type}, not a store")
    return store


def check_skus(codes: list[str], *, where: str) -> None:
    """Every SKU a till sold must be one we know (a till cannot sell what has no SKU here)."""
    known = set(SKU.objects.filter(code__in=codes).values_list("code", flat=True))
    unknown = sorted({code for code in codes if code not in known})
    if unknown:
        raise TillRefused(f"{where}: unknown SKU {', '.join(repr(c) for c in unknown)}")


@domain_service
def create_till_order(channel: Channel, data: ChannelOrderData, *, store: Location) -> OrderUpsert:
    """The sale as a channel order whose lines are fulfilled at ``store`` (their reservations
    are taken there when the channel is not stock-controlled); idempotent like every channel
    order: the same transaction again changes nothing."""
    lines = tuple(dataclasses.replace(line, fulfilment_location_id=store.pk) for line in data.lines)
    return upsert_channel_order(channel, dataclasses.replace(data, lines=lines))


def _consume(lines: list[OrderLine]) -> None:
    """The lines' reservations are used: the goods left the store with the customer."""
    reservations = list(
        Reservation.objects.select_for_update().filter(
            order_line__in=lines, status=ReservationStatus.OPEN
        )
    )
    for reservation in reservations:
        reservation.status = ReservationStatus.CONSUMED
        stamp(reservation, "handed over at the till")
    bulk_update(Reservation, reservations, ["status"])
    stock_changed(r.sku_id for r in reservations if r.location_id is not None)


@domain_service
def fulfil_at_till(order: Order, *, store: Location, at: datetime) -> Order:
    """The customer took the goods at the till: every open line handed over, the fulfilment
    shipped in one step (no warehouse), its reservations consumed. Idempotent: an order already
    fulfilled (or ended) is left as it is."""
    with transaction.atomic(savepoint=False), correlated(order.correlation_id):
        order = lock_order(order.pk)
        if order.state in ENDED or order.fulfilment_status != F.UNRELEASED:
            return order
        reason = f"handed over at the till in {store.code}"
        for step in TILL_STEPS:
            if not set_aspect(order, "fulfilment_status", step, reason=reason):
                return order
        order.released_at = order.shipped_at = at
        lines = list(order.lines.all())
        for line in lines:
            line.quantity_released = line.quantity_shipped = line.quantity - line.quantity_cancelled
            line.status = OrderLineStatus.SHIPPED
            stamp(line, reason[:100])
        bulk_update(OrderLine, lines, ["quantity_released", "quantity_shipped", "status"])
        _consume(lines)
        events.step_recorded(
            order,
            OrderEventType.SHIPPED,
            shipment=f"till:{order.number}",
            carrier="till",
            store=store.code,
            lines={line.line_number: line.quantity_shipped for line in lines},
            complete=True,
        )
        progress(order, reason=reason, aspect="fulfilment_status")
        return order


@domain_service
def void_till_order(order: Order, *, reason: str) -> Order:
    """A sale voided at the till after we applied it: the money was given back (the caller
    recorded the refunds first), the order ends *refunded*. Idempotent."""
    if order.state in ENDED:
        return order
    return transition_order(order, OrderState.REFUNDED, reason=reason)


__all__ = [
    "TillRefused",
    "check_skus",
    "create_till_order",
    "fulfil_at_till",
    "till_store",
    "void_till_order",
]
