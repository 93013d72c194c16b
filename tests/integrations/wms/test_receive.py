"""The warehouse's webhooks, received and applied in-process: signatures (good, bad, stale, a
rotating secret), unreadable bodies, then each event through the inbox into the order —
picking, two parcels, a short pick, refused shipments and hostile payloads (refused whole)."""

from __future__ import annotations

import time
from collections.abc import Iterator
from typing import Any

import pytest
from django.test import Client

from controltower.exceptions.models import OpsException
from controltower.fulfilment.models import Shipment
from controltower.orders.choices import FulfilmentStatus, OrderEventType, OrderLineStatus
from controltower.orders.models import Order, OrderEvent
from controltower.orders.services import cancel_order
from integrations.runtime.choices import InboundStatus
from integrations.runtime.inbox import claim_inbound, process_inbound_event
from integrations.runtime.models import Connection, InboundEvent
from tests.integrations.wms.conftest import (
    WMS_SECRET,
    envelope,
    make_order,
    make_release_ready,
    post_event,
    release,
    release_object,
    shipment_object,
    wms_connection,
)

F = FulfilmentStatus
pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def no_commit_callbacks(django_capture_on_commit_callbacks: Any) -> Iterator[None]:
    """Keep kicks and pushes from leaving the test (no worker here)."""
    with django_capture_on_commit_callbacks(execute=False):
        yield


@pytest.fixture
def order() -> Order:
    wms_connection()
    return make_release_ready(make_order())


def deliver(client: Client, event: dict[str, Any]) -> str:
    response = post_event(client, event)
    assert response.status_code == 200, response.content
    return response.json()["status"]


def drain() -> list[str]:
    return [process_inbound_event(event_id) for event_id in claim_inbound(20)]


def apply(client: Client, event_type: str, obj: dict[str, Any]) -> InboundEvent:
    """Deliver one signed event and process it; the stored event afterwards."""
    event = envelope(event_type, obj)
    deliver(client, event)
    drain()
    return InboundEvent.objects.get(delivery_id=event["id"])


def lines(order: Order) -> dict[int, tuple[int, int, str]]:
    return {
        line.line_number: (line.quantity_shipped, line.quantity_backordered, line.status)
        for line in order.lines.all()
    }


# --- receiving -----------------------------------------------------------------------------------
def test_receive_good_signature_stores_the_event(client: Client, order: Order) -> None:
    # given
    event = envelope("release.picking", release_object(order, "picking"))
    # when
    response = post_event(client, event)
    # then
    assert response.status_code == 200
    assert response.json() == {"status": "accepted"}
    stored = InboundEvent.objects.get()
    assert (stored.topic, stored.resource, stored.resource_id) == (
        "release.picking",
        "release",
        "REL-000001",
    )
    assert stored.status == InboundStatus.PENDING
    assert stored.headers["WMS-Signature"].startswith("t=")


def test_receive_redelivered_event_is_one_event(client: Client, order: Order) -> None:
    # given
    event = envelope("release.picking", release_object(order, "picking"))
    deliver(client, event)
    # when
    status = deliver(client, event)
    # then
    assert status == "duplicate"
    assert InboundEvent.objects.count() == 1


def test_receive_bad_signature_is_refused_and_nothing_stored(client: Client, order: Order) -> None:
    # given
    event = envelope("release.picking", release_object(order, "picking"))
    # when
    response = post_event(client, event, secrets=["whsec_someone_else"])
    # then
    assert response.status_code == 401
    assert response.json() == {"detail": "invalid WMS-Signature: signature does not match"}
    assert not InboundEvent.objects.exists()


def test_receive_missing_signature_is_refused(client: Client, order: Order) -> None:
    # when
    response = client.post(
        "/hooks/wms/wms-main/", data=b"{}", content_type="application/json", headers={}
    )
    # then
    assert response.status_code == 401
    assert response.json() == {"detail": "missing WMS-Signature"}
    assert not InboundEvent.objects.exists()


def test_receive_stale_signature_is_refused_as_a_replay(client: Client, order: Order) -> None:
    # given: a genuine delivery signed ten minutes ago, replayed now
    event = envelope("release.picking", release_object(order, "picking"))
    # when
    response = post_event(client, event, at=int(time.time()) - 600)
    # then
    assert response.status_code == 401
    assert "timestamp outside the tolerance" in response.json()["detail"]
    assert "at most 300 s" in response.json()["detail"]
    assert not InboundEvent.objects.exists()


