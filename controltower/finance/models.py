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
    """Admin-editable posting rule: a business event (per channel, optionally) → a GL account."""

    event = models.CharField(max_length=32, choices=PostingEvent.choices)
    channel = models.ForeignKey(
        Channel, null=True, blank=True, on_delete=models.CASCADE, related_name="gl_mappings"
    )
    account = models.ForeignKey(GLAccount, on_delete=models.PROTECT, related_name="mappings")

    class Meta(CanonicalModel.Meta):
        verbose_name = "GL mapping"
        constraints = canonical_constraints(
            models.UniqueConstraint(
                fields=["event", "channel"],
                nulls_distinct=False,
                name="finance_glmapping_event_channel_uniq",
            ),
        )


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
    issued_at = models.DateTimeField(null=True, blank=True)


class CreditMemo(CanonicalModel):
    invoice = models.ForeignKey(Invoice, on_delete=models.PROTECT, related_name="credit_memos")
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

    class Meta(CanonicalModel.Meta):
        verbose_name_plural = "journal entries"


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
