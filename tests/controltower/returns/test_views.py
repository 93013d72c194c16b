"""The order page lists the order's refunds, with their lines once read."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import pytest
from django.contrib.auth.models import User
from django.test import Client

from controltower.core.context import acting_as
from controltower.orders.models import Order
from controltower.orders.services import upsert_channel_order
from controltower.returns.services import (
    ChannelRefundData,
    ChannelRefundLineData,
    record_channel_refunds,
    record_refund_lines,
)
from integrations.woocommerce.translate import translate_order
from tests.factories.integrations import web_channel
from tests.factories.woocommerce import woo_order

SOURCE = "woocommerce:woo-web"


@pytest.fixture(autouse=True)
def _fast_password_hashing(settings: Any) -> None:
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]


@pytest.fixture
def order(db: None) -> Order:
    with acting_as("sync.woocommerce"):
        order = upsert_channel_order(
            web_channel(), translate_order(woo_order(1001), source_system=SOURCE)
        ).order
        first, _ = record_channel_refunds(
            order,
            [
                ChannelRefundData(external_id="726", amount=Decimal("10.00"), reason="Damaged"),
                ChannelRefundData(external_id="727", amount=Decimal("5.00")),
            ],
            source_system=SOURCE,
        )
        record_refund_lines(
            first,
            [
                ChannelRefundLineData(
                    external_id="726:1",
                    order_line_external_id="1001:10012",
                    quantity=1,
                    amount=Decimal("8.26"),
                    tax=Decimal("1.74"),
                )
            ],
        )
    return order


def test_order_detail_lists_refunds_and_their_lines(
    client: Client, ops_user: User, order: Order
) -> None:
    # given
    client.force_login(ops_user)
    # when
    response = client.get(f"/orders/{order.pk}/")
    # then
    assert response.status_code == 200
    page = response.content.decode()
    section = page[page.index('id="order-refunds"') : page.index('id="order-events"')]
    assert "<code>726</code>" in section and "<code>727</code>" in section
    assert "10.00 EUR" in section and "Damaged" in section
    assert "<code>NW-CAP-002-NAV-OS</code> × 1: 8.26 + tax 1.74" in section
    assert "not read yet" in section  # 727's lines are still to be read
    assert section.count("Requested") == 2


def test_order_detail_without_refunds_says_so(client: Client, ops_user: User, db: None) -> None:
    # given
    with acting_as("sync.woocommerce"):
        order = upsert_channel_order(
            web_channel(), translate_order(woo_order(1002), source_system=SOURCE)
        ).order
    client.force_login(ops_user)
    # when
    response = client.get(f"/orders/{order.pk}/")
    # then
    assert "No refunds." in response.content.decode()


def test_order_detail_is_forbidden_to_outsiders(
    client: Client, outsider: User, order: Order
) -> None:
    # given
    client.force_login(outsider)
    # when
    response = client.get(f"/orders/{order.pk}/")
    # then
    assert response.status_code == 403
    assert "<code>726</code>" not in response.content.decode()
