"""Catalog master data: addable and editable here (the catalog services upsert the same rows by
natural key); prices, currencies and source identity are read-only once a row exists."""

from __future__ import annotations

from controltower.catalog.models import (
    SKU,
    Channel,
    ChannelPrice,
    Location,
    PaymentMethod,
    Product,
    SKUCrossReference,
)
from controltower.core.admin_helpers import register_canonical

register_canonical(
    Channel, Location, Product, SKU, SKUCrossReference, PaymentMethod, service_only=False
)
register_canonical(ChannelPrice)  # written by the product sync only