def test_receive_during_rotation_both_secrets_verify(client: Client, order: Order) -> None:
    # given: the warehouse rotated and signs with the new and the old secret; we hold the old
    first = envelope("release.picking", release_object(order, "picking"))
    # when
    rotating = post_event(client, first, secrets=["whsec_new", WMS_SECRET])
    # then
    assert rotating.status_code == 200
    # given: we now hold both (new first), and the warehouse signs with the new one only
    connection = Connection.objects.get(slug="wms-main")
    connection.set_credentials(
        {**connection.credentials, "webhook_secrets": ["whsec_new", WMS_SECRET]}
    )
    connection.save(update_fields=["credentials_encrypted", "updated_at"])
    second = envelope("release.packed", release_object(order, "packed"))
    # when
    rotated = post_event(client, second, secrets=["whsec_new"])
    # then
    assert rotated.status_code == 200, rotated.content
    assert InboundEvent.objects.count() == 2


def test_receive_signed_malformed_json_is_400_and_kept_rejected(
    client: Client, order: Order
) -> None:
    # when
    response = post_event(client, b'{"id": "evt_1", "type": "release.picking",')
    # then
    assert response.status_code == 400
    assert response.json()["detail"].startswith("malformed JSON")
    assert InboundEvent.objects.get().status == InboundStatus.REJECTED


def test_receive_unknown_event_type_is_400_naming_it(client: Client, order: Order) -> None:
    # when
    response = post_event(client, envelope("release.exploded", release_object(order, "picking")))
    # then
    assert response.status_code == 400
    assert response.json()["detail"] == "unknown event type 'release.exploded'"
    assert InboundEvent.objects.get().status == InboundStatus.REJECTED


# --- applying ------------------------------------------------------------------------------------
def test_picking_before_the_release_answer_records_the_release_then_picking(
    client: Client, order: Order
) -> None:
    # given: the create's answer is still on its way (the order waits as release requested)
    assert order.fulfilment_status == F.RELEASE_REQUESTED
    # when
    stored = apply(client, "release.picking", release_object(order, "picking"))
    # then
    assert stored.status == InboundStatus.PROCESSED
    assert stored.correlation_id == order.correlation_id
    order.refresh_from_db()
    assert (order.fulfilment_status, order.wms_reference) == (F.PICKING, "REL-000001")
    assert order.history.first().history_user.username == "sync.wms"
    types = set(OrderEvent.objects.filter(order=order).values_list("type", flat=True))
    assert {OrderEventType.RELEASED, OrderEventType.WAREHOUSE_PROGRESS} <= types


def test_two_parcels_ship_the_order_with_two_tracking_numbers(client: Client, order: Order) -> None:
    # given
    release(order)
    apply(client, "release.picking", release_object(order, "picking"))
    apply(client, "release.packed", release_object(order, "packed"))
    # when: the first parcel carries the tees
    apply(client, "shipment.shipped", shipment_object(order, "SHP-000001", {1: 2}))
    # then
    order.refresh_from_db()
    assert order.fulfilment_status == F.PARTIALLY_SHIPPED
    assert lines(order)[1] == (2, 0, OrderLineStatus.SHIPPED)
    # when: the second the cap, and the release is done
    apply(client, "shipment.shipped", shipment_object(order, "SHP-000002", {2: 1}))
    done = release_object(order, "shipped", shipments=["SHP-000001", "SHP-000002"])
    last = apply(client, "release.shipped", done)
    # then
    order.refresh_from_db()
    assert order.fulfilment_status == F.SHIPPED
    assert last.status == InboundStatus.PROCESSED
    shipments = Shipment.objects.filter(order=order).order_by("external_id")
    assert [(s.external_id, s.carrier, s.release_reference) for s in shipments] == [
        ("SHP-000001", "DHL", "REL-000001"),
        ("SHP-000002", "DHL", "REL-000001"),
    ]
    assert all(s.tracking_number.startswith("JVGL") for s in shipments)


