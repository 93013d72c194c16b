"""Order invariants the database enforces, and the state machine table."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import pytest
from django.db import IntegrityError, transaction

from controltower.orders.choices import OrderState
from controltower.orders.models import Order, OrderLine
from controltower.orders.transitions import ALLOWED, TERMINAL, IllegalTransition, is_allowed
from tests.factories.integrations import web_channel


def _order(**fields: Any) -> Order:
    return Order(channel=web_channel(), number="1001", **fields)


def _line(order: Order, **fields: Any) -> OrderLine:
    values: dict[str, Any] = {
        "order": order,
        "line_number": 1,
        "sku_code": "NW-TEE-001-BLK-M",
        "name": "Tee",
        "quantity": 2,
        "unit_price_amount": Decimal("19.95"),
        "total_amount": Decimal("39.90"),
        **fields,
    }
    return OrderLine(**values)


def _refused(instance: Order | OrderLine) -> str:
    with pytest.raises(IntegrityError) as raised, transaction.atomic():
        instance.save()
    return str(raised.value)


# --- database constraints ----------------------------------------------------------------------
@pytest.mark.django_db
def test_order_valid_row_saves() -> None:
    # given
    order = _order(total_amount=Decimal("44.85"))
    order.save()
    # when
    _line(order).save()
    # then
    assert order.lines.get().quantity == 2
    assert order.state == OrderState.RECEIVED


@pytest.mark.django_db
def test_order_state_must_be_a_known_choice() -> None:
    # given
    order = _order(state="teleported")
    # when
    error = _refused(order)
    # then
    assert "orders_order_state_valid" in error
    assert not Order.objects.exists()


@pytest.mark.django_db
@pytest.mark.parametrize(
    "field",
    ["total_amount", "subtotal_amount", "shipping_amount", "tax_amount", "discount_amount"],
)
def test_order_amounts_must_not_be_negative(field: str) -> None:
    # given
    order = _order(**{field: Decimal("-0.01")})
    # when
    error = _refused(order)
    # then
    assert "orders_order_amounts_nonneg" in error


@pytest.mark.django_db
def test_order_line_quantity_must_be_positive() -> None:
    # given
    order = _order()
    order.save()
    # when
    error = _refused(_line(order, quantity=0))
    # then
    assert "orders_orderline_quantity_pos" in error
    assert not order.lines.exists()


@pytest.mark.django_db
def test_order_line_cancelled_must_not_exceed_quantity() -> None:
    # given
    order = _order()
    order.save()
    # when
    error = _refused(_line(order, quantity=2, quantity_cancelled=3))
    # then
    assert "orders_orderline_quantities_fit" in error


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("cancelled", "shipped", "ok"),
    [(0, 2, True), (1, 1, True), (1, 2, False), (0, 3, False)],
    ids=["all-shipped", "rest-shipped", "shipped-a-cancelled-unit", "shipped-too-many"],
)
def test_order_line_shipped_must_fit_what_was_not_cancelled(
    cancelled: int, shipped: int, ok: bool
) -> None:
    # given
    order = _order()
    order.save()
    line = _line(order, quantity=2, quantity_cancelled=cancelled, quantity_shipped=shipped)
    # when
    if ok:
        line.save()
        error = ""
    else:
        error = _refused(line)
    # then
    assert order.lines.exists() is ok
    assert ok or "orders_orderline_quantities_fit" in error


@pytest.mark.django_db
@pytest.mark.parametrize("field", ["unit_price_amount", "total_amount"])
def test_order_line_amounts_must_not_be_negative(field: str) -> None:
    # given
    order = _order()
    order.save()
    # when
    error = _refused(_line(order, **{field: Decimal("-1")}))
    # then
    assert "orders_orderline_amounts_nonneg" in error


@pytest.mark.django_db
def test_order_line_numbers_are_unique_per_order() -> None:
    # given
    order = _order()
    order.save()
    _line(order).save()
    # when
    error = _refused(_line(order, sku_code="OTHER"))
    # then
    assert "orders_orderline_number_uniq" in error


# --- the state machine -------------------------------------------------------------------------
def test_transitions_table_covers_every_state() -> None:
    # given / when
    sources = set(ALLOWED)
    targets = set().union(*ALLOWED.values())
    # then
    assert sources == set(OrderState)
    assert targets <= set(OrderState)


def test_transitions_terminal_states_have_no_exits() -> None:
    # given: the ends of an order's life, named here rather than read from the table
    terminal = {OrderState.CANCELLED, OrderState.REFUNDED}
    # when
    exits = {state: ALLOWED[state] for state in terminal}
    # then
    assert exits == {OrderState.CANCELLED: frozenset(), OrderState.REFUNDED: frozenset()}
    assert terminal == TERMINAL
    assert [t for s in terminal for t in OrderState if is_allowed(s, t)] == []


@pytest.mark.parametrize(
    ("state", "some_exits"),
    [
        (OrderState.RECEIVED, {OrderState.ACCEPTED, OrderState.CANCELLED}),
        (OrderState.PENDING_PAYMENT, {OrderState.ACCEPTED, OrderState.CANCELLED}),
        (OrderState.ON_HOLD, {OrderState.ACCEPTED, OrderState.CANCELLED}),
        (OrderState.ACCEPTED, {OrderState.REGISTERED, OrderState.CANCELLED}),
        (OrderState.REGISTERED, {OrderState.SHIPPED, OrderState.CANCELLED}),
        (OrderState.PARTIALLY_SHIPPED, {OrderState.SHIPPED}),
        (OrderState.SHIPPED, {OrderState.COMPLETED, OrderState.REFUNDED}),
        (OrderState.COMPLETED, {OrderState.REFUNDED}),
        (OrderState.FAILED, {OrderState.PENDING_PAYMENT, OrderState.CANCELLED}),
    ],
)
def test_transitions_non_terminal_state_has_its_exits(
    state: OrderState, some_exits: set[OrderState]
) -> None:
    # given / when
    exits = ALLOWED[state]
    # then
    assert some_exits <= exits
    assert state not in TERMINAL
    assert all(is_allowed(state, target) for target in some_exits)


def test_transitions_no_state_moves_to_itself_or_back_to_received() -> None:
    # given / when
    loops = [s for s, targets in ALLOWED.items() if s in targets]
    back = [s for s, targets in ALLOWED.items() if OrderState.RECEIVED in targets]
    # then
    assert loops == []
    assert back == []


@pytest.mark.parametrize(
    ("current", "target", "allowed"),
    [
        (OrderState.RECEIVED, OrderState.ACCEPTED, True),
        (OrderState.ACCEPTED, OrderState.REGISTERED, True),
        (OrderState.SHIPPED, OrderState.COMPLETED, True),
        (OrderState.RECEIVED, OrderState.SHIPPED, False),
        (OrderState.SHIPPED, OrderState.CANCELLED, False),
        (OrderState.COMPLETED, OrderState.ACCEPTED, False),
    ],
)
def test_order_can_transition_to_reads_the_table(
    current: OrderState, target: OrderState, allowed: bool
) -> None:
    # given
    order = Order(state=current)
    # when
    result = order.can_transition_to(target)
    # then
    assert result is allowed


def test_illegal_transition_message_names_both_states() -> None:
    # given / when
    error = IllegalTransition(OrderState.CANCELLED, OrderState.ACCEPTED)
    # then
    assert str(error) == "illegal order transition cancelled → accepted"
