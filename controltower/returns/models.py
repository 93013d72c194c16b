from __future__ import annotations

from django.conf import settings
from django.db import models
from django.db.models import Q

from controltower.core.models import CanonicalModel, canonical_constraints
from controltower.core.money import AmountField, CurrencyField
from controltower.returns.choices import Disposition, RefundState, ReturnState


class ReturnAuthorization(CanonicalModel):
    order = models.ForeignKey("orders.Order", on_delete=models.PROTECT, related_name="returns")
    state = models.CharField(
        max_length=16, choices=ReturnState.choices, default=ReturnState.REQUESTED
    )
    reason = models.CharField(max_length=255, blank=True, default="")


class ReturnLine(CanonicalModel):
    return_authorization = models.ForeignKey(
        ReturnAuthorization, on_delete=models.CASCADE, related_name="lines"
    )
    order_line = models.ForeignKey(
        "orders.OrderLine", on_delete=models.PROTECT, related_name="return_lines"
    )
    quantity = models.PositiveIntegerField()
    disposition = models.CharField(
        max_length=16, choices=Disposition.choices, default=Disposition.PENDING
    )

    class Meta(CanonicalModel.Meta):
        constraints = canonical_constraints(
            models.CheckConstraint(
                condition=Q(quantity__gt=0), name="returns_returnline_quantity_pos"
            ),
        )


class Refund(CanonicalModel):
    """Money back to a customer, linked to its order, return, invoice and payment."""

    order = models.ForeignKey("orders.Order", on_delete=models.PROTECT, related_name="refunds")
    return_authorization = models.ForeignKey(
        ReturnAuthorization, null=True, blank=True, on_delete=models.PROTECT, related_name="refunds"
    )
    invoice = models.ForeignKey(
        "finance.Invoice", null=True, blank=True, on_delete=models.PROTECT, related_name="refunds"
    )
    payment = models.ForeignKey(
        "payments.Payment", null=True, blank=True, on_delete=models.PROTECT, related_name="refunds"
    )
    state = models.CharField(
        max_length=32, choices=RefundState.choices, default=RefundState.REQUESTED
    )
    currency = CurrencyField()
    amount = AmountField()
    reason = models.CharField(max_length=255, blank=True, default="")
    requested_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    approved_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    decided_at = models.DateTimeField(null=True, blank=True)

    class Meta(CanonicalModel.Meta):
        constraints = canonical_constraints(
            models.CheckConstraint(condition=Q(amount__gt=0), name="returns_refund_amount_pos"),
            models.CheckConstraint(
                condition=Q(approved_by__isnull=True)
                | Q(requested_by__isnull=True)
                | ~Q(approved_by=models.F("requested_by")),
                name="returns_refund_four_eyes",
            ),
        )
