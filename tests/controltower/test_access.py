"""Who may open what: every page and API URL × every persona (and anonymous), from one table.
Plus logging in and out, and the orders page's filter form, HTMX partial and query count."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest
from django.contrib.auth.models import User
from django.test import Client

from controltower.core.context import acting_as
from controltower.orders.models import Order
from controltower.orders.services import upsert_channel_order
from integrations.woocommerce.translate import translate_order
from tests.conftest import PERSONAS
from tests.factories.integrations import web_channel
from tests.factories.woocommerce import woo_order

ANONYMOUS = "anonymous"
OPS, FIN, EXE, ADM, OUT = PERSONAS  # ops_user, finance_requester, exec_viewer, admin_user, outsider

LOGIN = "/accounts/login/?next="
ADMIN_LOGIN = "/admin/login/?next="

# expected answer: a status code, or (302, where the redirect goes)
Expected = int | tuple[int, str]


def _page(anonymous: Expected, allowed: set[str], *, denied: int = 403) -> dict[str, Expected]:
    return {ANONYMOUS: anonymous, **{p: 200 if p in allowed else denied for p in PERSONAS}}


def _admin_page(path: str) -> dict[str, Expected]:
    to_login = (302, ADMIN_LOGIN + path)
    return {ANONYMOUS: to_login, **{p: 200 if p == ADM else to_login for p in PERSONAS}}


_VIEWERS = {OPS, FIN, ADM}

ROUTES: dict[str, tuple[str, dict[str, Expected]]] = {
    "home": (
        "/",
        {
            ANONYMOUS: (302, LOGIN + "/"),
            OPS: (302, "/orders/"),
            FIN: (302, "/orders/"),
            EXE: 200,
            ADM: (302, "/orders/"),
            OUT: 200,
        },
    ),
    "order_list": ("/orders/", _page((302, LOGIN + "/orders/"), _VIEWERS)),
    "order_detail": ("/orders/{order}/", _page((302, LOGIN + "/orders/{order}/"), _VIEWERS)),
    "api_orders": ("/api/v1/orders/", _page(401, _VIEWERS)),
    "api_order": ("/api/v1/orders/{order}/", _page(401, _VIEWERS)),
    "api_exceptions": ("/api/v1/exceptions/", _page(401, _VIEWERS)),
    "api_schema": ("/api/schema/", _page(401, set(PERSONAS))),
    "api_docs": ("/api/docs/", _page(401, set(PERSONAS))),
    "admin": ("/admin/", _admin_page("/admin/")),
    "admin_orders": ("/admin/orders/order/", _admin_page("/admin/orders/order/")),
    "admin_order": (
        "/admin/orders/order/{order}/change/",
        _admin_page("/admin/orders/order/{order}/change/"),
    ),
    "admin_order_history": (
        "/admin/orders/order/{order}/history/",
        _admin_page("/admin/orders/order/{order}/history/"),
    ),
    "admin_exceptions": (
        "/admin/exceptions/opsexception/",
        _admin_page("/admin/exceptions/opsexception/"),
    ),
}

MATRIX = [
    pytest.param(route, persona, id=f"{route}-{persona}")
    for route in ROUTES
    for persona in (*PERSONAS, ANONYMOUS)
]


@pytest.fixture(autouse=True)
def _fast_password_hashing(settings: Any) -> None:
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]


def _place(number: int = 1001, status: str = "processing") -> Order:
    data = translate_order(
        woo_order(number, status=status, modified=datetime(2026, 11, 22, 10, tzinfo=UTC)),
        source_system="woocommerce:woo-web",
    )
    with acting_as("sync.woocommerce"):
        return upsert_channel_order(web_channel(), data).order


@pytest.fixture
def order(db: None) -> Order:
    return _place()


# --- the role matrix ---------------------------------------------------------------------------
@pytest.mark.parametrize(("route", "persona"), MATRIX)
def test_access_matrix(
    client: Client, request: pytest.FixtureRequest, order: Order, route: str, persona: str
) -> None:
    # given
    template, answers = ROUTES[route]
    url = template.format(order=order.pk)
    expected = answers[persona]
    if persona != ANONYMOUS:
        client.force_login(request.getfixturevalue(persona))
    # when
    response = client.get(url)
    # then
    if isinstance(expected, tuple):
        status, location = expected
        assert (response.status_code, response["Location"]) == (
            status,
            location.format(order=order.pk),
        )
    else:
        assert response.status_code == expected, response.content[:300]


def test_access_matrix_covers_every_persona() -> None:
    # given / when
    missing = {
        route: {*PERSONAS, ANONYMOUS} - set(answers) for route, (_, answers) in ROUTES.items()
    }
    # then
    assert all(not m for m in missing.values()), missing


def test_order_detail_page_shows_the_order_to_ops(
    client: Client, ops_user: User, order: Order
) -> None:
    # given
    client.force_login(ops_user)
    # when
    response = client.get(f"/orders/{order.pk}/")
    # then
    assert response.status_code == 200
    html = response.content.decode()
    assert "1001" in html
    assert "NW-TEE-001-BLK-M" in html


def test_order_list_forbidden_persona_gets_403(client: Client, exec_viewer: User) -> None:
    # given
    client.force_login(exec_viewer)
    # when
    response = client.get("/orders/")
    # then
    assert response.status_code == 403
    assert b"NW-TEE" not in response.content


def test_admin_order_history_lists_the_sync_user(
    client: Client, admin_user: User, order: Order
) -> None:
    # given
    client.force_login(admin_user)
    # when
    response = client.get(f"/admin/orders/order/{order.pk}/history/")
    # then
    assert response.status_code == 200
    html = response.content.decode()
    assert "sync.woocommerce" in html
    assert "received from woocommerce:woo-web" in html


def test_admin_login_page_tells_non_admin_they_are_not_authorized(
    client: Client, ops_user: User
) -> None:
    # given
    client.force_login(ops_user)
    # when
    response = client.get("/admin/", follow=True)
    # then
    assert response.status_code == 200
    assert "You are authenticated as olivia.ops" in response.content.decode()


# --- login / logout ----------------------------------------------------------------------------
def test_login_with_right_password_lands_on_role_home(client: Client, ops_user: User) -> None:
    # given
    credentials = {"username": "olivia.ops", "password": "pw-olivia.ops"}
    # when
    response = client.post("/accounts/login/", credentials, follow=True)
    # then
    assert response.redirect_chain == [("/", 302), ("/orders/", 302)]
    assert response.status_code == 200
    assert response.wsgi_request.user == ops_user


def test_login_with_wrong_password_is_refused(client: Client, ops_user: User) -> None:
    # given
    credentials = {"username": "olivia.ops", "password": "not-it"}
    # when
    response = client.post("/accounts/login/", credentials)
    # then
    assert response.status_code == 200
    assert "Your username and password didn't match" in response.content.decode()
    assert client.get("/orders/").status_code == 302


def test_login_service_user_cannot_log_in(client: Client, db: None) -> None:
    # given: service users are inactive and have no usable password
    with acting_as("sync.woocommerce") as service:
        assert service is not None and not service.is_active
    # when
    response = client.post("/accounts/login/", {"username": "sync.woocommerce", "password": ""})
    # then
    assert response.status_code == 200
    assert "_auth_user_id" not in client.session


def test_logout_by_post_ends_the_session(client: Client, ops_user: User) -> None:
    # given
    client.force_login(ops_user)
    # when
    response = client.post("/accounts/logout/")
    # then
    assert (response.status_code, response["Location"]) == (302, "/accounts/login/")
    assert client.get("/orders/")["Location"] == LOGIN + "/orders/"


def test_logout_by_get_is_not_allowed(client: Client, ops_user: User) -> None:
    # given
    client.force_login(ops_user)
    # when
    response = client.get("/accounts/logout/")
    # then
    assert response.status_code == 405
    assert client.get("/orders/").status_code == 200


# --- the orders page filter form, HTMX partial and query count ---------------------------------
def test_order_list_unknown_state_is_400_with_the_error(client: Client, ops_user: User) -> None:
    # given
    client.force_login(ops_user)
    # when
    response = client.get("/orders/", {"state": "bogus"})
    # then
    assert response.status_code == 400
    html = response.content.decode()
    assert "Select a valid choice. bogus is not one of the available choices." in html
    assert "<html" in html  # a full page, with the form to correct


def test_order_list_unknown_channel_is_400_with_the_error(client: Client, ops_user: User) -> None:
    # given
    client.force_login(ops_user)
    # when
    response = client.get("/orders/", {"channel": "nope"})
    # then
    assert response.status_code == 400
    assert "No channel with code “nope”." in response.content.decode()


def test_order_list_filters_by_state(client: Client, ops_user: User, order: Order) -> None:
    # given
    _place(1002, status="cancelled")
    client.force_login(ops_user)
    # when
    response = client.get("/orders/", {"state": "cancelled"})
    # then
    assert response.status_code == 200
    html = response.content.decode()
    assert "1 order" in html
    assert f'id="order-{order.pk}"' not in html


def test_order_list_htmx_request_gets_only_the_table(
    client: Client, ops_user: User, order: Order
) -> None:
    # given
    client.force_login(ops_user)
    # when
    response = client.get("/orders/", headers={"HX-Request": "true"})
    # then
    assert response.status_code == 200
    html = response.content.decode().strip()
    assert html.startswith('<div id="orders-table"')
    assert "<html" not in html
    assert f'id="order-{order.pk}"' in html
    assert "HX-Request" in response["Vary"]


def test_order_list_htmx_invalid_filter_gets_the_table_with_errors(
    client: Client, ops_user: User
) -> None:
    # given
    client.force_login(ops_user)
    # when
    response = client.get("/orders/", {"state": "bogus"}, headers={"HX-Request": "true"})
    # then
    assert response.status_code == 400
    html = response.content.decode()
    assert "<html" not in html
    assert "bogus is not one of the available choices" in html


def test_order_list_query_count_is_constant(
    client: Client, ops_user: User, django_assert_max_num_queries: Any
) -> None:
    # given
    for number in range(2001, 2021):
        _place(number)
    client.force_login(ops_user)
    # when
    with django_assert_max_num_queries(7):
        response = client.get("/orders/")
    # then
    assert response.status_code == 200
    assert "20 orders" in response.content.decode()