def test_same_parcel_under_a_new_event_id_ships_once(client: Client, order: Order) -> None:
    # given
    release(order)
    apply(client, "shipment.shipped", shipment_object(order, "SHP-000001", {1: 2}))
    # when: the warehouse sends the same parcel again as another event
    again = apply(client, "shipment.shipped", shipment_object(order, "SHP-000001", {1: 2}))
    # then
    assert again.status == InboundStatus.PROCESSED
    assert Shipment.objects.count() == 1
    order.refresh_from_db()
    assert lines(order)[1][0] == 2


def test_release_shipped_before_its_last_parcel_waits_for_it(client: Client, order: Order) -> None:
    # given
    release(order)
    apply(client, "shipment.shipped", shipment_object(order, "SHP-000001", {1: 2}))
    # when: release.shipped overtakes the second parcel's event
    done = release_object(order, "shipped", shipments=["SHP-000001", "SHP-000002"])
    early = apply(client, "release.shipped", done)
    # then
    assert early.status == InboundStatus.PENDING
    assert "parcel(s) SHP-000002 have not reached us yet" in early.error


def test_short_pick_backorders_the_line_and_the_order_stays_partially_shipped(
    client: Client, order: Order
) -> None:
    # given
    release(order)
    apply(client, "release.picking", release_object(order, "picking"))
    # when: one tee cannot be picked; one tee and the cap ship
    short = release_object(
        order, "picking", backorders=[{"line_number": 1, "sku": "NW-TEE-001-BLK-M", "quantity": 1}]
    )
    apply(client, "release.backordered", short)
    apply(client, "shipment.shipped", shipment_object(order, "SHP-000001", {1: 1, 2: 1}))
    apply(client, "release.shipped", release_object(order, "shipped", shipments=["SHP-000001"]))
    # then
    order.refresh_from_db()
    assert lines(order) == {
        1: (1, 1, OrderLineStatus.PARTIALLY_SHIPPED),
        2: (1, 0, OrderLineStatus.SHIPPED),
    }
    assert order.fulfilment_status == F.PARTIALLY_SHIPPED
    assert OrderEvent.objects.filter(order=order, type=OrderEventType.BACKORDERED).exists()


def test_shipment_of_more_than_released_is_refused_whole(client: Client, order: Order) -> None:
    # given
    release(order)
    # when: the cap line ships 2 of 1, with the tees in the same parcel
    stored = apply(client, "shipment.shipped", shipment_object(order, "SHP-000009", {1: 2, 2: 2}))
    # then: nothing of it applied; a person is told why
    assert stored.status == InboundStatus.PROCESSED
    order.refresh_from_db()
    assert order.fulfilment_status == F.RELEASED
    assert all(shipped == 0 for shipped, _, _ in lines(order).values())
    assert not Shipment.objects.exists()
    refused = OpsException.objects.get(type="shipment_refused")
    assert "line 2 (NW-CAP-002-NAV-OS) ships 2, but only 1 of 1 is left to ship" in refused.detail


def test_shipment_of_a_line_never_released_is_refused(client: Client, order: Order) -> None:
    # given
    release(order)
    # when
    apply(client, "shipment.shipped", shipment_object(order, "SHP-000009", {9: 1}))
    # then
    assert not Shipment.objects.exists()
    refused = OpsException.objects.get(type="shipment_refused")
    assert refused.detail == "line 9 was never released to the warehouse"


def test_shipment_for_a_cancelled_order_is_refused(client: Client, order: Order, ops_user) -> None:
    # given: released, then cancelled here (the cancel goes to the outbox; no worker runs)
    release(order)
    cancel_order(order, actor=ops_user, reason="customer changed their mind")
    # when: the warehouse ships anyway
    apply(client, "shipment.shipped", shipment_object(order, "SHP-000001", {1: 2}))
    # then
    assert not Shipment.objects.exists()
    refused = OpsException.objects.get(type="shipment_refused")
    assert "the order is cancelled: a shipment for it cannot be applied" in refused.detail


def test_release_cancelled_by_the_warehouse_is_recorded(client: Client, order: Order) -> None:
    # given
    release(order)
    cancelled = release_object(order, "cancelled", cancel_reason="address undeliverable")
    # when
    apply(client, "release.cancelled", cancelled)
    # then
    order.refresh_from_db()
    assert order.fulfilment_status == F.RELEASE_CANCELLED
    event = OrderEvent.objects.get(order=order, type=OrderEventType.RELEASE_CANCELLED)
    assert event.parameters["reason"] == "cancelled in the warehouse: address undeliverable"


