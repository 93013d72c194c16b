"""WMS connector (generic release/shipment contract, docs/contracts/wms.md): release-ready orders
become warehouse releases, cancelled orders withdraw them, and the warehouse's signed events move
the order's fulfilment (picking, backorders, parcels with tracking numbers, cancelled).

Out: ``order_release_ready`` (the order is registered in the ERP and its money secured) writes one
``wms.release.create`` per WMS connection in the domain's transaction; delivered as ``POST
/api/v1/releases`` with the connection's Bearer ``token``, the outbox key as ``Idempotency-Key``
(a retry after a lost answer gets the stored 201, never a second release) and
``X-Correlation-ID``. A 409 naming the existing release is the same outcome. The answer's release
id is recorded through ``fulfilment.services.record_release``. The create declares that it
creates a release, so a person can never replay a delivered one into a second. A create still in
the outbox when the order is cancelled is withdrawn at delivery time (no POST).

``release_cancel_due`` (a cancelled order whose release may still be withdrawn) writes one
``wms.release.cancel``: ``POST /api/v1/releases/<id>/cancel``, which waits for the create to settle
as the ERP's cancel does. Once picking started the warehouse refuses (409): that is permanent, so
the message is dead-lettered, and its text names the release, its status and what a person must
still do (the contract leaves it to a person: stop the pick, or a return and refund).

In: events are applied in the inbox's transaction, found by the order's correlation id (and
checked against the release's ``external_ref``); an order we do not know yet is
:class:`~controltower.core.errors.NotYet` and the inbox holds the event. Events may arrive out of
order: a release event or a parcel that reaches us before the create's answer was recorded proves
the release exists, so the release is recorded first (with the id the warehouse names).

A drain's plain progress events (picking, packed, a finished release whose parcels all reached us)
are applied together by :func:`handle_inbound_batch` (one read and one update of their orders),
leaving the rows the one-by-one path leaves; whatever it cannot take goes one by one after it.
"""

from __future__ import annotations

import json
import logging
import uuid
from typing import Any

import httpx
from django.dispatch import receiver

from controltower.catalog.choices import SystemKind
from controltower.core import memo
from controltower.core.errors import NotYet
from controltower.exceptions.models import OpsException
from controltower.fulfilment.models import Shipment
from controltower.fulfilment.services import (
    record_backorder,
    record_release,
    record_release_cancelled,
    record_shipment,
    record_warehouse_progress,
    record_warehouse_progress_many,
)
from controltower.fulfilment.signals import release_cancel_due
from controltower.orders.choices import FulfilmentStatus, OrderState
from controltower.orders.models import Order
from controltower.orders.signals import order_release_ready
from integrations.runtime.http import (
    client_for,
    correlation_headers,
    result_from_error,
    result_from_response,
)
from integrations.runtime.models import Connection, InboundEvent, OutboundMessage
from integrations.runtime.outbox import WITHDRAWN, created_reference, enqueue_outbound
from integrations.runtime.registry import (
    Creates,
    DeliveryResult,
    deliverer,
    inbound,
    inbound_batch,
    on_delivered,
)
from integrations.wms.stock import STOCK_EVENTS, apply_stock_event
from integrations.wms.translate import (
    RELEASE_EVENTS,
    SHIPMENT_EVENTS,
    ReleaseEvent,
    Subject,
    TranslationError,
    order_reference,
    release_payload,
    translate_release,
    translate_shipment,
)

logger = logging.getLogger(__name__)

RELEASES_PATH = "/api/v1/releases"
RELEASE_CREATE = "wms.release.create"  # outbound message kinds
RELEASE_CANCEL = "wms.release.cancel"
F = FulfilmentStatus
# What a person must still do once the warehouse can no longer withdraw a release, by its status
# (the same words the domain uses when it already knew: fulfilment.services.withdraw_release).
REMAINS = {
    "picking": "stop the pick at the warehouse",
    "packed": "stop the packed parcel(s) at the warehouse",
    "partially_shipped": "units already shipped: intercept them at the carrier, or a return and "
    "refund must follow; stop the rest at the warehouse",
    "shipped": "everything shipped: intercept the parcel(s) at the carrier, or a return and "
    "refund must follow",
}
PROGRESS = {
    "release.picking": "picking",
    "release.packed": "packed",
    "release.shipped": "shipped",
}


