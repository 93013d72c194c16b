from __future__ import annotations

from django.db import models
from django.db.models import Q

from controltower.catalog.models import Channel, Location
from controltower.core.models import CanonicalModel, canonical_constraints
from controltower.core.money import AmountField, CurrencyField
from controltower.finance.choices import (
    AccountType,
    DocumentState,
    JournalState,
    PeriodStatus,
    PostingEvent,
)


class GLAccount(CanonicalModel):
    code = models.CharField(max_length=32, unique=True)
    name = models.CharField(max_length=200)
    type = models.CharField(max_length=16, choices=AccountType.choices)

    class Meta(CanonicalModel.Meta):
        ordering = ["code"]
        verbose_name = "GL account"

    def __str__(self) -> str:
        return f"{self.code} {self.name}"


class GLMapping(CanonicalModel):
    """Admin-editable posting rule: a business event → a GL account, per channel (blank: every
    channel), tax code (tax payable) and payment method (payment clearing, gateway fees). The most
    specific mapping wins; where none applies the posting is blocked, never defaulted."""

    event = models.CharField(max_length=32, choices=PostingEvent.choices)
    channel = models.ForeignKey(
        Channel, null=True, blank=True, on_delete=models.CASCADE, related_name="gl_mappings"
    )
    tax_code = models.CharField(max_length=16, blank=True, default="")
    payment_method = models.CharField(max_length=64, blank=True, default="")
    account = models.ForeignKey(GLAccount, on_delete=models.PROTECT, related_name="mappings")

    class Meta(CanonicalModel.Meta):
        verbose_name = "GL mapping"
        constraints = canonical_constraints(
            models.UniqueConstraint(
                fields=["event", "channel", "tax_code", "payment_method"],
                nulls_distinct=False,
                name="finance_glmapping_scope_uniq",
            ),
        )

    def __str__(self) -> str:
        scope = [self.channel.code if self.channel_id else "all channels"]
        scope += [f"tax {self.tax_code}"] if self.tax_code else []
        scope += [f"method {self.payment_method}"] if self.payment_method else []
        return f"{self.get_event_display()} ({', '.join(scope)}) → {self.account.code}"


class PostingGate(CanonicalModel):
    """Admin-editable, per channel (blank: the default): what must be true of an order before its
    sales entry is posted."""

    channel = models.OneToOneField(
        Channel, null=True, blank=True, on_delete=models.CASCADE, related_name="posting_gate"
    )
    require_captured = models.BooleanField(default=True)
    require_shipped = models.BooleanField(default=True)
    require_invoiced = models.BooleanField(default=True)

    class Meta(CanonicalModel.Meta):
        constraints = canonical_constraints(
            models.UniqueConstraint(
                fields=["channel"], nulls_distinct=False, name="finance_postinggate_channel_uniq"
            ),
        )

    def __str__(self) -> str:
        needs = [
            name
            for name, on in (
                ("captured", self.require_captured),
                ("shipped", self.require_shipped),
                ("invoiced", self.require_invoiced),
            )
            if on
        ]
        where = self.channel.code if self.channel_id else "default"
        return f"{where}: post when {' and '.join(needs) or 'accepted'}"


class FiscalPeriod(CanonicalModel):
    legal_entity = models.CharField(max_length=64, default="default")
    starts_on = models.DateField()
    ends_on = models.DateField()
    status = models.CharField(max_length=8, choices=PeriodStatus.choices, default=PeriodStatus.OPEN)

    class Meta(CanonicalModel.Meta):
        ordering = ["-starts_on"]
        constraints = canonical_constraints(
            models.CheckConstraint(
                condition=Q(ends_on__gte=models.F("starts_on")), name="finance_period_range"
            ),
            models.UniqueConstraint(
                fields=["legal_entity", "starts_on"], name="finance_period_start_uniq"
            ),
        )


class Invoice(CanonicalModel):
    order = models.ForeignKey("orders.Order", on_delete=models.PROTECT, related_name="invoices")
    number = models.CharField(max_length=64, unique=True)
    state = models.CharField(
        max_length=8, choices=DocumentState.choices, default=DocumentState.DRAFT
    )
    currency = CurrencyField()
    net_amount = AmountField()
    tax_amount = AmountField()
    total_amount = AmountField()
    shipping_net_amount = AmountField()
    shipping_tax_amount = AmountField()
    shipping_tax_code = models.CharField(max_length=16, blank=True, default="")
    shipment_reference = models.CharField(max_length=64, blank=True, default="")
    issued_at = models.DateTimeField(null=True, blank=True)


