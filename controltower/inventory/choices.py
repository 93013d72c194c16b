from __future__ import annotations

from django.db import models


class ReportingSystem(models.TextChoices):
    ERP = "erp", "ERP"
    WMS = "wms", "WMS"
    POS = "pos", "POS"
    STOREFRONT = "storefront", "Storefront (published)"


class ReservationStatus(models.TextChoices):
    OPEN = "open", "Open"
    RELEASED = "released", "Released"
    CONSUMED = "consumed", "Consumed"


class PublicationState(models.TextChoices):
    PENDING = "pending", "Waiting to be published"
    SENT = "sent", "Sent to the storefront"
    PUBLISHED = "published", "Published"
    FAILED = "failed", "Refused by the storefront"


# Whose count of a location's stock is authoritative, by location type, unless the location
# names its own (Location.stock_authority).
DEFAULT_AUTHORITY = {
    "warehouse": ReportingSystem.WMS,
    "store": ReportingSystem.POS,
    "channel_virtual": ReportingSystem.ERP,
}
