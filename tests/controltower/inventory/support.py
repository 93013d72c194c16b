"""Shared set-up for the inventory tests: a warehouse and a store, rules, figures."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from django.utils import timezone

from controltower.catalog.choices import ChannelType, LocationType
from controltower.catalog.models import SKU, Channel, Location
from controltower.core.context import acting_as
from controltower.core.writepath import service_scope
from controltower.inventory.models import AvailableToSell, ChannelAllocationRule
from controltower.inventory.services import StockReport, record_stock_reports
from tests.factories.catalog import ChannelFactory, LocationFactory, SKUFactory


def warehouse(code: str = "wh-1") -> Location:
    return LocationFactory(code=code, name=f"Warehouse {code}", type=LocationType.WAREHOUSE)


def store(code: str = "store-1") -> Location:
    return LocationFactory(code=code, name=f"Store {code}", type=LocationType.STORE)


def pos_channel() -> Channel:
    return ChannelFactory(code="pos", name="Stores", type=ChannelType.POS)


def allocate(channel: Channel, location: Location, percent: int = 100, **extra: Any) -> None:
    with service_scope():
        ChannelAllocationRule.objects.update_or_create(
            channel=channel, location=location, defaults={"percent": percent, **extra}
        )


def report(
    system: str,
    sku: SKU | str,
    location: Location | str,
    on_hand: Any,
    *,
    as_of: datetime | None = None,
) -> Any:
    code = sku.code if isinstance(sku, SKU) else sku
    place = location.code if isinstance(location, Location) else location
    with acting_as(f"sync.{system}"):
        return record_stock_reports(
            system,
            [StockReport(sku=code, location=place, on_hand=on_hand, as_of=as_of or timezone.now())],
            source=f"{system}:test",
        )


def ats(sku: SKU, channel: Channel) -> int:
    row = AvailableToSell.objects.filter(sku=sku, channel=channel).first()
    return row.quantity if row else 0  # no row: nothing was ever available


def sku(code: str = "TEE-1") -> SKU:
    return SKU.objects.filter(code=code).first() or SKUFactory(code=code)
