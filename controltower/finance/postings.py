"""The sales entry of an order, as pure arithmetic over its invoices and captures (no database):
what ``services.evaluate_posting`` books, and what the property tests check.

One balanced entry per order, in its currency:

    Dr payment clearing (per method)   what each method captured
    Dr gift cards (per method)          what gift cards / store credit paid (a liability
                                        redeemed, not revenue; ``LIABILITY_METHODS``)
    Dr discounts                        Σ invoice line discounts
    Dr gateway fees (per method)        the gateway's fees
        Cr gross sales                  Σ invoice line net + discount (price × quantity)
        Cr shipping revenue             Σ invoiced shipping (net)
        Cr tax payable (per tax code)   Σ invoiced tax, lines and shipping
        Cr payment clearing (per method) the fees (the gateway keeps them from the payout)

It balances when the captures equal the invoiced total; otherwise there is no entry
(:class:`PostingProblem`).
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field
from decimal import Decimal

ZERO = Decimal(0)
GROSS_SALES = "gross_sales"
DISCOUNTS = "discounts"
SHIPPING_REVENUE = "shipping_revenue"
TAX_PAYABLE = "tax_payable"
PAYMENT_CLEARING = "payment_clearing"
GATEWAY_FEES = "gateway_fees"
GIFT_CARDS = "gift_cards"
# Tenders that redeem what the business owes (a gift card, store credit): their money debits the
# gift-card liability (GLMapping event ``gift_cards``), never the payment clearing.
LIABILITY_METHODS = frozenset({"gift_card", "store_credit"})


class PostingProblem(ValueError):
    """The order's documents do not make a sales entry; the message says why."""


@dataclass(frozen=True)
class InvoiceLineFacts:
    net: Decimal  # after discount, before tax
    discount: Decimal
    tax: Decimal
    tax_code: str


@dataclass(frozen=True)
class InvoiceFacts:
    lines: list[InvoiceLineFacts]
    shipping_net: Decimal = ZERO
    shipping_tax: Decimal = ZERO
    shipping_tax_code: str = ""

    @property
    def total(self) -> Decimal:
        lines = sum((line.net + line.tax for line in self.lines), ZERO)
        return lines + self.shipping_net + self.shipping_tax


@dataclass(frozen=True)
class CaptureFacts:
    payment_method: str
    amount: Decimal
    fee: Decimal = ZERO


@dataclass(frozen=True)
class SalesFacts:
    currency: str
    invoices: list[InvoiceFacts]
    captures: list[CaptureFacts] = field(default_factory=list)


@dataclass(frozen=True)
class EntryLine:
    """A line before accounts are chosen: the posting event, its scope key (tax code or payment
    method, "" for none) and its side."""

    event: str
    key: str
    debit: Decimal = ZERO
    credit: Decimal = ZERO


def sales_entry_lines(facts: SalesFacts) -> list[EntryLine]:
    """The lines of the order's sales entry, merged per (event, key), zero lines dropped."""
    invoiced = sum((invoice.total for invoice in facts.invoices), ZERO)
    captured = sum((capture.amount for capture in facts.captures), ZERO)
    if not facts.invoices:
        raise PostingProblem("the order has no invoice")
    if captured != invoiced:
        raise PostingProblem(
            f"captured {captured:.2f} {facts.currency} ≠ invoiced {invoiced:.2f} {facts.currency}"
        )
    debits: dict[tuple[str, str], Decimal] = defaultdict(lambda: ZERO)
    credits: dict[tuple[str, str], Decimal] = defaultdict(lambda: ZERO)
    for invoice in facts.invoices:
        for line in invoice.lines:
            credits[(GROSS_SALES, "")] += line.net + line.discount
            debits[(DISCOUNTS, "")] += line.discount
            credits[(TAX_PAYABLE, line.tax_code)] += line.tax
        credits[(SHIPPING_REVENUE, "")] += invoice.shipping_net
        credits[(TAX_PAYABLE, invoice.shipping_tax_code)] += invoice.shipping_tax
    for capture in facts.captures:
        liability = capture.payment_method in LIABILITY_METHODS
        debits[(GIFT_CARDS if liability else PAYMENT_CLEARING, capture.payment_method)] += (
            capture.amount
        )
        debits[(GATEWAY_FEES, capture.payment_method)] += capture.fee
        credits[(PAYMENT_CLEARING, capture.payment_method)] += capture.fee
    lines = [EntryLine(event, key, debit=amount) for (event, key), amount in debits.items()]
    lines += [EntryLine(event, key, credit=amount) for (event, key), amount in credits.items()]
    lines = [line for line in lines if line.debit or line.credit]
    for line in lines:
        if line.debit < 0 or line.credit < 0:
            raise PostingProblem(f"{line.event} {line.key}: a negative amount cannot be posted")
    return lines


def is_balanced(lines: list[EntryLine]) -> bool:
    return sum((line.debit for line in lines), ZERO) == sum((line.credit for line in lines), ZERO)
