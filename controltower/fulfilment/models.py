from __future__ import annotations

from django.db import models
from django.db.models import Q

from controltower.catalog.models import Location
from controltower.core.models import CanonicalModel, canonical_constraints
from controltower.fulfilment.choices import ShipmentState


class Shipment(CanonicalModel):
    order = models.ForeignKey("orders.Order", on_delete=models.PROTECT, related_name="shipments")
    location = models.ForeignKey(
        Location, null=True, blank=True, on_delete=models.PROTECT, related_name="shipments"
    )
    state = models.CharField(
        max_length=16, choices=ShipmentState.choices, default=ShipmentState.PLANNED
    )
    carrier = models.CharField(max_length=64, blank=True, default="")
    tracking_number = models.CharField(max_length=128, blank=True, default="")
    shipped_at = models.DateTimeField(null=True, blank=True)
    release_reference = models.CharField(max_length=64, blank=True, default="")
    erp_confirmed_at = models.DateTimeField(null=True, blank=True)
    delivered_at = models.DateTimeField(null=True, blank=True)


class ShipmentLine(CanonicalModel):
    shipment = models.ForeignKey(Shipment, on_delete=models.CASCADE, related_name="lines")
    order_line = models.ForeignKey(
        "orders.OrderLine", on_delete=models.PROTECT, related_name="shipment_lines"
    )
    quantity = models.PositiveIntegerField()

    class Meta(CanonicalModel.Meta):
        constraints = canonical_constraints(
            models.CheckConstraint(
                condition=Q(quantity__gt=0), name="fulfilment_shipmentline_quantity_pos"
            ),
        )


class CarrierEvent(CanonicalModel):
    shipment = models.ForeignKey(Shipment, on_delete=models.CASCADE, related_name="carrier_events")
    code = models.CharField(max_length=64)
    description = models.CharField(max_length=255, blank=True, default="")
    occurred_at = models.DateTimeField()

    class Meta(CanonicalModel.Meta):
        ordering = ["occurred_at"]
