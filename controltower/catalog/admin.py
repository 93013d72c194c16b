from __future__ import annotations

from controltower.catalog.models import SKU, Channel, Location, Product, SKUCrossReference
from controltower.core.admin_helpers import register_canonical

register_canonical(Channel, Location, Product, SKU, SKUCrossReference)
