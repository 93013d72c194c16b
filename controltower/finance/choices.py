from __future__ import annotations

from django.db import models


class AccountType(models.TextChoices):
    ASSET = "asset", "Asset"
    LIABILITY = "liability", "Liability"
    EQUITY = "equity", "Equity"
    REVENUE = "revenue", "Revenue"
    EXPENSE = "expense", "Expense"


class PostingEvent(models.TextChoices):
    """Business events that posting rules map to GL accounts."""

    GROSS_SALES = "gross_sales", "Gross sales"
    DISCOUNTS = "discounts", "Discounts"
    SHIPPING_REVENUE = "shipping_revenue", "Shipping revenue"
    TAX_PAYABLE = "tax_payable", "Tax payable"
    PAYMENT_CLEARING = "payment_clearing", "Payment clearing"
    GATEWAY_FEES = "gateway_fees", "Gateway fees"
    GIFT_CARDS = "gift_cards", "Gift cards / store credit"
    REFUNDS = "refunds", "Refunds"
    INVENTORY = "inventory", "Inventory"
    COGS = "cogs", "Cost of goods sold"


class PeriodStatus(models.TextChoices):
    OPEN = "open", "Open"
    CLOSED = "closed", "Closed"


class DocumentState(models.TextChoices):
    DRAFT = "draft", "Draft"
    ISSUED = "issued", "Issued"
    VOID = "void", "Void"


class JournalState(models.TextChoices):
    DRAFT = "draft", "Queued"
    SENT = "sent", "Sent to ledger"
    POSTED = "posted", "Posted"
    REJECTED = "rejected", "Rejected by ledger"
    REVERSED = "reversed", "Reversed"


JOURNAL_STATE_COLOURS: dict[str, str] = {
    JournalState.DRAFT: "blue",
    JournalState.SENT: "amber",
    JournalState.POSTED: "green",
    JournalState.REJECTED: "red",
    JournalState.REVERSED: "grey",
}
