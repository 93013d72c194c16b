from __future__ import annotations

from decimal import Decimal

from django.db import models
from django.db.models import Q

from controltower.catalog.models import SKU, Channel, Location
from controltower.core.models import CanonicalModel, canonical_constraints
from controltower.inventory.choices import PublicationState, ReportingSystem, ReservationStatus


class StockPosition(CanonicalModel):
    """On-hand stock for one SKU at one location, as one system reports it, as of a time."""

    sku = models.ForeignKey(SKU, on_delete=models.PROTECT, related_name="stock_positions")
    location = models.ForeignKey(Location, on_delete=models.PROTECT, related_name="stock_positions")
    reporting_system = models.CharField(max_length=16, choices=ReportingSystem.choices)
    on_hand = models.IntegerField(default=0)
    as_of = models.DateTimeField()

    class Meta(CanonicalModel.Meta):
        constraints = canonical_constraints(
            models.UniqueConstraint(
                fields=["sku", "location", "reporting_system"],
                name="inventory_stockposition_sku_loc_sys_uniq",
            ),
            models.CheckConstraint(
                condition=Q(on_hand__gte=0), name="inventory_stockposition_on_hand_nonneg"
            ),
        )


class Reservation(CanonicalModel):
    """Stock held for an order line: taken on accept, released on cancel, consumed on ship."""

    order_line = models.ForeignKey(
        "orders.OrderLine", on_delete=models.PROTECT, related_name="reservations"
    )
    sku = models.ForeignKey(SKU, on_delete=models.PROTECT, related_name="reservations")
    location = models.ForeignKey(
        Location, null=True, blank=True, on_delete=models.PROTECT, related_name="reservations"
    )
    quantity = models.PositiveIntegerField()
    status = models.CharField(
        max_length=16, choices=ReservationStatus.choices, default=ReservationStatus.OPEN
    )

    class Meta(CanonicalModel.Meta):
        constraints = canonical_constraints(
            models.CheckConstraint(
                condition=Q(quantity__gt=0), name="inventory_reservation_quantity_pos"
            ),
            models.CheckConstraint(
                condition=Q(status__in=ReservationStatus.values),
                name="inventory_reservation_status_valid",
            ),
        )
        indexes = [
            models.Index(
                fields=["sku", "location"],
                condition=Q(status="open"),
                name="inventory_reservation_open_idx",
            ),
            models.Index(
                fields=["sku", "location", "updated_at"],
                condition=Q(status="consumed"),
                name="inventory_reservation_used_idx",
            ),
        ]


class ChannelAllocationRule(CanonicalModel):
    """How much of a location's stock a channel may sell: percent, safety stock, cap."""

    channel = models.ForeignKey(Channel, on_delete=models.CASCADE, related_name="allocation_rules")
    location = models.ForeignKey(
        Location, on_delete=models.CASCADE, related_name="allocation_rules"
    )
    percent = models.DecimalField(max_digits=5, decimal_places=2, default=Decimal(100))
    safety_stock = models.PositiveIntegerField(default=0)
    cap = models.PositiveIntegerField(null=True, blank=True)

    class Meta(CanonicalModel.Meta):
        constraints = canonical_constraints(
            models.UniqueConstraint(
                fields=["channel", "location"], name="inventory_allocation_channel_loc_uniq"
            ),
            models.CheckConstraint(
                condition=Q(percent__gte=0) & Q(percent__lte=100),
                name="inventory_allocation_percent_range",
            ),
        )


