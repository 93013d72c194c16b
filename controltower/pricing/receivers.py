"""The policy is checked whenever prices are read: the storefront's (product sync) or the ERP's
(item pull), for the SKUs read, in the same transaction — an exception exists before an order
can be taken at a price that breaks the policy."""

from __future__ import annotations

from typing import Any

from django.dispatch import receiver

from controltower.catalog.signals import prices_read
from controltower.pricing.checks import check_prices


@receiver(prices_read, dispatch_uid="pricing.check_prices_read")
def check_prices_read(sender: Any, *, sku_ids: set[int], **_: Any) -> None:
    check_prices(sku_ids=set(sku_ids))
