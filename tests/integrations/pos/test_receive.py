"""What the POS endpoint tells a sender, and what hostile or wrong POS messages leave behind: a
clear error naming the transaction and the field, a dead letter for ops, nothing applied."""

from __future__ import annotations

import copy
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

import pytest
from django.test import Client

from controltower.exceptions.choices import ExceptionType
from controltower.exceptions.models import OpsException
from controltower.inventory.models import StockPosition
from controltower.orders.models import Order
from controltower.payments.models import Payment
from integrations.runtime.choices import InboundStatus
from integrations.runtime.models import InboundEvent
from integrations.simkit import iso_utc
from tests.integrations.pos.conftest import CAP, HOOK, TEE, drain, envelope, post_event

pytestmark = pytest.mark.django_db

NOW = iso_utc(datetime.now(UTC))


def sale_object(txn_id: str = "S01-R1-000001", **changes: Any) -> dict[str, Any]:
    """A valid sale of 2 tees and a cap (55.00, tax included) paid by card and gift card."""
    obj = {
        "id": txn_id,
        "object": "transaction",
        "type": "sale",
        "status": "completed",
        "store": "store-01",
        "register": "R1",
        "sequence": 1,
        "receipt_number": txn_id,
        "business_date": NOW[:10],
        "occurred_at": NOW,
        "updated_at": NOW,
        "currency": "EUR",
        "lines": [
            {
                "id": "1",
                "sku": TEE,
                "quantity": 2,
                "unit_price": "20.00",
                "discount": "0.00",
                "tax": "6.94",
                "tax_code": "STD",
                "total": "40.00",
            },
            {
                "id": "2",
                "sku": CAP,
                "quantity": 1,
                "unit_price": "15.00",
                "discount": "0.00",
                "tax": "2.60",
                "tax_code": "STD",
                "total": "15.00",
            },
        ],
        "totals": {"subtotal": "55.00", "discount": "0.00", "tax": "9.54", "total": "55.00"},
        "tenders": [
            {"id": "T1", "type": "card", "amount": "45.00"},
            {"id": "T2", "type": "gift_card", "amount": "10.00"},
        ],
        "original": None,
    }
    obj.update(changes)
    return obj


def with_line(**changes: Any) -> dict[str, Any]:
    obj = sale_object()
    obj["lines"][0].update(changes)
    return obj


def test_a_sale_is_accepted_applied_and_a_redelivery_is_a_duplicate(
    client: Client, estate: dict
) -> None:
    event = envelope("transaction.completed", sale_object())
    first = post_event(client, event)
    second = post_event(client, event)
    assert (first.status_code, first.json()) == (200, {"status": "accepted"})
    assert (second.status_code, second.json()) == (200, {"status": "duplicate"})
    assert drain() == [InboundStatus.PROCESSED]
    assert Order.objects.get().external_id == "store-01:R1:S01-R1-000001"
    # the same sale in another event (the upload, a resend) changes nothing
    post_event(client, envelope("transaction.completed", sale_object()))
    assert drain() == [InboundStatus.PROCESSED]
    assert (Order.objects.count(), Payment.objects.count()) == (1, 2)


def test_missing_and_wrong_signatures_are_refused_and_nothing_is_stored(
    client: Client, estate: dict
) -> None:
    body = b'{"id": "evt_1"}'
    missing = client.post(HOOK, data=body, content_type="application/json")
    wrong = post_event(client, envelope("transaction.completed", sale_object()), secret="nope")
    assert (missing.status_code, missing.json()) == (401, {"detail": "missing POS-Signature"})
    assert wrong.status_code == 401
    assert wrong.json() == {"detail": "invalid POS-Signature: signature does not match"}
    assert not InboundEvent.objects.exists()


def test_an_unknown_event_type_is_kept_as_rejected_for_ops(client: Client, estate: dict) -> None:
    response = post_event(client, envelope("till.exploded", {"id": "X"}))
    assert (response.status_code, response.json()) == (
        400,
        {"detail": "unknown event type 'till.exploded'"},
    )
    assert InboundEvent.objects.get().status == InboundStatus.REJECTED
    assert OpsException.objects.get().type == ExceptionType.REJECTED_INBOUND