def create_key(connection: Connection, order: Order) -> str:
    return f"wms:{connection.slug}:release:{order.correlation_id}"


def cancel_key(connection: Connection, order: Order) -> str:
    return f"wms:{connection.slug}:release-cancel:{order.correlation_id}"


def _headers(message: OutboundMessage) -> dict[str, str]:
    return {
        "Authorization": f"Bearer {message.connection.credentials.get('token', '')}",
        "Idempotency-Key": message.idempotency_key,
        **correlation_headers(),
    }


def _explained(result: DeliveryResult) -> DeliveryResult:
    """A refusal with the warehouse's own words in its error (what the dead letter shows)."""
    body = result.body if isinstance(result.body, dict) else {}
    if result.ok or not body.get("error"):
        return result
    fields = body.get("fields") if isinstance(body.get("fields"), dict) else {}
    detail = "; ".join(f"{name}: {problem}" for name, problem in fields.items())
    return DeliveryResult(
        ok=False,
        status_code=result.status_code,
        body=body,
        error=f"HTTP {result.status_code}: {body['error']}" + (f" ({detail})" if detail else ""),
        retryable=result.retryable,
        retry_after_s=result.retry_after_s,
    )


# --- out: the release ----------------------------------------------------------------------------
@receiver(order_release_ready, dispatch_uid="wms.queue_release")
def queue_release(sender: Any, *, order: Order, **_: Any) -> None:
    """In the domain's transaction: one release per WMS connection (enabled or paused)."""
    warehouses = memo.remember(
        ("connections", SystemKind.WMS),
        lambda: list(Connection.objects.filter(kind=SystemKind.WMS)),
    )
    for connection in warehouses:
        enqueue_outbound(
            connection,
            kind=RELEASE_CREATE,
            idempotency_key=create_key(connection, order),
            payload=release_payload(
                order, warehouse=str(connection.credentials.get("warehouse") or "")
            ),
            correlation_id=order.correlation_id,
            subject_type="orders.order",
            subject_id=str(order.pk),
        )


def _withdrawn_reason(message: OutboundMessage) -> str:
    held = (
        Order.objects.filter(pk=message.subject_id).values_list("state", "trashed_at")[:1]
        if message.subject_id.isdigit()
        else []
    )
    if not held:
        return "order is gone"
    state, trashed_at = held[0]
    if trashed_at is not None:
        return "order deleted in the channel before it reached the warehouse"
    if state == OrderState.CANCELLED:
        return "order cancelled before it reached the warehouse"
    return ""


@deliverer(
    RELEASE_CREATE,
    label="WMS: release order",
    creates=Creates(what="warehouse release", reference_key="id"),
)
def deliver_release(message: OutboundMessage) -> DeliveryResult:
    withdrawn = _withdrawn_reason(message)
    if withdrawn:
        return DeliveryResult(ok=True, body={WITHDRAWN: True, "reason": withdrawn})
    try:
        with client_for(message.connection) as client:
            response = client.post(RELEASES_PATH, json=message.payload, headers=_headers(message))
    except httpx.HTTPError as exc:
        return result_from_error(exc)
    result = result_from_response(response)
    body = result.body if isinstance(result.body, dict) else {}
    if response.status_code == 409 and body.get("id"):
        # The warehouse already holds this external_ref (an earlier attempt made it): same outcome.
        return DeliveryResult(ok=True, status_code=409, body=body)
    return _explained(result)


@on_delivered(RELEASE_CREATE)
def record_release_answer(message: OutboundMessage, result: DeliveryResult) -> None:
    body = result.body if isinstance(result.body, dict) else {}
    order = Order.objects.filter(pk=message.subject_id).first() if message.subject_id else None
    if order is None:
        logger.warning("release message %s names no order we hold", message.pk)
        return
    if body.get(WITHDRAWN):
        if order.fulfilment_status == F.RELEASE_REQUESTED:
            record_release_cancelled(order, reference="", reason=str(body.get("reason", "")))
        return
    reference = str(body.get("id") or "")
    if not reference:
        logger.warning("WMS answered without a release id for message %s", message.pk)
        return
    if order.fulfilment_status == F.RELEASE_REQUESTED or order.wms_reference == reference:
        record_release(order, reference=reference, connection=message.connection.slug)
    else:  # cancelled meanwhile: the cancel (waiting for this answer) withdraws it
        logger.info(
            "release %s of order %s answered while fulfilment is %s; not recorded",
            reference,
            order.pk,
            order.fulfilment_status,
        )


