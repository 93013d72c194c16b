"""The sales entry's arithmetic (controltower.finance.postings), over generated orders with
discounts, tax codes, shipping, partial shipments (an invoice per shipment) and split captures."""

from __future__ import annotations

import re
from decimal import Decimal

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from controltower.finance import postings
from controltower.finance.postings import (
    CaptureFacts,
    InvoiceFacts,
    InvoiceLineFacts,
    PostingProblem,
    SalesFacts,
    is_balanced,
    sales_entry_lines,
)

CENT = Decimal("0.01")
money = st.integers(min_value=0, max_value=500_00).map(lambda c: Decimal(c) / 100)


@st.composite
def orders(draw: st.DrawFn) -> tuple[SalesFacts, Decimal, Decimal]:
    """An order's invoices (one per shipment) and captures (split across methods); returns the
    facts, the order total and the fees."""
    lines = []
    for _ in range(draw(st.integers(1, 5))):
        gross = draw(money)
        discount = min(gross, draw(money))
        lines.append(
            (gross - discount, discount, draw(money), draw(st.sampled_from(["STD", "RED", "ZERO"])))
        )
    shipments = draw(st.integers(1, min(3, len(lines))))
    invoices = []
    for index in range(shipments):
        part = lines[index::shipments]
        invoices.append(
            InvoiceFacts(
                lines=[
                    InvoiceLineFacts(net=n, discount=d, tax=t, tax_code=c) for n, d, t, c in part
                ],
                shipping_net=draw(money) if index == 0 else Decimal(0),
                shipping_tax=draw(money) if index == 0 else Decimal(0),
                shipping_tax_code="STD",
            )
        )
    total = sum((invoice.total for invoice in invoices), Decimal(0))
    methods = draw(
        st.lists(st.sampled_from(["card", "giftcard", "paypal"]), min_size=1, max_size=3)
    )
    cents = int(total * 100)
    cuts = sorted(
        draw(st.lists(st.integers(0, cents), min_size=len(methods) - 1, max_size=len(methods) - 1))
    )
    bounds = [0, *cuts, cents]
    captures, fees = [], Decimal(0)
    for method, low, high in zip(methods, bounds, bounds[1:], strict=False):
        amount = Decimal(high - low) / 100
        fee = (amount * Decimal("0.015")).quantize(CENT)
        fees += fee
        captures.append(CaptureFacts(payment_method=method, amount=amount, fee=fee))
    return SalesFacts(currency="EUR", invoices=invoices, captures=captures), total, fees


@settings(max_examples=300, deadline=None)
@given(orders())
def test_sales_entry_balances_and_ties_to_the_order(
    order: tuple[SalesFacts, Decimal, Decimal],
) -> None:
    # given
    facts, total, fees = order
    # when
    lines = sales_entry_lines(facts)
    # then every entry balances
    assert is_balanced(lines)

    def by(event: str, side: str) -> Decimal:
        return sum((getattr(ln, side) for ln in lines if ln.event == event), Decimal(0))

    # revenue − discounts + shipping + tax = the order's total, to the cent
    revenue = by(postings.GROSS_SALES, "credit") - by(postings.DISCOUNTS, "debit")
    assert (
        revenue + by(postings.SHIPPING_REVENUE, "credit") + by(postings.TAX_PAYABLE, "credit")
        == total
    )
    # clearing holds what was captured less what the gateway kept
    clearing = by(postings.PAYMENT_CLEARING, "debit") - by(postings.PAYMENT_CLEARING, "credit")
    assert clearing == total - fees
    assert by(postings.GATEWAY_FEES, "debit") == fees
    # tax is per tax code, and sums to the invoices' tax
    invoiced_tax = sum((ln.tax for inv in facts.invoices for ln in inv.lines), Decimal(0)) + sum(
        (inv.shipping_tax for inv in facts.invoices), Decimal(0)
    )
    assert by(postings.TAX_PAYABLE, "credit") == invoiced_tax
    assert all(
        ln.debit >= 0 and ln.credit >= 0 and (ln.debit == 0) != (ln.credit == 0) for ln in lines
    )


def test_sales_entry_refused_when_captures_do_not_match_invoices() -> None:
    # given
    facts = SalesFacts(
        currency="EUR",
        invoices=[
            InvoiceFacts(
                lines=[InvoiceLineFacts(Decimal("10"), Decimal(0), Decimal("2.10"), "STD")]
            )
        ],
        captures=[CaptureFacts("card", Decimal("12.00"))],
    )
    # when / then
    with pytest.raises(PostingProblem, match=re.escape("captured 12.00 EUR ≠ invoiced 12.10 EUR")):
        sales_entry_lines(facts)


def test_sales_entry_refused_without_invoice() -> None:
    with pytest.raises(PostingProblem, match="the order has no invoice"):
        sales_entry_lines(SalesFacts(currency="EUR", invoices=[], captures=[]))
