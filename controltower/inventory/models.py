from __future__ import annotations

from decimal import Decimal

from django.db import models
from django.db.models import Q

from controltower.catalog.models import SKU, Channel, Location
from controltower.core.models import CanonicalModel, canonical_constraints
from controltower.inventory.choices import ReportingSystem, ReservationStatus


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
            )
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
