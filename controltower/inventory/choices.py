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