# --- out: withdrawing the release ----------------------------------------------------------------
@receiver(release_cancel_due, dispatch_uid="wms.queue_release_cancel")
def queue_release_cancel(sender: Any, *, order: Order, reason: str = "", **_: Any) -> None:
    """In the cancelling transaction: a cancel per WMS connection that has (or may get) the
    release. Never asked for: nothing to withdraw."""
    for connection in Connection.objects.filter(kind=SystemKind.WMS):
        asked = OutboundMessage.objects.filter(idempotency_key=create_key(connection, order))
        if not order.wms_reference and not asked.exists():
            continue
        enqueue_outbound(
            connection,
            kind=RELEASE_CANCEL,
            idempotency_key=cancel_key(connection, order),
            payload={"reason": reason[:200]},
            correlation_id=order.correlation_id,
            subject_type="orders.order",
            subject_id=str(order.pk),
        )


def _release_id(message: OutboundMessage, order: Order) -> str | DeliveryResult:
    """The release to cancel, or the result to record while there is none (yet)."""
    if order.wms_reference:
        return order.wms_reference
    return created_reference(
        create_key(message.connection, order),
        skipped="no release was made in the warehouse; nothing to cancel",
        waiting="waiting for the release create to settle before cancelling",
    )


@deliverer(RELEASE_CANCEL, label="WMS: cancel release")
def deliver_release_cancel(message: OutboundMessage) -> DeliveryResult:
    order = Order.objects.filter(pk=message.subject_id).first() if message.subject_id else None
    if order is None:
        return DeliveryResult(ok=True, body={"skipped": "order is gone"})
    target = _release_id(message, order)
    if isinstance(target, DeliveryResult):
        return target
    try:
        with client_for(message.connection) as client:
            response = client.post(
                f"{RELEASES_PATH}/{target}/cancel", json=message.payload, headers=_headers(message)
            )
    except httpx.HTTPError as exc:
        return result_from_error(exc)
    result = result_from_response(response)
    body = result.body if isinstance(result.body, dict) else {}
    if response.status_code == 409:
        status = str(body.get("status") or "under way")
        remains = REMAINS.get(status, "ask the warehouse what became of it")
        return DeliveryResult(
            ok=False,
            status_code=409,
            body=body,
            error=f"HTTP 409: release {target} is {status} and can no longer be cancelled; "
            f"the order is cancelled here, so a person must act. What remains: {remains}.",
            retryable=False,
        )
    return _explained(result)


@on_delivered(RELEASE_CANCEL)
def record_release_cancel(message: OutboundMessage, result: DeliveryResult) -> None:
    body = result.body if isinstance(result.body, dict) else {}
    order = Order.objects.filter(pk=message.subject_id).first() if message.subject_id else None
    if order is None:
        return
    reason = str(message.payload.get("reason") or "order cancelled")
    if body.get("status") == "cancelled":
        record_release_cancelled(order, reference=str(body.get("id", "")), reason=reason)
    elif body.get("skipped") and order.fulfilment_status == F.RELEASE_REQUESTED:
        record_release_cancelled(order, reference="", reason=str(body["skipped"]))


# --- in: the warehouse's events ------------------------------------------------------------------
def _envelope(event: InboundEvent) -> dict[str, Any]:
    try:
        envelope = json.loads(event.body)
    except ValueError as exc:
        raise TranslationError(f"malformed JSON: {exc}") from exc
    if not isinstance(envelope, dict):
        raise TranslationError("the event must be a JSON object")
    return envelope


