"""``/api/v1/refunds/``: read-only, for ops and finance, filtered by order, correlation id and
state, and listed in the OpenAPI schema."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import pytest
from django.contrib.auth.models import User
from django.test import Client

from controltower.core.context import acting_as
from controltower.orders.models import Order
from controltower.orders.services import upsert_channel_order
from controltower.returns.models import Refund
from controltower.returns.services import (
    ChannelRefundData,
    ChannelRefundLineData,
    record_channel_refunds,
    record_refund_lines,
)
from integrations.woocommerce.translate import translate_order
from tests.factories.integrations import web_channel
from tests.factories.woocommerce import woo_order

URL = "/api/v1/refunds/"
SOURCE = "woocommerce:woo-web"


@pytest.fixture(autouse=True)
def _fast_password_hashing(settings: Any) -> None:
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]


@pytest.fixture
def refunds(db: None) -> dict[str, Refund]:
    """Order 1001 has refunds 726 (10.00, detailed) and 727 (5.00); order 1002 has 728."""
    channel = web_channel()
    made: dict[str, Refund] = {}
    with acting_as("sync.woocommerce"):
        for number, ids in ((1001, ("726", "727")), (1002, ("728",))):
            data = translate_order(woo_order(number), source_system=SOURCE)
            order = upsert_channel_order(channel, data).order
            reports = [
                ChannelRefundData(external_id=i, amount=Decimal("10.00" if i == "726" else "5.00"))
                for i in ids
            ]
            for refund in record_channel_refunds(order, reports, source_system=SOURCE):
                made[refund.external_id] = refund
        record_refund_lines(
            made["726"],
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
    return made


def _ids(response: Any) -> list[str]:
    return [row["external_id"] for row in response.json()["results"]]


@pytest.mark.django_db
def test_refunds_api_anonymous_is_401(client: Client) -> None:
    # given / when
    response = client.get(URL)
    # then
    assert response.status_code == 401
    assert response.json() == {"detail": "Authentication credentials were not provided."}


@pytest.mark.parametrize("persona", ["exec_viewer", "outsider"])
def test_refunds_api_without_view_permission_is_403(
    client: Client, request: pytest.FixtureRequest, persona: str, refunds: dict[str, Refund]
) -> None:
    # given
    client.force_login(request.getfixturevalue(persona))
    # when
    response = client.get(URL)
    # then
    assert response.status_code == 403
    assert response.json() == {"detail": "You do not have permission to perform this action."}


@pytest.mark.parametrize("persona", ["ops_user", "finance_requester"])
def test_refunds_api_lists_refunds_with_lines(
    client: Client, request: pytest.FixtureRequest, persona: str, refunds: dict[str, Refund]
) -> None:
    # given
    client.force_login(request.getfixturevalue(persona))
    # when
    response = client.get(URL, {"ordering": "created_at"})
    # then
    assert response.status_code == 200
    body = response.json()
    assert body["count"] == 3
    assert _ids(response) == ["726", "727", "728"]
    first = body["results"][0]
    assert first["order_number"] == "1001"
    assert (first["amount"], first["tax_amount"], first["currency"]) == ("10.0000", "1.7400", "EUR")
    assert first["state"] == "requested"
    assert first["lines"] == [
        {
            "line_number": 2,
            "sku_code": "NW-CAP-002-NAV-OS",
            "quantity": 1,
            "currency": "EUR",
            "amount": "8.2600",
            "tax_amount": "1.7400",
        }
    ]


def test_refunds_api_filters_by_order_and_correlation_id(
    client: Client, ops_user: User, refunds: dict[str, Refund]
) -> None:
    # given
    client.force_login(ops_user)
    order = Order.objects.get(number="1002")
    # when
    by_order = client.get(URL, {"order": order.pk})
    by_correlation = client.get(URL, {"correlation_id": str(refunds["726"].correlation_id)})
    # then
    assert _ids(by_order) == ["728"]
    assert sorted(_ids(by_correlation)) == ["726", "727"]


def test_refunds_api_filters_by_state_and_refuses_an_unknown_state(
    client: Client, ops_user: User, refunds: dict[str, Refund]
) -> None:
    # given
    client.force_login(ops_user)
    # when
    requested = client.get(URL, {"state": "requested"})
    posted = client.get(URL, {"state": "posted"})
    bogus = client.get(URL, {"state": "lost"})
    # then
    assert requested.json()["count"] == 3
    assert posted.json()["count"] == 0
    assert bogus.status_code == 400
    assert bogus.json() == {
        "state": ["Select a valid choice. lost is not one of the available choices."]
    }


def test_refunds_api_is_read_only_even_for_admins(
    client: Client, admin_user: User, refunds: dict[str, Refund]
) -> None:
    # given: an admin holds every permission, so only the read-only view stands in the way
    client.force_login(admin_user)
    url = f"{URL}{refunds['726'].pk}/"
    # when
    post = client.post(URL, {"amount": "1.00"}, content_type="application/json")
    patch = client.patch(url, {"state": "approved"}, content_type="application/json")
    # then
    assert post.status_code == 405
    assert post.json() == {"detail": 'Method "POST" not allowed.'}
    assert patch.status_code == 405
    assert patch.json() == {"detail": 'Method "PATCH" not allowed.'}
    assert Refund.objects.get(pk=refunds["726"].pk).state == "requested"


def test_refunds_api_is_in_the_schema(client: Client, ops_user: User) -> None:
    # given
    client.force_login(ops_user)
    # when
    schema = client.get("/api/schema/", {"format": "json"}).json()
    # then
    assert {"/api/v1/refunds/", "/api/v1/refunds/{id}/"} <= set(schema["paths"])
    parameters = {p["name"] for p in schema["paths"]["/api/v1/refunds/"]["get"]["parameters"]}
    assert {"order", "correlation_id", "state", "page"} <= parameters
