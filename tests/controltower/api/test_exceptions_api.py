"""``/api/v1/exceptions/``: the work queue over the API."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import pytest
from django.contrib.auth.models import User
from django.test import Client
from rest_framework.authtoken.models import Token

from controltower.exceptions.choices import ExceptionType, Severity
from controltower.exceptions.models import OpsException
from controltower.exceptions.services import close_exceptions_for, open_exception

URL = "/api/v1/exceptions/"


@pytest.fixture(autouse=True)
def _fast_password_hashing(settings: Any) -> None:
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]


def _open(key: str, type: ExceptionType, severity: Severity) -> OpsException:
    return open_exception(
        type=type,
        dedupe_key=key,
        title=f"{type.label}: {key}",
        severity=severity,
        money_at_risk=Decimal("10.00"),
    )


@pytest.fixture
def exceptions(db: None) -> dict[str, OpsException]:
    """Three exceptions; ``stuck`` is resolved, the others are open."""
    found = {
        "dead": _open("outbound:1", ExceptionType.DEAD_LETTER, Severity.HIGH),
        "stuck": _open("stuck:1", ExceptionType.STUCK_ORDER, Severity.MEDIUM),
        "drift": _open("drift:1", ExceptionType.INVENTORY_DRIFT, Severity.LOW),
    }
    close_exceptions_for("stuck:1", reason="order moved on")
    return found


def _keys(response: Any, exceptions: dict[str, OpsException]) -> set[str]:
    by_pk = {exc.pk: name for name, exc in exceptions.items()}
    return {by_pk[row["id"]] for row in response.json()["results"]}


@pytest.mark.django_db
def test_exceptions_api_anonymous_is_401(client: Client) -> None:
    # given / when
    response = client.get(URL)
    # then
    assert response.status_code == 401
    assert response.json() == {"detail": "Authentication credentials were not provided."}


@pytest.mark.parametrize("persona", ["exec_viewer", "outsider"])
def test_exceptions_api_without_view_permission_is_403(
    client: Client, request: pytest.FixtureRequest, persona: str
) -> None:
    # given
    client.force_login(request.getfixturevalue(persona))
    # when
    response = client.get(URL)
    # then
    assert response.status_code == 403
    assert response.json() == {"detail": "You do not have permission to perform this action."}


@pytest.mark.parametrize("persona", ["ops_user", "finance_requester", "admin_user"])
def test_exceptions_api_allowed_persona_gets_the_queue(
    client: Client,
    request: pytest.FixtureRequest,
    persona: str,
    exceptions: dict[str, OpsException],
) -> None:
    # given
    client.force_login(request.getfixturevalue(persona))
    # when
    response = client.get(URL)
    # then
    assert response.status_code == 200
    body = response.json()
    assert body["count"] == 3
    assert [row["id"] for row in body["results"]] == [
        exceptions[name].pk for name in ("drift", "stuck", "dead")
    ]  # newest first


def test_exceptions_api_row_shows_resolution(
    client: Client, ops_user: User, exceptions: dict[str, OpsException]
) -> None:
    # given
    client.force_login(ops_user)
    # when
    response = client.get(f"{URL}{exceptions['stuck'].pk}/")
    # then
    assert response.status_code == 200
    body = response.json()
    assert (body["state"], body["resolution_reason"]) == ("resolved", "order moved on")
    assert body["closed_at"] is not None
    assert body["money_at_risk_amount"] == "10.0000"
    assert body["title"] == "Stuck order: stuck:1"


@pytest.mark.parametrize(
    ("query", "expected"),
    [
        ({"state": "open"}, {"dead", "drift"}),
        ({"state": "resolved"}, {"stuck"}),
        ({"type": "dead_letter"}, {"dead"}),
        ({"type": ["dead_letter", "stuck_order"]}, {"dead", "stuck"}),
        ({"severity": "low"}, {"drift"}),
        ({"state": "open", "severity": "high"}, {"dead"}),
    ],
    ids=["state-open", "state-resolved", "type", "two-types", "severity", "state+severity"],
)
def test_exceptions_api_filter_narrows_results(
    client: Client,
    ops_user: User,
    exceptions: dict[str, OpsException],
    query: dict[str, Any],
    expected: set[str],
) -> None:
    # given
    client.force_login(ops_user)
    # when
    response = client.get(URL, query)
    # then
    assert response.status_code == 200
    assert _keys(response, exceptions) == expected


@pytest.mark.parametrize(
    ("query", "field", "message"),
    [
        (
            {"state": "snoozed"},
            "state",
            "Select a valid choice. snoozed is not one of the available choices.",
        ),
        (
            {"type": "gremlins"},
            "type",
            "Select a valid choice. gremlins is not one of the available choices.",
        ),
        (
            {"severity": "apocalyptic"},
            "severity",
            "Select a valid choice. apocalyptic is not one of the available choices.",
        ),
    ],
    ids=["state", "type", "severity"],
)
def test_exceptions_api_invalid_filter_is_400_naming_the_field(
    client: Client, ops_user: User, query: dict[str, str], field: str, message: str
) -> None:
    # given
    client.force_login(ops_user)
    # when
    response = client.get(URL, query)
    # then
    assert response.status_code == 400
    assert response.json() == {field: [message]}


def test_exceptions_api_token_auth(
    client: Client, finance_requester: User, exceptions: dict[str, OpsException]
) -> None:
    # given
    token = Token.objects.create(user=finance_requester)
    # when
    response = client.get(URL, {"state": "open"}, headers={"Authorization": f"Token {token.key}"})
    # then
    assert response.status_code == 200
    assert response.json()["count"] == 2


def test_exceptions_api_list_query_count_is_constant(
    client: Client, ops_user: User, django_assert_max_num_queries: Any
) -> None:
    # given
    for n in range(20):
        _open(f"outbound:{n}", ExceptionType.DEAD_LETTER, Severity.HIGH)
    client.force_login(ops_user)
    # when
    with django_assert_max_num_queries(6):
        response = client.get(URL)
    # then
    assert response.json()["count"] == 20
