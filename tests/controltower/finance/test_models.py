"""Finance invariants in the database: balanced journals, debit XOR credit, four eyes, payouts."""

from __future__ import annotations

from datetime import UTC, date, datetime
from decimal import Decimal
from typing import Any

import pytest
from django.contrib.auth.models import User
from django.db import IntegrityError, transaction

from controltower.finance.choices import AccountType
from controltower.finance.models import FiscalPeriod, GLAccount, JournalEntry, JournalLine
from controltower.orders.models import Order
from controltower.payments.models import Settlement
from controltower.returns.choices import RefundState
from controltower.returns.models import Refund
from tests.factories.integrations import web_channel


@pytest.fixture(autouse=True)
def _fast_password_hashing(settings: Any) -> None:
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]


def _accounts() -> tuple[GLAccount, GLAccount]:
    cash = GLAccount.objects.create(code="1100", name="Payment clearing", type=AccountType.ASSET)
    sales = GLAccount.objects.create(code="8000", name="Gross sales", type=AccountType.REVENUE)
    return cash, sales


def _entry() -> JournalEntry:
    period = FiscalPeriod.objects.create(starts_on=date(2026, 11, 1), ends_on=date(2026, 11, 30))
    return JournalEntry.objects.create(period=period, entry_date=date(2026, 11, 22))


def _line(
    entry: JournalEntry,
    account: GLAccount,
    *,
    debit: str = "0",
    credit: str = "0",
    currency: str = "EUR",
) -> JournalLine:
    return JournalLine.objects.create(
        entry=entry,
        account=account,
        currency=currency,
        debit_amount=Decimal(debit),
        credit_amount=Decimal(credit),
    )


# --- journal balance (deferred constraint trigger, checked at commit) --------------------------
@pytest.mark.django_db(transaction=True)
def test_journal_entry_unbalanced_cannot_commit() -> None:
    # given
    cash, sales = _accounts()
    # when
    with pytest.raises(IntegrityError) as raised, transaction.atomic():
        entry = _entry()
        _line(entry, cash, debit="100.00")
        _line(entry, sales, credit="90.00")
    # then
    message = str(raised.value)
    assert "does not balance in EUR" in message
    assert "debit 100.0000 <> credit 90.0000" in message
    assert not JournalEntry.objects.exists()
    assert not JournalLine.objects.exists()


@pytest.mark.django_db(transaction=True)
def test_journal_entry_balanced_commits() -> None:
    # given
    cash, sales = _accounts()
    # when
    with transaction.atomic():
        entry = _entry()
        _line(entry, cash, debit="121.00")
        _line(entry, sales, credit="100.00")
        _line(entry, sales, credit="21.00")
    # then
    assert JournalLine.objects.filter(entry=entry).count() == 3


@pytest.mark.django_db(transaction=True)
def test_journal_entry_must_balance_per_currency() -> None:
    # given: the totals match, but across two currencies
    cash, sales = _accounts()
    # when
    with pytest.raises(IntegrityError) as raised, transaction.atomic():
        entry = _entry()
        _line(entry, cash, debit="50.00", currency="EUR")
        _line(entry, sales, credit="50.00", currency="USD")
    # then
    assert "does not balance" in str(raised.value)
    assert not JournalEntry.objects.exists()


@pytest.mark.django_db(transaction=True)
def test_journal_entry_deleting_one_side_later_cannot_commit() -> None:
    # given
    cash, sales = _accounts()
    with transaction.atomic():
        entry = _entry()
        _line(entry, cash, debit="10.00")
        credit = _line(entry, sales, credit="10.00")
    # when
    with pytest.raises(IntegrityError) as raised, transaction.atomic():
        credit.delete()
    # then
    assert "does not balance" in str(raised.value)
    assert JournalLine.objects.filter(entry=entry).count() == 2


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("debit", "credit"), [("10", "10"), ("0", "0"), ("-5", "0")], ids=["both", "neither", "neg"]
)
def test_journal_line_must_be_debit_xor_credit(debit: str, credit: str) -> None:
    # given
    cash, _ = _accounts()
    entry = _entry()
    # when
    with pytest.raises(IntegrityError) as raised, transaction.atomic():
        _line(entry, cash, debit=debit, credit=credit)
    # then
    assert "finance_journalline_debit_xor_credit" in str(raised.value)


# --- refunds: four eyes ------------------------------------------------------------------------
def _order() -> Order:
    return Order.objects.create(channel=web_channel(), number="1001", total_amount=Decimal("50"))


@pytest.mark.django_db
def test_refund_approved_by_its_requester_is_refused(finance_requester: User) -> None:
    # given
    refund = Refund.objects.create(
        order=_order(), amount=Decimal("20.00"), requested_by=finance_requester
    )
    refund.approved_by = finance_requester
    refund.state = RefundState.APPROVED
    # when
    with pytest.raises(IntegrityError) as raised, transaction.atomic():
        refund.save()
    # then
    assert "returns_refund_four_eyes" in str(raised.value)
    refund.refresh_from_db()
    assert refund.approved_by is None
    assert refund.state == RefundState.REQUESTED


@pytest.mark.django_db
def test_refund_approved_by_a_second_person_is_allowed(
    finance_requester: User, finance_approver: User
) -> None:
    # given
    refund = Refund.objects.create(
        order=_order(), amount=Decimal("20.00"), requested_by=finance_requester
    )
    # when
    refund.approved_by = finance_approver
    refund.state = RefundState.APPROVED
    refund.save()
    # then
    refund.refresh_from_db()
    assert refund.approved_by == finance_approver


@pytest.mark.django_db
def test_refund_amount_must_be_positive() -> None:
    # given
    refund = Refund(order=_order(), amount=Decimal("0"))
    # when
    with pytest.raises(IntegrityError) as raised, transaction.atomic():
        refund.save()
    # then
    assert "returns_refund_amount_pos" in str(raised.value)


# --- settlements -------------------------------------------------------------------------------
@pytest.mark.django_db
@pytest.mark.parametrize(
    ("gross", "fee", "net", "ok"),
    [("100.00", "2.90", "97.10", True), ("100.00", "2.90", "97.00", False)],
    ids=["net-is-gross-minus-fee", "net-off-by-ten-cents"],
)
def test_settlement_net_must_be_gross_minus_fee(gross: str, fee: str, net: str, ok: bool) -> None:
    # given
    settlement = Settlement(
        gateway="stripe",
        gross_amount=Decimal(gross),
        fee_amount=Decimal(fee),
        net_amount=Decimal(net),
        paid_out_at=datetime(2026, 11, 23, tzinfo=UTC),
    )
    # when
    if ok:
        settlement.save()
        error = ""
    else:
        with pytest.raises(IntegrityError) as raised, transaction.atomic():
            settlement.save()
        error = str(raised.value)
    # then
    assert Settlement.objects.exists() is ok
    assert ok or "payments_settlement_net_is_gross_minus_fee" in error