class StockFreshnessRule(CanonicalModel):
    """Admin-editable: how old the newest stock figure a system reports for a location may be
    before ops hear of it ("no stock from warehouse X for 30 min"). A rule without a location is
    the system's default for every location it reports."""

    reporting_system = models.CharField(max_length=16, choices=ReportingSystem.choices)
    location = models.ForeignKey(
        Location, null=True, blank=True, on_delete=models.CASCADE, related_name="freshness_rules"
    )
    max_age_minutes = models.PositiveIntegerField(default=30)

    class Meta(CanonicalModel.Meta):
        constraints = canonical_constraints(
            models.UniqueConstraint(
                fields=["reporting_system", "location"],
                name="inventory_freshness_sys_loc_uniq",
                nulls_distinct=False,
            ),
            models.CheckConstraint(
                condition=Q(max_age_minutes__gt=0), name="inventory_freshness_age_pos"
            ),
        )

    def __str__(self) -> str:
        where = self.location.code if self.location_id else "every location"
        return f"{self.get_reporting_system_display()} at {where}: {self.max_age_minutes} min"


class DriftTolerance(CanonicalModel):
    """Admin-editable: how far the systems' figures for one SKU × location may differ before it is
    drift (the larger of ``units`` and ``percent`` of the highest figure). A rule without a
    location is the default."""

    location = models.OneToOneField(
        Location, null=True, blank=True, on_delete=models.CASCADE, related_name="drift_tolerance"
    )
    units = models.PositiveIntegerField(default=0)
    percent = models.DecimalField(max_digits=5, decimal_places=2, default=Decimal(0))

    class Meta(CanonicalModel.Meta):
        constraints = canonical_constraints(
            models.UniqueConstraint(
                fields=["location"], name="inventory_drift_tolerance_loc_uniq", nulls_distinct=False
            ),
            models.CheckConstraint(
                condition=Q(percent__gte=0) & Q(percent__lte=100),
                name="inventory_drift_tolerance_percent_range",
            ),
        )


class AvailableToSell(models.Model):
    """Derived, per SKU × channel: what the channel may sell now (recomputed set-based by
    :func:`controltower.inventory.ats.recompute`; never edited)."""

    sku = models.ForeignKey(SKU, on_delete=models.CASCADE, related_name="+")
    channel = models.ForeignKey(Channel, on_delete=models.CASCADE, related_name="+")
    quantity = models.IntegerField(default=0)
    computed_at = models.DateTimeField()

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["sku", "channel"], name="inventory_ats_sku_channel_uniq"
            )
        ]

    def __str__(self) -> str:
        return f"ATS {self.sku_id}@{self.channel_id}: {self.quantity}"


class StockPublication(models.Model):
    """Derived, per SKU × channel: the figure the storefront should show and the one it last
    accepted. A change marks it pending; the publisher sends pending rows in batches."""

    sku = models.ForeignKey(SKU, on_delete=models.CASCADE, related_name="+")
    channel = models.ForeignKey(Channel, on_delete=models.CASCADE, related_name="+")
    wanted = models.IntegerField(default=0)
    published = models.IntegerField(null=True, blank=True)
    state = models.CharField(
        max_length=16, choices=PublicationState.choices, default=PublicationState.PENDING
    )
    changed_at = models.DateTimeField()
    sent_at = models.DateTimeField(null=True, blank=True)
    published_at = models.DateTimeField(null=True, blank=True)
    error = models.TextField(blank=True, default="")

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["sku", "channel"], name="inventory_pub_sku_channel_uniq"
            )
        ]
        indexes = [
            models.Index(
                fields=["channel", "changed_at"],
                condition=Q(state="pending"),
                name="inventory_pub_pending_idx",
            )
        ]

    def __str__(self) -> str:
        return f"publish {self.sku_id}@{self.channel_id}: {self.wanted} ({self.state})"


class StockAccuracySample(models.Model):
    """One full drift check: how many SKU × location pairs two or more systems count, and how
    many of them agree within tolerance (the executives' stock-accuracy chart)."""

    taken_at = models.DateTimeField(db_index=True)
    pairs = models.PositiveIntegerField()
    within_tolerance = models.PositiveIntegerField()

    class Meta:
        ordering = ["-taken_at"]

    def __str__(self) -> str:
        return f"{self.within_tolerance}/{self.pairs} within tolerance at {self.taken_at}"
