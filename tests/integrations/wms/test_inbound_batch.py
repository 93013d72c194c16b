"""The warehouse's progress events of a drain's batch (picking, packed, a finished release) are
applied together — one read and one update of their orders — and leave exactly the rows the
one-by-one path leaves; parcels and whatever follows them for the same order go one by one, in
order; a batch that fails as a whole loses nothing."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from django.db import connection as db
from django.test import Client

from controltower.orders.choices import FulfilmentStatus
from controltower.orders.models import Order
from integrations.runtime import inbox
from integrations.runtime.choices import InboundStatus
from integrations.runtime.models import InboundEvent
from tests.factories import lifecycle
from tests.integrations.wms.conftest import (
    SLUG,
    envelope,
    make_order,
    make_release_ready,
    post_event,
    release_object,
    shipment_object,
    wms_connection,
)

F = FulfilmentStatus
pytestmark = pytest.mark.django_db

BATCHED, SINGLE = (1001, 1002, 1003, 1004), (2001, 2002, 2003, 2004)


@pytest.fixture(autouse=True)
def no_commit_callbacks(django_capture_on_commit_callbacks: Any) -> Iterator[None]:
    """Keep kicks and pushes from leaving the test (no worker here)."""
    with django_capture_on_commit_callbacks(execute=False):
        yield


def _released(number: int) -> Order:
    order = make_release_ready(make_order(number))
    return lifecycle.release(order, f"REL-{number}", connection=SLUG)


def _post(client: Client, event_type: str, obj: dict[str, Any]) -> None:
    response = post_event(client, envelope(event_type, obj))
    assert response.status_code == 200, response.content


def _send_the_warehouse_day(client: Client, numbers: tuple[int, ...]) -> None:
    """Per order, as the warehouse sends them: (1) picked and packed; (2) picked, packed, its one
    parcel and the finished release; (3) picked, then finished before its parcel came; (4) packed
    only, already picking (a redelivered step changes nothing)."""
    one, two, three, four = (Order.objects.get(number=str(n)) for n in numbers)

    def obj(order: Order, status: str, **extra: Any) -> dict[str, Any]:
        return release_object(order, status, reference=f"REL-{order.number}", **extra)

    for order in (one, two, three):
        _post(client, "release.picking", obj(order, "picking"))
    for order in (one, two, four):
        _post(client, "release.packed", obj(order, "packed"))
    parcel = f"SHP-{two.number}"
    _post(
        client,
        "shipment.shipped",
        shipment_object(two, parcel, {1: 2, 2: 1}, reference=f"REL-{two.number}"),
    )
    _post(client, "release.shipped", obj(two, "shipped", shipments=[parcel]))
    _post(client, "release.shipped", obj(three, "shipped", shipments=[f"SHP-{three.number}"]))


def _claimed() -> list[InboundEvent]:
    ids = inbox.claim_inbound(100)
    loaded = inbox.load_claimed(ids)
    return [loaded[i] for i in ids]


def _recording(statements: list[str]) -> Any:
    def wrapper(execute: Any, sql: str, params: Any, many: bool, context: Any) -> Any:
        statements.append(sql)
        return execute(sql, params, many, context)

    return wrapper


def _fingerprint(order: Order) -> dict[str, Any]:
    """What a person sees of an order, its number (in its references) blanked out."""

    def plain(value: Any) -> Any:
        return str(value).replace(order.number, "<n>")

    return {
        "statuses": (order.state, order.fulfilment_status, order.stage, order.waiting_on),
        "history": [
            (h.history_type, h.fulfilment_status, h.stage, plain(h.history_change_reason))
            for h in order.history.order_by("history_id")
        ],
        "events": [
            (e.type, plain(sorted(e.parameters.items())), e.actor.username)
            for e in order.events.order_by("id")
        ],
        "shipments": [plain(s.external_id) for s in order.shipments.all()],
        "inbox": sorted(
            (e.status, plain(e.error))
            for e in InboundEvent.objects.filter(body__contains=str(order.correlation_id))
        ),
    }


def test_batch_leaves_the_rows_one_by_one_leaves(client: Client) -> None:
    # given: the same warehouse day for two sets of released orders
    wms_connection()
    for number in BATCHED + SINGLE:
        _released(number)
    _post(
        client,
        "release.picking",
        release_object(Order.objects.get(number="1004"), "picking", reference="REL-1004"),
    )
    _post(
        client,
        "release.picking",
        release_object(Order.objects.get(number="2004"), "picking", reference="REL-2004"),
    )
    for event in _claimed():
        inbox.process_inbound_event(event)
    # when: one set drained as a batch, the other one by one
    _send_the_warehouse_day(client, BATCHED)
    statements: list[str] = []
    with db.execute_wrapper(_recording(statements)):
        assert inbox.process_inbound_batch(_claimed()) == []
    _send_the_warehouse_day(client, SINGLE)
    for event in _claimed():
        inbox.process_inbound_event(event)
    # then: each order as its twin
    for batched, single in zip(BATCHED, SINGLE, strict=True):
        mine = Order.objects.get(number=str(batched))
        twin = Order.objects.get(number=str(single))
        assert _fingerprint(mine) == _fingerprint(twin)
    statuses = [Order.objects.get(number=str(n)).fulfilment_status for n in BATCHED]
    assert statuses == [F.PICKING, F.SHIPPED, F.PICKING, F.PICKING]
    waiting = InboundEvent.objects.filter(status=InboundStatus.PENDING).order_by("id")
    assert [e.error for e in waiting] == [
        "waiting: release REL-1003 is shipped, but parcel(s) SHP-1003 have not reached us yet",
        "waiting: release REL-2003 is shipped, but parcel(s) SHP-2003 have not reached us yet",
    ]
    # together: the orders' picking written in one update of the orders for the batch
    updates = [sql for sql in statements if sql.startswith('UPDATE "orders_order"')]
    assert len(updates) == 2  # orders 1-3 picking, in one; then order 2 shipped, one by one


def test_a_finished_release_whose_parcels_came_earlier_is_in_the_batch(client: Client) -> None:
    # given: the order's parcel recorded in an earlier drain
    wms_connection()
    orders = [_released(n) for n in (1001, 1002)]
    for order in orders:
        _post(
            client,
            "release.picking",
            release_object(order, "picking", reference=f"REL-{order.number}"),
        )
        parcel = f"SHP-{order.number}"
        _post(
            client,
            "shipment.shipped",
            shipment_object(order, parcel, {1: 2, 2: 1}, reference=f"REL-{order.number}"),
        )
    assert inbox.process_inbound_batch(_claimed()) == []
    # when: both releases are done
    for order in orders:
        _post(
            client,
            "release.shipped",
            release_object(
                order, "shipped", reference=f"REL-{order.number}", shipments=[f"SHP-{order.number}"]
            ),
        )
    statements: list[str] = []
    with db.execute_wrapper(_recording(statements)):
        assert inbox.process_inbound_batch(_claimed()) == []
    # then: recorded as progress, the parcels read once for the batch
    assert set(InboundEvent.objects.values_list("status", flat=True)) == {InboundStatus.PROCESSED}
    assert sum(sql.startswith('SELECT "fulfilment_shipment"') for sql in statements) == 1
    for order in orders:
        order.refresh_from_db()
        assert order.fulfilment_status == F.SHIPPED
        assert order.events.filter(parameters__status="shipped").count() == 1


def test_a_batch_that_fails_as_a_whole_is_processed_one_by_one(
    client: Client, monkeypatch: pytest.MonkeyPatch
) -> None:
    # given: the batch path breaks after writing its rows
    wms_connection()
    orders = [_released(n) for n in (1001, 1002)]
    for order in orders:
        _post(
            client,
            "release.picking",
            release_object(order, "picking", reference=f"REL-{order.number}"),
        )
    from integrations.wms import adapter

    real = adapter.record_warehouse_progress_many

    def breaks(*args: Any, **kwargs: Any) -> Any:
        real(*args, **kwargs)
        raise RuntimeError("the batch broke")

    monkeypatch.setattr(adapter, "record_warehouse_progress_many", breaks)
    # when
    assert inbox.process_inbound_batch(_claimed()) == []
    # then: each order picked once, by the one-by-one path
    assert set(InboundEvent.objects.values_list("status", flat=True)) == {InboundStatus.PROCESSED}
    for order in orders:
        order.refresh_from_db()
        assert order.fulfilment_status == F.PICKING
        assert order.events.filter(parameters__status="picking").count() == 1
        assert order.history.filter(history_change_reason="picking in the warehouse").count() == 1