def _order_for(subject: Subject, *, reference: str, what: str) -> Order:
    """The order a warehouse object is about; NotYet while we do not hold it."""
    order = Order.objects.select_related("channel").filter(correlation_id=subject.correlation_id)
    found = order.first()
    if found is None:
        raise NotYet(f"no order for {what} {reference} ({subject.external_ref}) yet")
    if order_reference(found) != subject.external_ref:
        raise TranslationError(
            f"{what} {reference}: external_ref {subject.external_ref[:64]!r} is not order "
            f"{order_reference(found)}, whose correlation id it carries"
        )
    return found


def _released(order: Order, *, reference: str, connection: str) -> Order:
    """The warehouse names a release of this order: the order's release, recorded now if its
    create's answer is still on the way (events overtake it); another release is refused."""
    if order.wms_reference and order.wms_reference != reference:
        raise TranslationError(
            f"release {reference} is not the release of order {order_reference(order)} "
            f"(released as {order.wms_reference})"
        )
    if order.fulfilment_status == F.RELEASE_REQUESTED:
        return record_release(order, reference=reference, connection=connection)
    return order


def _missing_shipments(event: ReleaseEvent, *, connection: str) -> list[str]:
    """Parcels a finished release lists that we have neither recorded nor refused."""
    recorded = set(
        Shipment.objects.filter(
            source_system=connection, external_id__in=event.shipments
        ).values_list("external_id", flat=True)
    )
    refused = {
        key.rsplit(":", 1)[-1]
        for key in OpsException.objects.filter(
            dedupe_key__in=[f"shipment:{connection}:{s}" for s in event.shipments]
        ).values_list("dedupe_key", flat=True)
    }
    return [s for s in event.shipments if s not in recorded and s not in refused]


def _apply_release(event_type: str, envelope: dict[str, Any], *, connection: str) -> Order:
    release = translate_release(envelope)
    order = _order_for(release.subject, reference=release.reference, what="release")
    if event_type == "release.cancelled":
        if order.wms_reference and order.wms_reference != release.reference:
            raise TranslationError(
                f"release {release.reference} is not the release of order "
                f"{order_reference(order)} (released as {order.wms_reference})"
            )
        return record_release_cancelled(
            order,
            reference=release.reference,
            reason=f"cancelled in the warehouse: {release.cancel_reason or 'no reason given'}",
        )
    order = _released(order, reference=release.reference, connection=connection)
    if event_type == "release.backordered":
        held = set(order.lines.values_list("line_number", flat=True))
        unknown = sorted({line.line_number for line in release.backorders} - held)
        if unknown:
            raise TranslationError(
                f"release {release.reference}: backorder names line(s) "
                f"{', '.join(map(str, unknown))}, which order {order_reference(order)} has not"
            )
        return record_backorder(order, lines=release.backorders, reference=release.reference)
    if event_type == "release.shipped":
        missing = _missing_shipments(release, connection=connection)
        if missing:  # a parcel's own event is still on its way (or was lost: ops will see it)
            raise NotYet(
                f"release {release.reference} is shipped, but parcel(s) {', '.join(missing)} "
                "have not reached us yet"
            )
    return record_warehouse_progress(
        order, status=PROGRESS[event_type], reference=release.reference
    )


def _apply_shipment(envelope: dict[str, Any], *, connection: str) -> Order:
    shipment = translate_shipment(envelope, source_system=connection)
    data = shipment.data
    order = _order_for(shipment.subject, reference=data.external_id, what="shipment")
    if order.state not in (OrderState.CANCELLED,):
        order = _released(order, reference=data.release_reference, connection=connection)
    # A shipment that does not fit (a line never released, too much, a cancelled order) is
    # refused whole by the domain: on the timeline, a "Shipment refused" exception, nothing else.
    record_shipment(order, data)
    return order


@inbound(SystemKind.WMS)
def handle_inbound(event: InboundEvent) -> Any:
    """Apply one stored warehouse event; returns the order's (or the stock count's)
    correlation id."""
    envelope = _envelope(event)
    event_type = envelope.get("type")
    connection = event.connection.slug
    if event_type in STOCK_EVENTS:
        return apply_stock_event(str(event_type), envelope, connection=connection)
    if event_type in SHIPMENT_EVENTS:
        return _apply_shipment(envelope, connection=connection).correlation_id
    if event_type in RELEASE_EVENTS:
        return _apply_release(str(event_type), envelope, connection=connection).correlation_id
    raise TranslationError(f"unknown event type {str(event_type)[:64]!r}")


