"""Rows the mappings tests stand on, built directly as a service would (the write-path guard
lets fixtures be): channels, status mappings, GL accounts and orders placed where a test needs
them (channel status, stage, posting status, payment method, a line's tax code)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from django.utils import timezone

from controltower.catalog.models import Channel
from controltower.core.writepath import service_scope
from controltower.finance.models import GLAccount
from controltower.orders.models import ChannelStatusMapping, Order, OrderLine
from tests.factories.catalog import ChannelFactory


def channel(code: str) -> Channel:
    return ChannelFactory(code=code, name=code)


def status_mapping(on: Channel, status: str, state: str) -> ChannelStatusMapping:
    with service_scope():
        return ChannelStatusMapping.objects.create(channel=on, channel_status=status, state=state)


def account(code: str, name: str, type: str = "revenue") -> GLAccount:
    with service_scope():
        return GLAccount.objects.create(code=code, name=name, type=type)


def order(
    on: Channel,
    number: int,
    *,
    tax_code: str = "",
    stage_changed_at: datetime | None = None,
    **fields: Any,
) -> Order:
    """An order of ``on`` (accepted, in processing, unless ``fields`` say otherwise), with one
    line carrying ``tax_code`` when given."""
    values: dict[str, Any] = {
        "state": "accepted",
        "channel_status": "processing",
        "stage": "accepted",
    }
    values.update(fields)
    with service_scope():
        placed = Order.objects.create(
            channel=on,
            number=str(number),
            currency="EUR",
            stage_changed_at=stage_changed_at or timezone.now(),
            **values,
        )
        if tax_code:
            OrderLine.objects.create(
                order=placed,
                line_number=1,
                sku_code="SKU-1",
                name="Tee",
                quantity=1,
                currency="EUR",
                tax_code=tax_code,
            )
    return placed