class InvoiceLine(CanonicalModel):
    """One line of an invoice (or credit memo) as the ERP issued it: net is after discount and
    before tax."""

    invoice = models.ForeignKey(
        Invoice, null=True, blank=True, on_delete=models.CASCADE, related_name="lines"
    )
    credit_memo = models.ForeignKey(
        "finance.CreditMemo", null=True, blank=True, on_delete=models.CASCADE, related_name="lines"
    )
    order_line = models.ForeignKey(
        "orders.OrderLine", null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    line_number = models.PositiveIntegerField()
    sku_code = models.CharField(max_length=64, blank=True, default="")
    quantity = models.PositiveIntegerField()
    currency = CurrencyField()
    unit_price_amount = AmountField()
    discount_amount = AmountField()
    net_amount = AmountField()
    tax_amount = AmountField()
    tax_code = models.CharField(max_length=16, blank=True, default="")
    total_amount = AmountField()

    class Meta(CanonicalModel.Meta):
        ordering = ["line_number"]
        constraints = canonical_constraints(
            models.CheckConstraint(
                condition=Q(invoice__isnull=False) ^ Q(credit_memo__isnull=False),
                name="finance_invoiceline_one_document",
            ),
            models.CheckConstraint(
                condition=Q(quantity__gte=0) & Q(discount_amount__gte=0) & Q(tax_amount__gte=0),
                name="finance_invoiceline_amounts_nonneg",
            ),
        )


class CreditMemo(CanonicalModel):
    invoice = models.ForeignKey(
        Invoice, null=True, blank=True, on_delete=models.PROTECT, related_name="credit_memos"
    )
    order = models.ForeignKey(
        "orders.Order", null=True, blank=True, on_delete=models.PROTECT, related_name="credit_memos"
    )
    reason = models.CharField(max_length=255, blank=True, default="")
    refund = models.ForeignKey(
        "returns.Refund", null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    number = models.CharField(max_length=64, unique=True)
    state = models.CharField(
        max_length=8, choices=DocumentState.choices, default=DocumentState.DRAFT
    )
    currency = CurrencyField()
    net_amount = AmountField()
    tax_amount = AmountField()
    total_amount = AmountField()
    issued_at = models.DateTimeField(null=True, blank=True)


class JournalEntry(CanonicalModel):
    """A balanced set of journal lines. Balance per currency is checked by the database at
    commit (a deferred constraint trigger, see the migration), so an unbalanced entry cannot exist.
    """

    period = models.ForeignKey(FiscalPeriod, on_delete=models.PROTECT, related_name="entries")
    entry_date = models.DateField()
    state = models.CharField(max_length=8, choices=JournalState.choices, default=JournalState.DRAFT)
    event = models.CharField(max_length=32, blank=True, default="")
    description = models.CharField(max_length=255, blank=True, default="")
    posted_at = models.DateTimeField(null=True, blank=True)
    order = models.ForeignKey(
        "orders.Order", null=True, blank=True, on_delete=models.PROTECT, related_name="journal"
    )
    channel = models.ForeignKey(
        Channel, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    legal_entity = models.CharField(max_length=64, default="default")
    currency = CurrencyField()
    total_amount = AmountField()  # the entry's debits (= its credits)
    ledger_id = models.CharField(max_length=64, blank=True, default="")
    rejection_reason = models.TextField(blank=True, default="")
    sent_at = models.DateTimeField(null=True, blank=True)
    batch_reference = models.CharField(max_length=64, blank=True, default="")

    class Meta(CanonicalModel.Meta):
        verbose_name_plural = "journal entries"
        ordering = ["-entry_date", "-id"]
        indexes = [
            models.Index(
                fields=["id"], condition=Q(state="draft"), name="finance_entry_queued_idx"
            ),
            models.Index(fields=["state", "-entry_date"], name="finance_entry_state_idx"),
        ]


class JournalLine(CanonicalModel):
    entry = models.ForeignKey(JournalEntry, on_delete=models.CASCADE, related_name="lines")
    account = models.ForeignKey(GLAccount, on_delete=models.PROTECT, related_name="lines")
    currency = CurrencyField()
    debit_amount = AmountField()
    credit_amount = AmountField()
    tax_code = models.CharField(max_length=16, blank=True, default="")
    channel = models.ForeignKey(
        Channel, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    location = models.ForeignKey(
        Location, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    legal_entity = models.CharField(max_length=64, default="default")

    class Meta(CanonicalModel.Meta):
        constraints = canonical_constraints(
            models.CheckConstraint(
                condition=(Q(debit_amount__gt=0) & Q(credit_amount=0))
                | (Q(debit_amount=0) & Q(credit_amount__gt=0)),
                name="finance_journalline_debit_xor_credit",
            ),
        )
