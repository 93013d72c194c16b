"""Who may open what: every page and API URL × every persona (and anonymous), from one table.
Plus logging in and out, and the orders page's filter form, HTMX partial and query count."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

import pytest
from django.contrib.auth.models import User
from django.test import Client
from django.urls import URLPattern, URLResolver, get_resolver, resolve

from controltower.accounts.roles import ROLES, roles_of
from controltower.core.context import acting_as
from controltower.exceptions.choices import ExceptionType
from controltower.exceptions.services import open_exception
from controltower.orders.models import Order
from controltower.orders.services import upsert_channel_order
from controltower.returns.models import Refund
from integrations.runtime.models import InboundEvent, MessageAction, OutboundMessage
from integrations.woocommerce.translate import translate_order
from tests.conftest import PERSONAS
from tests.factories.integrations import web_channel, woo_connection
from tests.factories.woocommerce import woo_order

ANONYMOUS = "anonymous"
OPS, FIN, EXE, ADM, OUT = PERSONAS  # ops_user, finance_requester, exec_viewer, admin_user, outsider

LOGIN = "/accounts/login/?next="
ADMIN_LOGIN = "/admin/login/?next="

# expected answer: a status code, or (302, where the redirect goes)
Expected = int | tuple[int, str]


def _page(anonymous: Expected, allowed: set[str], *, denied: int = 403) -> dict[str, Expected]:
    return {ANONYMOUS: anonymous, **{p: 200 if p in allowed else denied for p in PERSONAS}}


def _login_page(path: str, allowed: set[str]) -> dict[str, Expected]:
    return _page((302, LOGIN + path), allowed)


def _admin_page(path: str) -> dict[str, Expected]:
    to_login = (302, ADMIN_LOGIN + path)
    return {ANONYMOUS: to_login, **{p: 200 if p == ADM else to_login for p in PERSONAS}}


_VIEWERS = {OPS, FIN, ADM}

# Path templates are filled from the ``ids`` fixture: {order}, {exception}, {event}, {message},
# {action}, {refund}, {correlation}.
ROUTES: dict[str, tuple[str, dict[str, Expected]]] = {
    "home": (
        "/",
        {
            ANONYMOUS: (302, LOGIN + "/"),
            OPS: (302, "/orders/"),
            FIN: (302, "/finance/journal/"),
            EXE: (302, "/kpis/"),
            ADM: (302, "/orders/"),
            OUT: 200,
        },
    ),
    "kpis": ("/kpis/", _login_page("/kpis/", {EXE, ADM})),
    "journal_list": ("/finance/journal/", _login_page("/finance/journal/", {FIN, ADM})),
    "finance_queue": ("/finance/queue/", _login_page("/finance/queue/", {FIN, ADM})),
    "order_list": ("/orders/", _login_page("/orders/", _VIEWERS)),
    "order_detail": ("/orders/{order}/", _login_page("/orders/{order}/", _VIEWERS)),
    "exception_list": ("/exceptions/", _login_page("/exceptions/", _VIEWERS)),
    "exception_detail": (
        "/exceptions/{exception}/",
        _login_page("/exceptions/{exception}/", _VIEWERS),
    ),
    "message_detail": (
        "/integrations/messages/{message}/",
        _login_page("/integrations/messages/{message}/", _VIEWERS),
    ),
    "event_detail": (
        "/integrations/events/{event}/",
        _login_page("/integrations/events/{event}/", _VIEWERS),
    ),
    "stock_list": ("/stock/", _login_page("/stock/", {OPS, ADM})),
    "api_orders": ("/api/v1/orders/", _page(401, _VIEWERS)),
    "api_order": ("/api/v1/orders/{order}/", _page(401, _VIEWERS)),
    "api_exceptions": ("/api/v1/exceptions/", _page(401, _VIEWERS)),
    "api_exception": ("/api/v1/exceptions/{exception}/", _page(401, _VIEWERS)),
    "api_inbound_events": ("/api/v1/inbound-events/", _page(401, _VIEWERS)),
    "api_inbound_event": ("/api/v1/inbound-events/{event}/", _page(401, _VIEWERS)),
    "api_outbound_messages": ("/api/v1/outbound-messages/", _page(401, _VIEWERS)),
    "api_outbound_message": ("/api/v1/outbound-messages/{message}/", _page(401, _VIEWERS)),
    "api_message_actions": ("/api/v1/message-actions/", _page(401, {OPS, ADM})),
    "api_price_pushes": ("/api/v1/price-pushes/", _page(401, {OPS, ADM})),
    "api_refunds": ("/api/v1/refunds/", _page(401, _VIEWERS)),
    "api_refund": ("/api/v1/refunds/{refund}/", _page(401, _VIEWERS)),
    "api_message_action": ("/api/v1/message-actions/{action}/", _page(401, {OPS, ADM})),
    "api_backlog": ("/api/v1/backlog/", _page(401, _VIEWERS)),
    "api_trace": ("/api/v1/traces/{correlation}/", _page(401, _VIEWERS)),
    "api_schema": ("/api/schema/", _page(401, set(PERSONAS))),
    "api_docs": ("/api/docs/", _page(401, set(PERSONAS))),
    "mapping_list": ("/mappings/", _login_page("/mappings/", {ADM})),
    "mapping_add": ("/mappings/status/new/", _login_page("/mappings/status/new/", {ADM})),
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

MAPPINGS = "a row's page or POST: tests/controltower/dashboards/test_mappings_page.py"
MESSAGE_ACTIONS = "POST action: tests/integrations/runtime/actions/test_exceptions_and_access.py"

# URL names the matrix does not GET, each with where its access is tested instead. Everything
# else the URL conf serves must be a row of ROUTES (the admin counts as one: its own gate).
NOT_IN_MATRIX: dict[str, str] = {
    "accounts:login": "public: the login tests below",
    "accounts:logout": "POST only: the logout tests below",
    "orders:order_cancel": "POST action: tests/controltower/orders/test_cancel_action.py",
    "fulfilment:cancel_backorders": "POST action: tests/controltower/fulfilment/",
    "exceptions:exception_assign": "POST action: tests/controltower/exceptions/test_views.py",
    "exceptions:exception_resolve": "POST action: tests/controltower/exceptions/test_views.py",
    "exceptions:exception_ignore": "POST action: tests/controltower/exceptions/test_views.py",
    "integrations:message_retry": "POST action: tests/controltower/exceptions/test_views.py",
    "integrations:message_replay": "POST action: tests/controltower/exceptions/test_views.py",
    "integrations:event_retry": "POST action: tests/controltower/exceptions/test_views.py",
    "integrations:event_replay": "POST action: tests/controltower/exceptions/test_views.py",
    "exception-assign": "POST action: tests/controltower/exceptions/test_api_actions.py",
    "exception-resolve": "POST action: tests/controltower/exceptions/test_api_actions.py",
    "exception-ignore": "POST action: tests/controltower/exceptions/test_api_actions.py",
    "exception-retry": MESSAGE_ACTIONS,
    "exception-replay": MESSAGE_ACTIONS,
    "inboundevent-retry": MESSAGE_ACTIONS,
    "inboundevent-replay": MESSAGE_ACTIONS,
    "outboundmessage-retry": MESSAGE_ACTIONS,
    "outboundmessage-replay": MESSAGE_ACTIONS,
    "mappings:mapping_edit": MAPPINGS,
    "mappings:mapping_preview": MAPPINGS,
    "mappings:mapping_preview_new": MAPPINGS,
    "mappings:mapping_delete": MAPPINGS,
    "finance:journal_detail": "an entry's page: tests/controltower/finance/test_journal_page.py",
    "finance:posting_retry": "POST action: tests/controltower/finance/test_finance_queue.py",
    "inventory:stock_detail": "a SKU's page: tests/controltower/inventory/test_pages.py",
    "availability": "a read with parameters: tests/controltower/inventory/test_pages.py",
    "pricing:price_push": "POST action: tests/integrations/woocommerce/test_price_push.py",
    "price-push-detail": "a push's record: tests/integrations/woocommerce/test_price_push.py",
    "webhooks:receive": "a system, not a person: signed; tests/integrations/<kind>/test_receive*",
}

SAMPLE_IDS = {
    "order": 1,
    "exception": 1,
    "event": 1,
    "message": 1,
    "action": 1,
    "refund": 1,
    "correlation": "00000000-0000-0000-0000-000000000001",
}

MATRIX = [
    pytest.param(route, persona, id=f"{route}-{persona}")
    for route in ROUTES
    for persona in (*PERSONAS, ANONYMOUS)
]


def _served_url_names(patterns: list[Any] | None = None, namespace: str = "") -> set[str]:
    """Every URL name the real URL conf serves (the admin's whole include counts as "admin")."""
    names: set[str] = set()
    for pattern in get_resolver().url_patterns if patterns is None else patterns:
        if isinstance(pattern, URLResolver):
            if pattern.namespace == "admin":
                names.add("admin")
                continue
            inner = ":".join(filter(None, (namespace, pattern.namespace)))
            names |= _served_url_names(pattern.url_patterns, inner)
        elif isinstance(pattern, URLPattern) and pattern.name:
            names.add(f"{namespace}:{pattern.name}" if namespace else pattern.name)
    return names


def _matrix_url_name(template: str) -> str:
    name = resolve(template.format(**SAMPLE_IDS)).view_name
    return "admin" if name.startswith("admin:") else name


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


@pytest.fixture
def ids(order: Order) -> dict[str, Any]:
    """One row of each kind the pages show, so detail pages answer 200 to who may see them."""
    connection = woo_connection()
    event = InboundEvent.objects.create(
        connection=connection, topic="order.updated", dedupe_key="access:1", body="{}"
    )
    message = OutboundMessage.objects.create(
        connection=connection,
        correlation_id=order.correlation_id,
        kind="erp.sales_order.create",
        idempotency_key="access:1",
        payload={},
    )
    action = MessageAction.objects.create(
        action="retry",
        direction="outbound",
        original_id=message.pk,
        result_id=message.pk,
        reason="x",
    )
    exception = open_exception(type=ExceptionType.STUCK_ORDER, dedupe_key="access:1", title="Stuck")
    refund = Refund.objects.create(
        order=order,
        correlation_id=order.correlation_id,
        source_system=order.source_system,
        external_id="access-1",
        currency=order.currency,
        amount=Decimal("5.00"),
    )
    return {
        "refund": refund.pk,
        "order": order.pk,
        "exception": exception.pk,
        "event": event.pk,
        "message": message.pk,
        "action": action.pk,
        "correlation": order.correlation_id,
    }


# --- the role matrix ---------------------------------------------------------------------------
@pytest.mark.parametrize(("route", "persona"), MATRIX)
def test_access_matrix(
    client: Client, request: pytest.FixtureRequest, ids: dict[str, Any], route: str, persona: str
) -> None:
    # given
    template, answers = ROUTES[route]
    url = template.format(**ids)
    expected = answers[persona]
    if persona != ANONYMOUS:
        client.force_login(request.getfixturevalue(persona))
    # when
    response = client.get(url)
    # then
    if isinstance(expected, tuple):
        status, location = expected
        assert (response.status_code, response["Location"]) == (status, location.format(**ids))
    else:
        assert response.status_code == expected, response.content[:300]


def test_access_matrix_covers_every_page_the_url_conf_serves() -> None:
    # given: what the real URL conf serves
    served = _served_url_names()
    # when
    in_matrix = {_matrix_url_name(template) for template, _ in ROUTES.values()}
    # then: every page is a row (or has a reason not to be), and no reason is stale
    assert served - in_matrix - set(NOT_IN_MATRIX) == set()
    assert set(NOT_IN_MATRIX) - served == set()
    assert set(NOT_IN_MATRIX) & in_matrix == set()


@pytest.mark.django_db
def test_access_matrix_covers_every_persona(request: pytest.FixtureRequest) -> None:
    # given: the roles the product defines, and the roles the matrix's personas hold
    held = {p: roles_of(request.getfixturevalue(p)) for p in PERSONAS}
    # when
    missing = {
        route: {*PERSONAS, ANONYMOUS} - set(answers) for route, (_, answers) in ROUTES.items()
    }
    # then: one persona per role, one with no role, anonymous; each answered on every row
    assert sorted(role for roles in held.values() for role in roles) == sorted(ROLES)
    assert [p for p, roles in held.items() if not roles] == [OUT]
    assert {route: m for route, m in missing.items() if m} == {}


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
