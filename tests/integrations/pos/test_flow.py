"""The POS over real HTTP: the simulator's tills ring up sales, returns and voids and send them as
signed webhooks to our live server (or, offline, upload their day later); the inbox is drained
as the worker would; the canonical rows are checked."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import pytest

from controltower.exceptions.choices import ExceptionState, ExceptionType
from controltower.exceptions.models import OpsException
from controltower.finance.models import JournalEntry
from controltower.inventory.choices import ReservationStatus
from controltower.inventory.models import Reservation
from controltower.orders.choices import FulfilmentStatus, InvoicingStatus, OrderState, PostingStatus
from controltower.orders.models import Order
from controltower.payments.models import Payment
from controltower.returns.models import Refund
from integrations.runtime.choices import InboundStatus
from integrations.runtime.models import InboundEvent
from tests.conftest import wait_for
from tests.integrations.pos.conftest import CAP, SLUG, TEE, delivered, drain, sim

pytestmark = pytest.mark.django_db(transaction=True)

D = Decimal
BASKET = [
    {"sku": TEE, "quantity": 2, "unit_price": "20.00"},
    {"sku": CAP, "quantity": 1, "unit_price": "15.00"},
]
SPLIT = [
    {"type": "card", "amount": "20.00"},
    {"type": "cash", "amount": "10.00", "tendered": "20.00"},
    {"type": "gift_card"},  # the rest: 25.00
]


def sale(tills: Any, store: str = "store-01", **extra: Any) -> dict[str, Any]:
    return sim(tills, "/_sim/sales", {"store": store, "lines": BASKET, **extra})


def applied(tills: Any) -> list[str]:
    delivered(tills)
    statuses = drain()
    assert InboundStatus.FAILED not in statuses, list(
        InboundEvent.objects.filter(status=InboundStatus.FAILED).values_list("error", flat=True)
    )
    return statuses


def test_a_sale_with_split_tenders_is_an_order_paid_fulfilled_invoiced_and_posted(
    estate: dict, tills: Any
) -> None:
    # when: a till rings up 2 tees and a cap, paid by card, cash and a gift card
    txn = sale(tills, tenders=SPLIT)
    applied(tills)
    # then: one order on the POS channel, its lines at the store, handed over and invoiced
    order = Order.objects.get(source_system=SLUG)
    assert order.external_id == f"store-01:R1:{txn['id']}"
    assert order.channel == estate["channel"]
    assert order.state == OrderState.ACCEPTED
    assert order.total_amount == D("55.00")
    assert order.fulfilment_status == FulfilmentStatus.SHIPPED
    assert order.invoicing_status == InvoicingStatus.INVOICED
    assert {line.fulfilment_location.code for line in order.lines.all()} == {"store-01"}
    assert set(
        Reservation.objects.filter(order_line__order=order).values_list("status", flat=True)
    ) == {ReservationStatus.CONSUMED}
    # and: one captured payment per tender, by method
    assert sorted(order.payments.values_list("method", "captured_amount")) == [
        ("card", D("20.00")),
        ("cash", D("10.00")),
        ("gift_card", D("25.00")),
    ]
    # and: the sales entry debits the clearing for card and cash, the gift-card liability for
    # the gift card (not revenue), and credits sales and tax
    assert order.posting_status == PostingStatus.QUEUED
    entry = JournalEntry.objects.get(order=order)
    lines = sorted(
        (line.account.code, line.debit_amount, line.credit_amount)
        for line in entry.lines.select_related("account")
    )
    tax = sum(line.tax_amount for line in order.lines.all())
    assert lines == [
        ("1100", D("10.00"), D("0")),  # cash clearing
        ("1100", D("20.00"), D("0")),  # card clearing
        ("2100", D("0"), tax),
        ("2300", D("25.00"), D("0")),  # gift cards redeemed: the liability, not revenue
        ("4000", D("0"), D("55.00") - tax),
    ]


def test_live_and_upload_overlap_and_a_second_upload_count_nothing_twice(
    estate: dict, tills: Any
) -> None:
    # given: a sale sent live, then the store goes offline and rings up two more
    first = sale(tills, "store-02")
    applied(tills)
    sim(tills, "/_sim/stores/store-02/offline")
    offline = [sale(tills, "store-02"), sale(tills, "store-02", register="R2")]
    assert Order.objects.count() == 1
    # when: it uploads its whole day (overlapping the live sale) — twice
    sim(tills, "/_sim/stores/store-02/online")
    upload = sim(tills, "/_sim/stores/store-02/upload")
    assert [t["id"] for t in upload["transactions"]] == [
        first["id"],
        offline[0]["id"],
        offline[1]["id"],
    ]
    sim(tills, "/_sim/stores/store-02/upload")
    applied(tills)
    # then: three orders, three payments, each counted once
    keys = sorted(Order.objects.values_list("external_id", flat=True))
    assert keys == sorted(
        [
            f"store-02:R1:{first['id']}",
            f"store-02:R1:{offline[0]['id']}",
            f"store-02:R2:{offline[1]['id']}",
        ]
    )
    assert Payment.objects.count() == 3
    assert sum(Payment.objects.values_list("captured_amount", flat=True)) == D("165.00")
    uploads = InboundEvent.objects.filter(topic="day.uploaded")
    assert sorted(uploads.values_list("status", flat=True)) == ["processed", "processed"]


def test_a_void_gives_the_tenders_back_and_the_order_ends_refunded(
    estate: dict, tills: Any
) -> None:
    txn = sale(tills, tenders=[{"type": "card", "amount": "30.00"}, {"type": "cash"}])
    applied(tills)
    sim(tills, f"/_sim/transactions/{txn['id']}/void")
    applied(tills)
    order = Order.objects.get()
    assert order.state == OrderState.REFUNDED
    assert sorted(order.payments.values_list("method", "refunded_amount", "state")) == [
        ("card", D("30.00"), "refunded"),
        ("cash", D("25.00"), "refunded"),
    ]
    assert Refund.objects.get(order=order).amount == D("55.00")


def test_a_sale_voided_before_it_reached_us_is_born_cancelled_without_money(
    estate: dict, tills: Any
) -> None:
    sim(tills, "/_sim/stores/store-03/offline")
    txn = sale(tills, "store-03")
    sim(tills, f"/_sim/transactions/{txn['id']}/void")
    sim(tills, "/_sim/stores/store-03/online")
    sim(tills, "/_sim/stores/store-03/upload")
    applied(tills)
    order = Order.objects.get()
    assert order.state == OrderState.CANCELLED
    assert not order.payments.exists()
    assert not Reservation.objects.filter(status=ReservationStatus.OPEN).exists()


def test_a_return_with_its_receipt_refunds_the_original_sale(estate: dict, tills: Any) -> None:
    txn = sale(tills, tenders=[{"type": "card"}])
    applied(tills)
    back = sim(
        tills,
        "/_sim/returns",
        {
            "store": "store-01",
            "original": txn["id"],
            "lines": [{"original_line": 1, "quantity": 1}],
        },
    )
    applied(tills)
    order = Order.objects.get()
    refund = Refund.objects.get(order=order)
    assert refund.external_id == f"store-01:R1:{back['id']}"
    assert refund.amount == D("20.00")
    assert [(ln.order_line.sku_code, ln.quantity) for ln in refund.lines.all()] == [(TEE, 1)]
    payment = order.payments.get()
    assert (payment.refunded_amount, payment.state) == (D("20.00"), "partially_refunded")


def test_returns_without_receipt_are_recorded_and_held_for_a_person_above_the_limit(
    estate: dict, tills: Any
) -> None:
    small = sim(
        tills,
        "/_sim/returns",
        {"store": "store-01", "lines": [{"sku": CAP, "quantity": 1, "unit_price": "15.00"}]},
    )
    large = sim(
        tills,
        "/_sim/returns",
        {"store": "store-01", "lines": [{"sku": TEE, "quantity": 3, "unit_price": "20.00"}]},
    )
    applied(tills)
    found = {
        e.context["return"]: e
        for e in OpsException.objects.filter(type=ExceptionType.REFUND_APPROVAL)
    }
    within = found[f"store-01:R1:{small['id']}"]
    above = found[f"store-01:R1:{large['id']}"]
    assert within.state == ExceptionState.RESOLVED
    assert above.state == ExceptionState.OPEN
    assert above.title == (
        f"Return without receipt {large['id']} at store store-01: 60.00 EUR given back"
    )
    assert above.detail == (
        "3 × TEE-1 (60.00) taken back at the store's price without a receipt; given back cash "
        "60.00. More than the no-receipt limit of 50.00 EUR: check it with the store."
    )
    assert not Order.objects.exists()


def test_an_end_of_day_that_does_not_match_opens_an_exception_with_the_difference(
    estate: dict, tills: Any
) -> None:
    sale(tills, tenders=[{"type": "cash"}])
    sim(tills, "/_sim/faults", {"eod_mismatch": "5.00"})
    close = sim(tills, "/_sim/stores/store-01/close")
    applied(tills)
    found = OpsException.objects.get(type=ExceptionType.RECONCILIATION_BREAK)
    day = close["business_date"]
    assert found.title == (
        f"Store store-01 {day}: end-of-day totals differ from the transactions received by "
        "+5.00 EUR"
    )
    assert found.money_at_risk_amount == D("5.00")
    assert found.context["differences"] == {"cash": "5.00"}


def test_an_end_of_day_ahead_of_an_offline_stores_transactions_closes_when_they_arrive(
    estate: dict, tills: Any
) -> None:
    sale(tills, "store-02")
    applied(tills)
    sim(tills, "/_sim/stores/store-02/offline")
    sale(tills, "store-02", tenders=[{"type": "cash"}])
    sim(tills, "/_sim/stores/store-02/online")
    sim(tills, "/_sim/stores/store-02/close")  # counts both sales; we hold one
    applied(tills)
    found = OpsException.objects.get(type=ExceptionType.RECONCILIATION_BREAK)
    assert found.state == ExceptionState.OPEN
    assert found.context["differences"] == {"cash": "55.00"}
    # when: the store uploads what it held back
    sim(tills, "/_sim/stores/store-02/upload", {"only_unsent": True})
    applied(tills)
    found.refresh_from_db()
    assert found.state == ExceptionState.RESOLVED


def test_duplicate_and_shuffled_deliveries_are_one_sale_each(estate: dict, tills: Any) -> None:
    sim(tills, "/_sim/faults", {"duplicate_webhooks": 1, "shuffle_webhooks": True})
    rung = [sale(tills, "store-03", register=register) for register in ("R1", "R2", "R1")]
    wait_for(lambda: sum(d["ok"] for d in tills.webhooks.deliveries()) >= 6, timeout=20)
    applied(tills)
    assert Order.objects.count() == 3
    assert Payment.objects.count() == 3
    assert sorted(Order.objects.values_list("number", flat=True)) == sorted(t["id"] for t in rung)
