"""The promotion policy marketing's storefront prices are held to, and the ERP prices pushed back.

A storefront price is governed by one :class:`PromotionRule` per SKU × channel — the most
specific whose scope matches (channel and category, then category, then channel, then the
default with neither); no rule at all allows no discount. :class:`PromotionExclusion` takes a
SKU out of promotions on one channel or all. ``controltower.pricing.checks`` says what breaches.
"""

from __future__ import annotations

from decimal import Decimal

from django.conf import settings
from django.db import models
from django.db.models import F, Q

from controltower.catalog.models import SKU, Channel
from controltower.core.models import CanonicalModel, canonical_constraints
from controltower.core.money import AmountField, CurrencyField
from controltower.pricing.choices import PushState


class PromotionRule(CanonicalModel):
    """Admin-edited: how far below the ERP base price a storefront may sell, and when."""

    channel = models.ForeignKey(
        Channel,
        null=True,
        blank=True,
        on_delete=models.CASCADE,
        related_name="promotion_rules",
        help_text="Empty: every channel.",
    )
    category = models.CharField(
        max_length=100, blank=True, default="", help_text="Empty: every category."
    )
    max_discount_percent = models.DecimalField(
        max_digits=5,
        decimal_places=2,
        default=Decimal(0),
        help_text="The largest discount off the ERP base price (0–100).",
    )
    starts_at = models.DateTimeField(
        null=True, blank=True, help_text="Promotions allowed from (empty: always were)."
    )
    ends_at = models.DateTimeField(
        null=True, blank=True, help_text="Promotions allowed until (empty: no end)."
    )
    note = models.CharField(max_length=200, blank=True, default="")

    class Meta(CanonicalModel.Meta):
        ordering = ["channel_id", "category"]
        constraints = canonical_constraints(
            models.UniqueConstraint(
                fields=["channel", "category"],
                nulls_distinct=False,
                name="pricing_promotionrule_scope_uniq",
            ),
            models.CheckConstraint(
                condition=Q(max_discount_percent__gte=0) & Q(max_discount_percent__lte=100),
                name="pricing_promotionrule_percent_range",
            ),
            models.CheckConstraint(
                condition=Q(starts_at__isnull=True)
                | Q(ends_at__isnull=True)
                | Q(ends_at__gt=F("starts_at")),
                name="pricing_promotionrule_window_order",
            ),
        )

    def __str__(self) -> str:
        scope = " / ".join(
            [self.channel.code if self.channel_id else "all channels", self.category or "all"]
        )
        return f"{scope}: at most {self.max_discount_percent}% off"


class PromotionExclusion(CanonicalModel):
    """Admin-edited: a SKU that may not be on promotion (on one channel, or all)."""

    sku = models.ForeignKey(SKU, on_delete=models.CASCADE, related_name="promotion_exclusions")
    channel = models.ForeignKey(
        Channel,
        null=True,
        blank=True,
        on_delete=models.CASCADE,
        related_name="promotion_exclusions",
        help_text="Empty: every channel.",
    )
    note = models.CharField(max_length=200, blank=True, default="")

    class Meta(CanonicalModel.Meta):
        ordering = ["sku_id", "channel_id"]
        constraints = canonical_constraints(
            models.UniqueConstraint(
                fields=["sku", "channel"],
                nulls_distinct=False,
                name="pricing_promotionexclusion_uniq",
            ),
        )

    def __str__(self) -> str:
        where = self.channel.code if self.channel_id else "every channel"
        return f"{self.sku.code} never on promotion on {where}"


class PricePush(CanonicalModel):
    """An ops action: the ERP price (and tax class) sent back to a storefront for a SKU, with
    who asked, why, and the store's answer."""

    sku = models.ForeignKey(SKU, on_delete=models.PROTECT, related_name="price_pushes")
    channel = models.ForeignKey(Channel, on_delete=models.PROTECT, related_name="price_pushes")
    exception = models.ForeignKey(
        "exceptions.OpsException",
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
    )
    regular_price_amount = AmountField()
    currency = CurrencyField()
    tax_class = models.CharField(max_length=32, blank=True, default="")
    state = models.CharField(max_length=16, choices=PushState.choices, default=PushState.QUEUED)
    requested_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    reason = models.CharField(max_length=200)
    message_id = models.BigIntegerField(null=True, blank=True)  # the outbox message sent
    answer = models.JSONField(default=dict, blank=True)
    answered_at = models.DateTimeField(null=True, blank=True)

    class Meta(CanonicalModel.Meta):
        ordering = ["-created_at", "-id"]
        verbose_name = "price push"
        constraints = canonical_constraints(
            models.CheckConstraint(
                condition=Q(regular_price_amount__gte=0), name="pricing_pricepush_price_nonneg"
            ),
        )

    def __str__(self) -> str:
        return f"push {self.regular_price_amount} {self.currency} for SKU {self.sku_id}"
