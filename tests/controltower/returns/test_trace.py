"""A refund's events and history join its order's transaction trace."""

from __future__ import annotations

from decimal import Decimal

import pytest

from controltower.core.context import acting_as
from controltower.core.trace import collect
from controltower.orders.services import upsert_channel_order
from controltower.returns.services import ChannelRefundData, record_channel_refunds
from integrations.woocommerce.translate import translate_order
from tests.factories.integrations import web_channel
from tests.factories.woocommerce import woo_order

SOURCE = "woocommerce:woo-web"


@pytest.mark.django_db
def test_refund_entries_join_the_order_trace() -> None:
    # given
    with acting_as("sync.woocommerce"):
        order = upsert_channel_order(
            web_channel(), translate_order(woo_order(1001), source_system=SOURCE)
        ).order
        record_channel_refunds(
            order,
            [ChannelRefundData(external_id="726", amount=Decimal("10"))],
            source_system=SOURCE,
        )
    # when
    entries = collect(str(order.correlation_id))
    # then
    titles = [(e.kind, e.title, e.actor) for e in entries if "efund" in e.title]
    assert ("event", "Refund 726: Refund recorded", "sync.woocommerce") in titles
    assert any(kind == "history" and title.startswith("refund ") for kind, title, _ in titles)
