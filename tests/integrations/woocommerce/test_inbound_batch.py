"""New orders of a drain's batch are created together (one statement per kind of row for the
batch) and leave exactly the rows the one-by-one path leaves; everything else in the batch goes
one by one; a batch that fails as a whole loses nothing."""

from __future__ import annotations

from typing import Any

import pytest
from django.db import connection as db
from django.test import Client

from controltower.core.context import acting_as
from controltower.orders.choices import OrderState
from controltower.orders.models import Order
from integrations.runtime import inbox
from integrations.runtime.choices import InboundStatus
from integrations.runtime.models import Connection, InboundEvent, OutboundMessage
from tests.factories.catalog import SKUFactory
from tests.factories.integrations import erp_connection, woo_connection
from tests.factories.woocommerce import body_of, webhook_headers, woo_order

pytestmark = pytest.mark.django_db

NUMBERS = (1001, 1002, 1003)
UNIQUE = ("source", "idempotency_key")  # the store's name, the correlation id


@pytest.fixture(autouse=True)
def skus() -> None:
    SKUFactory(code="NW-TEE-001-BLK-M")
    SKUFactory(code="NW-CAP-002-NAV-OS")


def _post(client: Client, slug: str, payload: dict[str, Any], topic: str = "order.created") -> None:
    body = body_of(payload)
    response = client.post(
        f"/hooks/woocommerce/{slug}/",
        data=body,
        content_type="application/json",
        headers=webhook_headers(body, topic=topic),
    )
    assert response.status_code == 200, response.content


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
    """What a person or the ERP sees of an order, without what differs by store and run."""
    source = order.source_system
    history = [
        (h.history_type, h.state, h.history_change_reason.replace(source, "<store>"))
        for h in order.history.order_by("history_id")
    ]
    message = OutboundMessage.objects.get(subject_id=str(order.pk))
    payload = {k: v for k, v in message.payload.items() if k not in ("correlation_id", "channel")}
    payload.pop("external_ref")
    return {
        "number": order.number,
        "state": order.state,
        "total": order.total_amount,
        "history": history,
        "lines": [
            (line.sku_code, line.quantity, line.total_amount, line.history.count())
            for line in order.lines.order_by("line_number")
        ],
        "reservations": sorted(
            (r.order_line.sku_code, r.quantity, r.history.get().history_change_reason)
            for line in order.lines.all()
            for r in line.reservations.all()
        ),
        "events": [
            (e.type, {k: v for k, v in e.parameters.items() if k not in UNIQUE}, e.actor.username)
            for e in order.events.order_by("id")
        ],
        "message": (message.kind, message.status, payload),
    }


def test_batch_leaves_the_rows_one_by_one_leaves(client: Client) -> None:
    # given: the same three orders, to two stores; one drained as a batch, one by one
    woo_connection(slug="woo-batch")
    woo_connection(slug="woo-single")
    erp_connection(base_url="http://127.0.0.1:9/")
    for number in NUMBERS:
        _post(client, "woo-batch", woo_order(number))
    events, statements = _claimed(), []
    with acting_as("system.runtime"), db.execute_wrapper(_recording(statements)):
        assert inbox.process_inbound_batch(events) == []
    for number in NUMBERS:
        _post(client, "woo-single", woo_order(number))
    with acting_as("system.runtime"):
        for event in _claimed():
            inbox.process_inbound_event(event)
    # then
    batched = {o.number: o for o in Order.objects.filter(source_system="woocommerce:woo-batch")}
    single = {o.number: o for o in Order.objects.filter(source_system="woocommerce:woo-single")}
    assert sorted(batched) == sorted(single) == [str(n) for n in NUMBERS]
    for number in batched:
        assert _fingerprint(batched[number]) == _fingerprint(single[number])
    assert batched["1001"].state == OrderState.ACCEPTED
    assert set(InboundEvent.objects.values_list("status", flat=True)) == {InboundStatus.PROCESSED}
    # together: one insert of the orders and one of their lines for the three
    inserts = [sql for sql in statements if sql.startswith("INSERT")]
    assert sum(sql.startswith('INSERT INTO "orders_order"') for sql in inserts) == 1
    assert sum(sql.startswith('INSERT INTO "orders_orderline"') for sql in inserts) == 1


def test_what_the_batch_cannot_take_goes_one_by_one_in_order(client: Client) -> None:
    # given: an order already held, then a batch with its update, a new order, an order named
    # twice (created, then updated), a deletion and a body carrying a refund
    woo_connection()
    _post(client, "woo-web", woo_order(1001))
    with acting_as("system.runtime"):
        inbox.process_inbound_batch(_claimed())
    _post(client, "woo-web", woo_order(1001, status="on-hold", modified=_later(1)), "order.updated")
    _post(client, "woo-web", woo_order(1002))
    _post(client, "woo-web", woo_order(1003))
    _post(client, "woo-web", woo_order(1003, status="on-hold", modified=_later(2)), "order.updated")
    _post(client, "woo-web", woo_order(1004))
    _post(client, "woo-web", {"id": 1004}, "order.deleted")
    refunded = woo_order(1005)
    refunded["refunds"] = [{"id": 77, "reason": "damaged", "total": "-5.00"}]
    _post(client, "woo-web", refunded)
    # when
    with acting_as("system.runtime"):
        assert inbox.process_inbound_batch(_claimed()) == []
    # then: each as the one-by-one path leaves it, later events after earlier ones
    states = dict(Order.objects.values_list("external_id", "state"))
    assert states == {
        "1001": OrderState.ON_HOLD,
        "1002": OrderState.ACCEPTED,
        "1003": OrderState.ON_HOLD,
        "1004": OrderState.CANCELLED,
        "1005": OrderState.ACCEPTED,
    }
    assert Order.objects.get(external_id="1004").trashed_at is not None
    assert Order.objects.get(external_id="1005").refunds.count() == 1
    assert set(InboundEvent.objects.values_list("status", flat=True)) == {InboundStatus.PROCESSED}


def test_a_batch_that_fails_as_a_whole_is_processed_one_by_one(
    client: Client, monkeypatch: pytest.MonkeyPatch
) -> None:
    # given: the batch path breaks half-way (after writing rows)
    woo_connection()
    for number in NUMBERS:
        _post(client, "woo-web", woo_order(number))
    from integrations.woocommerce import adapter

    real = adapter.create_channel_orders

    def breaks(*args: Any, **kwargs: Any) -> Any:
        real(*args, **kwargs)
        raise RuntimeError("the batch broke")

    monkeypatch.setattr(adapter, "create_channel_orders", breaks)
    # when
    with acting_as("system.runtime"):
        assert inbox.process_inbound_batch(_claimed()) == []
    # then: nothing of the batch was kept, and every order arrived once, one by one
    assert sorted(Order.objects.values_list("external_id", flat=True)) == ["1001", "1002", "1003"]
    assert set(InboundEvent.objects.values_list("status", flat=True)) == {InboundStatus.PROCESSED}
    assert Connection.objects.count() == 1


def _later(seconds: int) -> Any:
    from datetime import UTC, datetime, timedelta

    return datetime(2026, 11, 22, 10, 0, 0, tzinfo=UTC) + timedelta(seconds=seconds)