def test_event_for_an_order_we_do_not_hold_yet_waits(client: Client, order: Order) -> None:
    # given: a release event whose correlation id is no order of ours (yet)
    obj = release_object(order, "picking")
    obj["correlation_id"] = "0b7e4a1c-7d1e-4c36-9a8b-2c2d4c0b2e11"
    # when
    stored = apply(client, "release.picking", obj)
    # then: held in the inbox, not dead-lettered
    assert stored.status == InboundStatus.PENDING
    assert stored.error.startswith("waiting: no order for release REL-000001 (web-1001) yet")
    assert not OpsException.objects.filter(type="dead_letter").exists()


HOSTILE: list[tuple[str, Any, str]] = [
    ("quantity", -2, "data.object.lines[0].quantity: must be positive"),
    ("quantity", 0, "data.object.lines[0].quantity: must be positive"),
    ("quantity", 10**12, "data.object.lines[0].quantity: 1000000000000 is more than 1000000"),
    ("quantity", "2", "data.object.lines[0].quantity: must be an integer, not str"),
    ("quantity", 1.5, "data.object.lines[0].quantity: must be an integer, not float"),
    ("line_number", True, "data.object.lines[0].line_number: must be an integer from 1"),
    ("tracking_number", None, "data.object.tracking_number: missing"),
    ("tracking_number", 42, "data.object.tracking_number: must be a non-empty string"),
    ("carrier", "X" * 65, "data.object.carrier: longer than 64 characters"),
    ("shipped_at", "yesterday", "data.object.shipped_at: not an ISO 8601 time"),
    ("correlation_id", "corr-1", "data.object.correlation_id: not one of ours"),
    ("external_ref", "web-666", "external_ref 'web-666' is not order web-1001"),
    ("release", "REL-999999", "release REL-999999 is not the release of order web-1001"),
    ("lines", [], "data.object.lines: must be a non-empty list"),
]


@pytest.mark.parametrize(("field", "value", "message"), HOSTILE)
def test_hostile_shipment_is_dead_lettered_naming_the_field_and_nothing_applied(
    client: Client, order: Order, field: str, value: Any, message: str
) -> None:
    # given
    release(order)
    obj = shipment_object(order, "SHP-000001", {1: 2})
    if field in ("quantity", "line_number"):
        obj["lines"][0][field] = value
    elif value is None:
        del obj[field]
    else:
        obj[field] = value
    # when
    stored = apply(client, "shipment.shipped", obj)
    # then
    assert stored.status == InboundStatus.FAILED
    assert message in stored.error
    dead = OpsException.objects.get(type="dead_letter")
    assert message in dead.detail
    order.refresh_from_db()
    assert order.fulfilment_status == F.RELEASED
    assert not Shipment.objects.exists()


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"status": "teleported"}, "data.object.status: unknown status 'teleported'"),
        ({"object": "parcel"}, "a release.picking event carries a release, not 'parcel'"),
        ({"shipments": "SHP-1"}, "data.object.shipments: must be a list of shipment ids"),
    ],
)
def test_hostile_release_event_is_dead_lettered_and_the_order_untouched(
    client: Client, order: Order, change: dict[str, Any], message: str
) -> None:
    # given
    release(order)
    # when
    stored = apply(client, "release.picking", {**release_object(order, "picking"), **change})
    # then
    assert stored.status == InboundStatus.FAILED
    assert message in stored.error
    order.refresh_from_db()
    assert order.fulfilment_status == F.RELEASED


def test_backorder_of_a_line_the_order_has_not_is_refused(client: Client, order: Order) -> None:
    # given
    release(order)
    short = release_object(order, "picking", backorders=[{"line_number": 7, "quantity": 1}])
    # when
    stored = apply(client, "release.backordered", short)
    # then
    assert stored.status == InboundStatus.FAILED
    assert "backorder names line(s) 7, which order web-1001 has not" in stored.error
    order.refresh_from_db()
    assert all(backordered == 0 for _, backordered, _ in lines(order).values())