# --- in: the warehouse's progress, a drain's batch at once ---------------------------------------
def _named_order(event: InboundEvent) -> uuid.UUID | None:
    """The correlation id an event's object carries (read loosely: an event that names none
    cannot touch any order, whatever becomes of it one by one)."""
    try:
        obj = json.loads(event.body)["data"]["object"]
        return uuid.UUID(str(obj["correlation_id"]))
    except (ValueError, TypeError, KeyError, RecursionError):
        return None


def _progress_of(event: InboundEvent) -> tuple[str, ReleaseEvent] | None:
    """The type and release of a plain progress event (picking, packed, shipped), or None."""
    try:
        envelope = _envelope(event)
        event_type = envelope.get("type")
        if event_type not in PROGRESS:
            return None
        return str(event_type), translate_release(envelope)
    except (TranslationError, RecursionError):
        return None


def _recorded_parcels(
    candidates: list[tuple[InboundEvent, tuple[str, ReleaseEvent]]],
) -> set[tuple[str, str]]:
    """``(connection, shipment id)`` of the parcels finished releases list that we recorded or
    refused: two statements for the batch (what :func:`_missing_shipments` reads per event)."""
    wanted = {
        (event.connection.slug, parcel)
        for event, (event_type, release) in candidates
        if event_type == "release.shipped"
        for parcel in release.shipments
    }
    if not wanted:
        return set()
    recorded = set(
        Shipment.objects.filter(
            source_system__in={slug for slug, _ in wanted},
            external_id__in={parcel for _, parcel in wanted},
        ).values_list("source_system", "external_id")
    )
    keys = {f"shipment:{slug}:{parcel}": (slug, parcel) for slug, parcel in wanted}
    refused = {
        keys[key]
        for key in OpsException.objects.filter(dedupe_key__in=list(keys)).values_list(
            "dedupe_key", flat=True
        )
    }
    return (recorded | refused) & wanted


@inbound_batch(SystemKind.WMS)
def handle_inbound_batch(events: list[InboundEvent]) -> dict[int, Any]:
    """The progress events of a drain's batch (``release.picking``, ``release.packed`` and a
    ``release.shipped`` whose parcels all reached us), applied together
    (``record_warehouse_progress_many``); returns ``{event id: correlation id}`` for them.

    Everything else — parcels, backorders, cancels, an order we do not hold, a release whose
    create's answer is still on the way, anything that does not translate — is left to
    :func:`handle_inbound`, one by one, after the batch. So that each order still sees its events
    in the order they came, an order's events after one left out are left out too."""
    parsed = [(event, _progress_of(event)) for event in events]
    candidates = [(event, progress) for event, progress in parsed if progress is not None]
    if not candidates:
        return {}
    orders = {
        order.correlation_id: order
        for order in Order.objects.select_related("channel").filter(
            correlation_id__in={release.subject.correlation_id for _, (_, release) in candidates}
        )
    }
    parcels = _recorded_parcels(candidates)
    held_back: set[uuid.UUID] = set()  # orders with an event left out
    steps: list[tuple[int, str, str]] = []
    taken: dict[int, uuid.UUID] = {}
    for event, progress in parsed:
        if progress is None:
            named = _named_order(event)
            if named is not None:
                held_back.add(named)
            continue
        event_type, release = progress
        correlation_id = release.subject.correlation_id
        order = orders.get(correlation_id)
        plain = (
            correlation_id not in held_back
            and order is not None
            and order_reference(order) == release.subject.external_ref
            and order.wms_reference == release.reference  # released as this, answer recorded
            and order.fulfilment_status != F.RELEASE_REQUESTED
            and (
                event_type != "release.shipped"
                or all((event.connection.slug, s) in parcels for s in release.shipments)
            )
        )
        if not plain:
            held_back.add(correlation_id)
            continue
        steps.append((order.pk, PROGRESS[event_type], release.reference))
        taken[event.pk] = correlation_id
    if steps:
        record_warehouse_progress_many(steps)
    return taken
