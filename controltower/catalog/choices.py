from __future__ import annotations

from django.db import models


class ChannelType(models.TextChoices):
    WOOCOMMERCE = "woocommerce", "WooCommerce store"
    POS = "pos", "POS estate"
    MARKETPLACE = "marketplace", "Marketplace"


class LocationType(models.TextChoices):
    WAREHOUSE = "warehouse", "Warehouse"
    STORE = "store", "Store"
    CHANNEL_VIRTUAL = "channel_virtual", "Channel virtual location"


class SystemKind(models.TextChoices):
    """The kinds of external system Control Tower integrates (one adapter package each)."""

    WOOCOMMERCE = "woocommerce", "WooCommerce"
    POS = "pos", "POS"
    ERP = "erp", "ERP"
    WMS = "wms", "WMS"
    PAYMENTS = "payments", "Payment gateway"
    FINANCE = "finance", "Finance ledger"


class CaptureMode(models.TextChoices):
    AT_CHECKOUT = "at_checkout", "Captured at checkout"
    AT_SHIPMENT = "at_shipment", "Authorized, captured at shipment"
    OFFLINE = "offline", "Paid outside the gateway"