HOSTILE = [
    (
        with_line(quantity="2"),
        "transaction S01-R1-000001.lines[0].quantity: must be a whole number, not '2'",
    ),
    (
        with_line(unit_price="-20.00"),
        "transaction S01-R1-000001.lines[0].unit_price: must not be negative (-20.00)",
    ),
    (
        with_line(total=40.0),
        'transaction S01-R1-000001.lines[0].total: must be a decimal string like "12.50", '
        "not '40.0'",
    ),
    (
        with_line(total="39.00"),
        "transaction S01-R1-000001.lines[0]: total 39.00 ≠ 2 × 20.00 − discount 0.00",
    ),
    (
        sale_object(lines="two tees"),
        "transaction S01-R1-000001.lines: must be a list",
    ),
    (
        sale_object(store="store-99"),
        "transaction S01-R1-000001 of store-99: unknown store 'store-99': no location has that "
        "code",
    ),
    (
        with_line(sku="NOPE-1"),
        "transaction S01-R1-000001 of store-01: sale S01-R1-000001: unknown SKU 'NOPE-1'",
    ),
    (
        sale_object(tenders=[{"id": "T1", "type": "card", "amount": "50.00"}]),
        "transaction S01-R1-000001: the tenders add up to 50.00 EUR, the total is 55.00 EUR",
    ),
    (
        sale_object(tenders=[{"id": "T1", "type": "cheque", "amount": "55.00"}]),
        "transaction S01-R1-000001.tenders[0].type: unknown tender 'cheque' "
        "(known: card, cash, gift_card, store_credit)",
    ),
    (
        sale_object(tenders=[{"id": "T1", "type": "card", "amount": "-55.00"}]),
        "transaction S01-R1-000001.tenders[0].amount: must not be negative (-55.00)",
    ),
    (
        {k: v for k, v in sale_object().items() if k != "register"},
        "transaction S01-R1-000001.register: missing",
    ),
]


@pytest.mark.parametrize(("obj", "error"), HOSTILE)
def test_bad_transactions_are_dead_lettered_with_a_clear_error_and_nothing_applied(
    client: Client, estate: dict, obj: dict[str, Any], error: str
) -> None:
    assert post_event(client, envelope("transaction.completed", obj)).status_code == 200
    assert drain() == [InboundStatus.FAILED]
    event = InboundEvent.objects.get()
    assert event.error == error
    dead = OpsException.objects.get(type=ExceptionType.DEAD_LETTER)
    assert dead.detail == error
    assert not Order.objects.exists()
    assert not Payment.objects.exists()


def test_an_upload_with_one_bad_transaction_applies_none_of_it(
    client: Client, estate: dict
) -> None:
    bad = with_line(sku="NOPE-1")
    bad.update(id="S01-R1-000002", sequence=2, receipt_number="S01-R1-000002")
    upload = {
        "id": "UPL-store-01-1",
        "object": "upload",
        "store": "store-01",
        "business_date": NOW[:10],
        "transactions": [sale_object(), bad],
        "close": None,
    }
    post_event(client, envelope("day.uploaded", upload))
    assert drain() == [InboundStatus.FAILED]
    assert InboundEvent.objects.get().error == (
        "transaction S01-R1-000002 of store-01: sale S01-R1-000002: unknown SKU 'NOPE-1'"
    )
    assert not Order.objects.exists()


def test_a_return_before_its_sale_waits_for_it(client: Client, estate: dict) -> None:
    back = {
        **sale_object("S01-R1-000009"),
        "type": "return",
        "sequence": 9,
        "lines": [
            {
                "id": "1",
                "sku": TEE,
                "quantity": 1,
                "total": "20.00",
                "tax": "3.47",
                "original_line": "1",
            }
        ],
        "totals": {"total": "20.00"},
        "tenders": [{"id": "T1", "type": "card", "amount": "20.00"}],
        "original": {"store": "store-01", "register": "R1", "transaction_id": "S01-R1-000001"},
    }
    post_event(client, envelope("transaction.completed", back))
    assert drain() == [InboundStatus.PENDING]
    waiting = InboundEvent.objects.get()
    assert (
        waiting.error == "waiting: return S01-R1-000009: its sale store-01:R1:S01-R1-000001 "
        "has not reached us yet"
    )
    post_event(client, envelope("transaction.completed", sale_object()))
    assert drain() == [InboundStatus.PROCESSED]
    # when: its pause is over, the return applies against the sale that came after it
    InboundEvent.objects.filter(pk=waiting.pk).update(claimed_until=None)
    assert drain() == [InboundStatus.PROCESSED]
    refund = Order.objects.get().refunds.get()
    assert refund.amount == Decimal("20.00")


def test_a_store_count_sets_the_pos_figures_and_a_negative_one_is_refused(
    client: Client, estate: dict
) -> None:
    count = {
        "id": "CNT-1",
        "object": "stock_count",
        "store": "store-01",
        "as_of": NOW,
        "items": [{"sku": TEE, "on_hand": 7}, {"sku": CAP, "on_hand": 3}],
    }
    post_event(client, envelope("stock.counted", count))
    drain()
    held = dict(
        StockPosition.objects.filter(reporting_system="pos").values_list("sku__code", "on_hand")
    )
    assert held == {TEE: 7, CAP: 3}
    wrong = copy.deepcopy(count) | {"id": "CNT-2"}
    wrong["items"][0]["on_hand"] = -2
    post_event(client, envelope("stock.counted", wrong))
    assert drain() == [InboundStatus.FAILED]
    assert "on-hand -2 is negative" in InboundEvent.objects.get(status="failed").error
    assert StockPosition.objects.get(sku__code=TEE, reporting_system="pos").on_hand == 7
