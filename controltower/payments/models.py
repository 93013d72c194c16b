from __future__ import annotations

from django.db import models
from django.db.models import Q

from controltower.core.models import CanonicalModel, canonical_constraints
from controltower.core.money import AmountField, CurrencyField
from controltower.payments.choices import (
    PaymentState,
    PaymentTransactionType,
    SettlementLineType,
)


class Payment(CanonicalModel):
    """One tender on an order (split tenders are several payments)."""

    order = models.ForeignKey("orders.Order", on_delete=models.PROTECT, related_name="payments")
    gateway = models.CharField(max_length=64)
    method = models.CharField(max_length=64, blank=True, default="")
    state = models.CharField(
        max_length=32, choices=PaymentState.choices, default=PaymentState.PENDING
    )
    currency = CurrencyField()
    amount = AmountField()
    authorized_amount = AmountField()
    captured_amount = AmountField()
    refunded_amount = AmountField()
    fee_amount = AmountField()
    capture_method = models.CharField(max_length=16, blank=True, default="")

    class Meta(CanonicalModel.Meta):
        constraints = canonical_constraints(
            models.CheckConstraint(
                condition=Q(amount__gte=0)
                & Q(captured_amount__gte=0)
                & Q(refunded_amount__gte=0)
                & Q(refunded_amount__lte=models.F("captured_amount")),
                name="payments_payment_amounts_valid",
            ),
        )


class PaymentTransaction(CanonicalModel):
    """An authorize / capture / void / refund event on a payment."""

    payment = models.ForeignKey(Payment, on_delete=models.CASCADE, related_name="transactions")
    type = models.CharField(max_length=16, choices=PaymentTransactionType.choices)
    currency = CurrencyField()
    amount = AmountField()
    fee_amount = AmountField()
    succeeded = models.BooleanField(default=True)
    occurred_at = models.DateTimeField()

    class Meta(CanonicalModel.Meta):
        ordering = ["occurred_at"]
        constraints = canonical_constraints(
            models.CheckConstraint(
                condition=Q(amount__gte=0), name="payments_transaction_amount_nonneg"
            ),
        )


class Settlement(CanonicalModel):
    """A payout from the gateway: gross, fees, net."""

    gateway = models.CharField(max_length=64)
    currency = CurrencyField()
    gross_amount = AmountField()
    fee_amount = AmountField()
    net_amount = AmountField()
    paid_out_at = models.DateTimeField()
    reconciled_at = models.DateTimeField(null=True, blank=True)

    class Meta(CanonicalModel.Meta):
        constraints = canonical_constraints(
            models.CheckConstraint(
                condition=Q(net_amount=models.F("gross_amount") - models.F("fee_amount")),
                name="payments_settlement_net_is_gross_minus_fee",
            ),
        )


class SettlementLine(CanonicalModel):
    settlement = models.ForeignKey(Settlement, on_delete=models.CASCADE, related_name="lines")
    payment = models.ForeignKey(
        Payment, null=True, blank=True, on_delete=models.PROTECT, related_name="settlement_lines"
    )
    type = models.CharField(max_length=16, choices=SettlementLineType.choices)
    currency = CurrencyField()
    gross_amount = AmountField()
    fee_amount = AmountField()
    net_amount = AmountField()
