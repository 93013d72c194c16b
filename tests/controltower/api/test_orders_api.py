"""``/api/v1/orders/``: who may read it, how it pages, filters and authenticates."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest
from django.contrib.auth.models import User
from django.test import Client
from rest_framework.authtoken.models import Token

from controltower.catalog.choices import ChannelType
from controltower.catalog.models import Channel
from controltower.core.context import acting_as
from controltower.orders.choices import OrderState
from controltower.orders.models import ChannelStatusMapping, Order
from controltower.orders.services import upsert_channel_order
from integrations.woocommerce.translate import translate_order
from tests.factories.catalog import ChannelFactory
from tests.factories.integrations import web_channel
from tests.factories.woocommerce import woo_order

URL = "/api/v1/orders/"


@pytest.fixture(autouse=True)
def _fast_password_hashing(settings: Any) -> None:
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]


def _pos_channel() -> Channel:
    channel = ChannelFactory(code="pos", name="Stores", type=ChannelType.POS)
    ChannelStatusMapping.objects.create(
        channel=channel, channel_status="processing", state=OrderState.ACCEPTED
    )
    return channel


def _place(channel: Channel, source: str, number: int, status: str, day: int) -> Order:
    modified = datetime(2026, 11, day, 12, 0, tzinfo=UTC)
    data = translate_order(
        woo_order(number, status=status, modified=modified), source_system=source
    )
    with acting_as("sync.woocommerce"):
        return upsert_channel_order(channel, data).order


@pytest.fixture
def orders(db: None) -> dict[str, Order]:
    """1001 (web, accepted, 20 Nov), 1002 (web, cancelled, 21 Nov), 2001 (pos, accepted, 22 Nov)."""
    web, pos = web_channel(), _pos_channel()
    return {
        "1001": _place(web, "woocommerce:woo-web", 1001, "processing", 20),
        "1002": _place(web, "woocommerce:woo-web", 1002, "cancelled", 21),
        "2001": _place(pos, "pos:store-1", 2001, "processing", 22),
    }


def _numbers(response: Any) -> list[str]:
    return [row["number"] for row in response.json()["results"]]


# --- access ------------------------------------------------------------------------------------
@pytest.mark.django_db
def test_orders_api_anonymous_is_401(client: Client) -> None:
    # given / when
    response = client.get(URL)
    # then
    assert response.status_code == 401
    assert response.json() == {"detail": "Authentication credentials were not provided."}
    assert response.headers["WWW-Authenticate"] == "Token"


@pytest.mark.parametrize("persona", ["exec_viewer", "outsider"])
def test_orders_api_without_view_permission_is_403(
    client: Client, request: pytest.FixtureRequest, persona: str
) -> None:
    # given
    client.force_login(request.getfixturevalue(persona))
    # when
    response = client.get(URL)
    # then
    assert response.status_code == 403
    assert response.json() == {"detail": "You do not have permission to perform this action."}


def test_orders_api_ops_gets_paginated_list(
    client: Client, ops_user: User, orders: dict[str, Order]
) -> None:
    # given
    client.force_login(ops_user)
    # when
    response = client.get(URL)
    # then
    assert response.status_code == 200
    body = response.json()
    assert body["count"] == 3
    assert (body["next"], body["previous"]) == (None, None)
    assert _numbers(response) == ["2001", "1002", "1001"]  # newest first
    first = body["results"][0]
    assert first["channel"] == "pos"
    assert first["correlation_id"] == str(orders["2001"].correlation_id)
    assert (first["total_amount"], first["currency"]) == ("70.7700", "EUR")  # never a float


def test_orders_api_page_size_is_honoured(
    client: Client, ops_user: User, orders: dict[str, Order]
) -> None:
    # given
    client.force_login(ops_user)
    # when
    response = client.get(URL, {"page_size": 2})
    # then
    body = response.json()
    assert body["count"] == 3
    assert len(body["results"]) == 2
    assert body["next"].endswith("page=2&page_size=2")


# --- filters -----------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("query", "expected"),
    [
        ({"state": "cancelled"}, ["1002"]),
        ({"state": "accepted"}, ["2001", "1001"]),
        ({"channel": "pos"}, ["2001"]),
        ({"channel": "web"}, ["1002", "1001"]),
        ({"external_id": "1002"}, ["1002"]),
        ({"source_system": "pos:store-1"}, ["2001"]),
        ({"placed_after": "2026-11-21T00:00:00Z"}, ["2001", "1002"]),
        ({"placed_before": "2026-11-21T00:00:00Z"}, ["1001"]),
        (
            {"placed_after": "2026-11-21T00:00:00Z", "placed_before": "2026-11-22T00:00:00Z"},
            ["1002"],
        ),
        ({"channel": "web", "state": "accepted"}, ["1001"]),
    ],
    ids=lambda v: "&".join(f"{k}={x}" for k, x in v.items()) if isinstance(v, dict) else None,
)
def test_orders_api_filter_narrows_results(
    client: Client,
    ops_user: User,
    orders: dict[str, Order],
    query: dict[str, str],
    expected: list[str],
) -> None:
    # given
    client.force_login(ops_user)
    # when
    response = client.get(URL, query)
    # then
    assert response.status_code == 200
    assert _numbers(response) == expected
    assert response.json()["count"] == len(expected)


def test_orders_api_filter_by_correlation_id(
    client: Client, ops_user: User, orders: dict[str, Order]
) -> None:
    # given
    client.force_login(ops_user)
    # when
    response = client.get(URL, {"correlation_id": str(orders["1002"].correlation_id)})
    # then
    assert _numbers(response) == ["1002"]


@pytest.mark.parametrize(
    ("query", "field", "message"),
    [
        (
            {"state": "nonsense"},
            "state",
            "Select a valid choice. nonsense is not one of the available choices.",
        ),
        ({"correlation_id": "not-a-uuid"}, "correlation_id", "Enter a valid UUID."),
        ({"placed_after": "yesterday"}, "placed_after", "Enter a valid date/time."),
    ],
    ids=["state", "correlation_id", "placed_after"],
)
def test_orders_api_invalid_filter_is_400_naming_the_field(
    client: Client, ops_user: User, query: dict[str, str], field: str, message: str
) -> None:
    # given
    client.force_login(ops_user)
    # when
    response = client.get(URL, query)
    # then
    assert response.status_code == 400
    assert response.json() == {field: [message]}


# --- token authentication ----------------------------------------------------------------------
def test_orders_api_token_auth(client: Client, ops_user: User, orders: dict[str, Order]) -> None:
    # given
    token = Token.objects.create(user=ops_user)
    # when
    response = client.get(URL, headers={"Authorization": f"Token {token.key}"})
    # then
    assert response.status_code == 200
    assert response.json()["count"] == 3


def test_orders_api_bad_token_is_401(client: Client, ops_user: User) -> None:
    # given
    Token.objects.create(user=ops_user)
    # when
    response = client.get(URL, headers={"Authorization": "Token not-a-real-token"})
    # then
    assert response.status_code == 401
    assert response.json() == {"detail": "Invalid token."}


def test_orders_api_token_of_persona_without_permission_is_403(
    client: Client, exec_viewer: User
) -> None:
    # given
    token = Token.objects.create(user=exec_viewer)
    # when
    response = client.get(URL, headers={"Authorization": f"Token {token.key}"})
    # then
    assert response.status_code == 403


def test_orders_api_is_read_only(client: Client, admin_user: User) -> None:
    # given
    client.force_login(admin_user)
    # when
    response = client.post(URL, {"number": "x"}, content_type="application/json")
    # then
    assert response.status_code == 405
    assert response.json() == {"detail": 'Method "POST" not allowed.'}


# --- detail ------------------------------------------------------------------------------------
def test_orders_api_detail_includes_lines(
    client: Client, finance_requester: User, orders: dict[str, Order]
) -> None:
    # given
    client.force_login(finance_requester)
    order = orders["1001"]
    # when
    response = client.get(f"{URL}{order.pk}/")
    # then
    assert response.status_code == 200
    body = response.json()
    assert (body["id"], body["number"], body["state"]) == (order.pk, "1001", "accepted")
    assert [(ln["line_number"], ln["sku_code"], ln["quantity"]) for ln in body["lines"]] == [
        (1, "NW-TEE-001-BLK-M", 2),
        (2, "NW-CAP-002-NAV-OS", 1),
    ]
    assert body["lines"][0]["unit_price_amount"] == "19.9500"


def test_orders_api_detail_unknown_is_404(client: Client, ops_user: User) -> None:
    # given
    client.force_login(ops_user)
    # when
    response = client.get(f"{URL}999999/")
    # then
    assert response.status_code == 404
    assert response.json() == {"detail": "No Order matches the given query."}


# --- query count -------------------------------------------------------------------------------
def test_orders_api_list_query_count_is_constant(
    client: Client,
    ops_user: User,
    orders: dict[str, Order],
    django_assert_max_num_queries: Any,
) -> None:
    # given: more orders, each with lines
    web = Channel.objects.get(code="web")
    for number in range(3001, 3011):
        _place(web, "woocommerce:woo-web", number, "processing", 23)
    client.force_login(ops_user)
    # when
    with django_assert_max_num_queries(7):
        response = client.get(URL)
    # then
    assert response.json()["count"] == 13
