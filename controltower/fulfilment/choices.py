from __future__ import annotations

from django.db import models


class ShipmentState(models.TextChoices):
    PLANNED = "planned", "Planned"
    PICKING = "picking", "Picking"
    SHIPPED = "shipped", "Shipped"
    IN_TRANSIT = "in_transit", "In transit"
    DELIVERED = "delivered", "Delivered"
    EXCEPTION = "exception", "Carrier exception"
    CANCELLED = "cancelled", "Cancelled"
