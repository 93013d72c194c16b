"""Orders taken through order to cash by the domain services, at chosen times, for the KPI and
finance page tests: the steps of tests/factories/lifecycle.py, each at the time a test names."""

from __future__ import annotations

from datetime import datetime, timedelta

from django.utils import timezone

from controltower.catalog.models import Channel
from controltower.core.context import acting_as
from controltower.core.writepath import service_scope
from controltower.finance.models import JournalEntry
from controltower.finance.services import record_posting_result as _record_posting_result
from controltower.orders.models import ChannelStatusMapping, Order
from integrations.woocommerce.translate import STATUS_MAPPING
from tests.factories import lifecycle
from tests.factories.catalog import ChannelFactory


def channel(code: str = "web") -> Channel:
    """A WooCommerce-shaped channel with its status mappings."""
    with service_scope():  # a fixture, built as a service would
        made = ChannelFactory(code=code, name=f"Store {code}")
        for status, state in STATUS_MAPPING.items():
            ChannelStatusMapping.objects.get_or_create(
                channel=made, channel_status=status, defaults={"state": state}
            )
    return made


def accounts(*, method: str = "stripe", tax_codes: tuple[str, ...] = ("STD",)) -> None:
    """GL accounts and mappings for the sales entry, and an open period around today."""
    today = timezone.localdate()
    lifecycle.books(
        tax_codes=tax_codes,
        method=method,
        period=(today - timedelta(days=400), today + timedelta(days=60)),
    )


def place(shop: Channel, number: int, placed_at: datetime) -> Order:
    """The storefront delivers an order placed at ``placed_at`` (accepted: processing)."""
    return lifecycle.web_order(number, channel=shop, modified=placed_at + timedelta(minutes=1))


def ship(order: Order, shipped_at: datetime) -> Order:
    """Paid (0.50 fee), registered in the ERP, released and shipped whole at ``shipped_at``."""
    return lifecycle.take_to(order, "shipped", fee=lifecycle.FEE, at=shipped_at)


def invoice(order: Order, issued_at: datetime) -> Order:
    """The ERP invoices everything (lines at STD tax, shipping): the posting gate is met."""
    return lifecycle.invoice(order, f"INV-{order.number}", at=issued_at)


def ledger_answers(order: Order, *, accepted: bool, ledger_id: str = "", reason: str = "") -> None:
    entry = JournalEntry.objects.get(order=order)
    with acting_as("sync.finance"):
        _record_posting_result(entry, accepted=accepted, ledger_id=ledger_id, reason=reason)


def posted(order: Order, ledger_id: str) -> Order:
    ledger_answers(order, accepted=True, ledger_id=ledger_id)
    order.refresh_from_db()
    return order
