"""``/api/v1/exceptions/<id>/resolve|ignore|assign/``: people working the queue over the API."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import pytest
from django.contrib.auth.models import User
from django.test import Client
from rest_framework.authtoken.models import Token

from controltower.exceptions.choices import ExceptionState, ExceptionType, Severity
from controltower.exceptions.models import OpsException
from controltower.exceptions.services import open_exception, resolve_exception

URL = "/api/v1/exceptions/"
FORBIDDEN = {"detail": "You do not have permission to perform this action."}
ANONYMOUS = {"detail": "Authentication credentials were not provided."}
ACTIONS = {
    "resolve": {"reason": "fixed the SKU mapping"},
    "ignore": {"reason": "test order, no action needed"},
    "assign": {"owner": "olivia.ops"},
}


@pytest.fixture(autouse=True)
def _fast_password_hashing(settings: Any) -> None:
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]


@pytest.fixture
def exception(db: None) -> OpsException:
    return open_exception(
        type=ExceptionType.DEAD_LETTER,
        dedupe_key="outbound:42",
        title="ERP: create sales order to ERP dead-lettered",
        detail="HTTP 422",
        severity=Severity.HIGH,
        money_at_risk=Decimal("44.85"),
    )


def _post(client: Client, exception: OpsException, action: str, data: Any) -> Any:
    return client.post(f"{URL}{exception.pk}/{action}/", data, content_type="application/json")


# --- resolve / ignore ----------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("action", "state"),
    [("resolve", ExceptionState.RESOLVED), ("ignore", ExceptionState.IGNORED)],
)
def test_exception_close_action_records_state_reason_and_history(
    client: Client, ops_user: User, exception: OpsException, action: str, state: str
) -> None:
    # given
    client.force_login(ops_user)
    # when
    response = _post(client, exception, action, {"reason": "  fixed the SKU mapping  "})
    # then
    assert response.status_code == 200, response.content
    body = response.json()
    assert (body["id"], body["state"], body["resolution_reason"]) == (
        exception.pk,
        state,
        "fixed the SKU mapping",
    )
    assert body["closed_at"] is not None
    exception.refresh_from_db()
    assert (exception.state, exception.resolution_reason) == (state, "fixed the SKU mapping")
    assert exception.closed_at is not None
    record = exception.history.order_by("-history_id").first()
    assert record.state == state
    assert record.history_user == ops_user
    assert record.history_change_reason == f"{state}: fixed the SKU mapping"


@pytest.mark.parametrize("action", ["resolve", "ignore"])
@pytest.mark.parametrize(
    ("data", "message"),
    [
        ({}, "This field is required."),
        ({"reason": ""}, "This field may not be blank."),
        ({"reason": "   "}, "This field may not be blank."),
    ],
    ids=["missing", "empty", "whitespace"],
)
def test_exception_close_action_without_reason_is_400_naming_reason(
    client: Client,
    ops_user: User,
    exception: OpsException,
    action: str,
    data: dict[str, str],
    message: str,
) -> None:
    # given
    client.force_login(ops_user)
    # when
    response = _post(client, exception, action, data)
    # then
    assert response.status_code == 400
    assert response.json() == {"reason": [message]}
    exception.refresh_from_db()
    assert exception.state == ExceptionState.OPEN
    assert exception.history.count() == 1


@pytest.mark.parametrize("action", ["resolve", "ignore", "assign"])
def test_exception_action_on_closed_exception_is_409_with_detail(
    client: Client, ops_user: User, exception: OpsException, action: str
) -> None:
    # given
    resolve_exception(exception, reason="order moved on")
    client.force_login(ops_user)
    # when
    response = _post(client, exception, action, ACTIONS[action])
    # then
    assert response.status_code == 409
    assert response.json() == {"detail": f"exception {exception.pk} is already resolved"}
    exception.refresh_from_db()
    assert (exception.state, exception.resolution_reason) == ("resolved", "order moved on")
    assert exception.owner is None


def test_exception_resolve_by_token_names_the_person_in_history(
    client: Client, admin_user: User, exception: OpsException
) -> None:
    # given
    token = Token.objects.create(user=admin_user)
    # when
    response = client.post(
        f"{URL}{exception.pk}/resolve/",
        {"reason": "ERP fixed"},
        content_type="application/json",
        headers={"Authorization": f"Token {token.key}"},
    )
    # then
    assert response.status_code == 200, response.content
    record = exception.history.order_by("-history_id").first()
    assert record.history_user == admin_user
    assert record.history_change_reason == "resolved: ERP fixed"


# --- assign --------------------------------------------------------------------------------------
def test_exception_assign_to_username_sets_owner_and_state(
    client: Client, ops_user: User, admin_user: User, exception: OpsException
) -> None:
    # given
    client.force_login(admin_user)
    # when
    response = _post(client, exception, "assign", {"owner": "olivia.ops"})
    # then
    assert response.status_code == 200, response.content
    assert (response.json()["state"], response.json()["owner"]) == ("assigned", "olivia.ops")
    exception.refresh_from_db()
    assert (exception.state, exception.owner) == (ExceptionState.ASSIGNED, ops_user)
    record = exception.history.order_by("-history_id").first()
    assert record.history_user == admin_user
    assert record.history_change_reason == "assigned to olivia.ops"


def test_exception_assign_null_unassigns_back_to_open(
    client: Client, ops_user: User, exception: OpsException
) -> None:
    # given
    client.force_login(ops_user)
    assert _post(client, exception, "assign", {"owner": "olivia.ops"}).status_code == 200
    # when
    response = _post(client, exception, "assign", {"owner": None})
    # then
    assert response.status_code == 200, response.content
    assert (response.json()["state"], response.json()["owner"]) == ("open", None)
    exception.refresh_from_db()
    assert (exception.state, exception.owner) == (ExceptionState.OPEN, None)
    record = exception.history.order_by("-history_id").first()
    assert (record.history_user, record.history_change_reason) == (ops_user, "unassigned")


@pytest.mark.parametrize(
    ("data", "message"),
    [
        ({"owner": "nobody.here"}, "no user named 'nobody.here'"),
        ({}, "This field is required."),
    ],
    ids=["unknown", "missing"],
)
def test_exception_assign_bad_owner_is_400_naming_owner(
    client: Client, ops_user: User, exception: OpsException, data: dict[str, str], message: str
) -> None:
    # given
    client.force_login(ops_user)
    # when
    response = _post(client, exception, "assign", data)
    # then
    assert response.status_code == 400
    assert response.json() == {"owner": [message]}
    exception.refresh_from_db()
    assert (exception.state, exception.owner) == (ExceptionState.OPEN, None)


# --- who may act ---------------------------------------------------------------------------------
@pytest.mark.parametrize("action", ["resolve", "ignore", "assign"])
@pytest.mark.parametrize("persona", ["ops_user", "admin_user"])
def test_exception_action_allowed_for_ops_and_admin(
    client: Client,
    request: pytest.FixtureRequest,
    ops_user: User,
    exception: OpsException,
    persona: str,
    action: str,
) -> None:
    # given
    client.force_login(request.getfixturevalue(persona))
    # when
    response = _post(client, exception, action, ACTIONS[action])
    # then
    assert response.status_code == 200, response.content
    exception.refresh_from_db()
    assert (
        exception.state
        == {
            "resolve": ExceptionState.RESOLVED,
            "ignore": ExceptionState.IGNORED,
            "assign": ExceptionState.ASSIGNED,
        }[action]
    )


@pytest.mark.parametrize("action", ["resolve", "ignore", "assign"])
@pytest.mark.parametrize("persona", ["finance_requester", "exec_viewer", "outsider"])
def test_exception_action_forbidden_persona_is_403(
    client: Client,
    request: pytest.FixtureRequest,
    ops_user: User,
    exception: OpsException,
    persona: str,
    action: str,
) -> None:
    # given
    client.force_login(request.getfixturevalue(persona))
    # when
    response = _post(client, exception, action, ACTIONS[action])
    # then
    assert response.status_code == 403
    assert response.json() == FORBIDDEN
    exception.refresh_from_db()
    assert (exception.state, exception.owner) == (ExceptionState.OPEN, None)
    assert exception.history.count() == 1


@pytest.mark.parametrize("action", ["resolve", "ignore", "assign"])
def test_exception_action_anonymous_is_401(
    client: Client, ops_user: User, exception: OpsException, action: str
) -> None:
    # given / when
    response = _post(client, exception, action, ACTIONS[action])
    # then
    assert response.status_code == 401
    assert response.json() == ANONYMOUS
    exception.refresh_from_db()
    assert exception.state == ExceptionState.OPEN


def test_exception_action_on_unknown_exception_is_404(client: Client, ops_user: User) -> None:
    # given
    client.force_login(ops_user)
    # when
    response = client.post(
        f"{URL}999999/resolve/", {"reason": "x"}, content_type="application/json"
    )
    # then
    assert response.status_code == 404
    assert response.json() == {"detail": "No OpsException matches the given query."}
