from __future__ import annotations

from django.conf import settings
from django.db import models
from django.db.models import Q
from django.utils import timezone

from controltower.core.models import CanonicalModel, canonical_constraints
from controltower.core.money import AmountField, CurrencyField
from controltower.exceptions.choices import ACTIVE_STATES, ExceptionState, ExceptionType, Severity
from controltower.exceptions.querysets import ExceptionQuerySet


class OpsException(CanonicalModel):
    """One item in the work queue: anything a person must look at.

    (Named ``OpsException`` so it never shadows Python's builtin ``Exception``.)
    ``dedupe_key`` names the underlying condition; at most one active exception exists per key,
    so a condition that recurs updates its exception instead of opening another.
    """

    type = models.CharField(max_length=32, choices=ExceptionType.choices)
    severity = models.CharField(max_length=16, choices=Severity.choices, default=Severity.MEDIUM)
    state = models.CharField(
        max_length=16, choices=ExceptionState.choices, default=ExceptionState.OPEN
    )
    title = models.CharField(max_length=255)
    detail = models.TextField(blank=True, default="")
    dedupe_key = models.CharField(max_length=191)
    currency = CurrencyField()
    money_at_risk_amount = AmountField()
    owner = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    subject_type = models.CharField(max_length=64, blank=True, default="")
    subject_id = models.CharField(max_length=64, blank=True, default="")
    context = models.JSONField(default=dict, blank=True)
    opened_at = models.DateTimeField(default=timezone.now)
    closed_at = models.DateTimeField(null=True, blank=True)
    resolution_reason = models.TextField(blank=True, default="")

    objects = ExceptionQuerySet.as_manager()

    class Meta(CanonicalModel.Meta):
        ordering = ["-opened_at", "-id"]
        verbose_name = "exception"
        constraints = canonical_constraints(
            models.UniqueConstraint(
                fields=["dedupe_key"],
                condition=Q(state__in=ACTIVE_STATES),
                name="exceptions_active_dedupe_uniq",
            ),
            models.CheckConstraint(
                condition=~Q(state__in=[ExceptionState.RESOLVED, ExceptionState.IGNORED])
                | ~Q(resolution_reason=""),
                name="exceptions_closed_needs_reason",
            ),
            models.CheckConstraint(
                condition=Q(money_at_risk_amount__gte=0), name="exceptions_money_at_risk_nonneg"
            ),
            models.CheckConstraint(
                condition=Q(state__in=ExceptionState.values), name="exceptions_state_valid"
            ),
        )
        indexes = [
            models.Index(
                fields=["-opened_at"],
                condition=Q(state__in=ACTIVE_STATES),
                name="exceptions_active_idx",
            )
        ]

    def __str__(self) -> str:
        return self.title

    @property
    def is_active(self) -> bool:
        return self.state in ACTIVE_STATES
