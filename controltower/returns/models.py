from __future__ import annotations

from django.conf import settings
from django.db import models
from django.db.models import Q

from controltower.core.models import CanonicalModel, EventRecord, canonical_constraints
from controltower.core.money import AmountField, CurrencyField
from controltower.returns.choices import Disposition, RefundEventType, RefundState, ReturnState
from controltower.returns.querysets import RefundQuerySet


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
    tax_amount = AmountField()
    reason = models.CharField(max_length=255, blank=True, default="")
    # When its line items were read from the source (None: only the summary is known yet).
    details_fetched_at = models.DateTimeField(null=True, blank=True)
    requested_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    approved_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    decided_at = models.DateTimeField(null=True, blank=True)

    objects = RefundQuerySet.as_manager()

    class Meta(CanonicalModel.Meta):
        constraints = canonical_constraints(
            models.CheckConstraint(condition=Q(amount__gt=0), name="returns_refund_amount_pos"),
            models.CheckConstraint(
                condition=Q(approved_by__isnull=True)
                | Q(requested_by__isnull=True)
                | ~Q(approved_by=models.F("requested_by")),
                name="returns_refund_four_eyes",
            ),
            models.CheckConstraint(
                condition=Q(tax_amount__gte=0), name="returns_refund_tax_nonneg"
            ),
        )
        indexes = [
            models.Index(
                fields=["created_at"],
                condition=Q(details_fetched_at__isnull=True),
                name="returns_refund_undetailed_idx",
            )
        ]

    def __str__(self) -> str:
        return f"refund {self.external_id or self.pk} of {self.amount} {self.currency}"


class RefundLine(CanonicalModel):
    """One order line's share of a refund: the quantity given back and its money."""

    refund = models.ForeignKey(Refund, on_delete=models.CASCADE, related_name="lines")
    order_line = models.ForeignKey(
        "orders.OrderLine", on_delete=models.PROTECT, related_name="refund_lines"
    )
    quantity = models.PositiveIntegerField(default=0)
    currency = CurrencyField()
    amount = AmountField()
    tax_amount = AmountField()

    class Meta(CanonicalModel.Meta):
        ordering = ["refund_id", "id"]
        constraints = canonical_constraints(
            models.CheckConstraint(
                condition=Q(amount__gte=0) & Q(tax_amount__gte=0),
                name="returns_refundline_amounts_nonneg",
            ),
        )

    def __str__(self) -> str:
        return f"{self.order_line_id} × {self.quantity}: {self.amount} {self.currency}"


class RefundEvent(EventRecord):
    """A typed, human-readable step in a refund's life (the trace page reads these)."""

    refund = models.ForeignKey(Refund, on_delete=models.CASCADE, related_name="events")
    type = models.CharField(max_length=32, choices=RefundEventType.choices)

    def __str__(self) -> str:
        return f"{self.get_type_display()} ({self.refund_id})"
