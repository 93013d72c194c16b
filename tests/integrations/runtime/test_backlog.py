"""``/api/v1/backlog/``: what waits, retries, flies and died, per connection and message kind."""

from __future__ import annotations

import types
import uuid
from collections.abc import Iterator
from datetime import datetime, timedelta
from typing import Any

import pytest
import redis
from django.contrib.auth.models import User
from django.test import Client
from django.utils import timezone

from integrations.erp.adapter import SALES_ORDER_CREATE
from integrations.runtime import backlog, breaker
from integrations.runtime.choices import InboundStatus, OutboundStatus
from integrations.runtime.models import Connection, DeliveryAttempt, InboundEvent, OutboundMessage
from tests.factories.integrations import erp_connection, woo_connection

URL = "/api/v1/backlog/"
KIND = SALES_ORDER_CREATE
MAIN = f"erp-main:{KIND}"
BACKUP = f"erp-backup:{KIND}"


@pytest.fixture(autouse=True)
def _fast_password_hashing(settings: Any) -> None:
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]


@pytest.fixture(autouse=True)
def _closed_breakers() -> Iterator[None]:
    for key in (MAIN, BACKUP):
        breaker.reset(key)
    yield
    for key in (MAIN, BACKUP):
        breaker.reset(key)


@pytest.fixture
def now(monkeypatch: pytest.MonkeyPatch) -> datetime:
    """The backlog's clock, frozen, so ages are exact."""
    frozen = timezone.now()
    monkeypatch.setattr(backlog, "timezone", types.SimpleNamespace(now=lambda: frozen))
    return frozen


def _message(
    connection: Connection, status: str, *, age_s: float, attempts: int = 0, now: datetime
) -> OutboundMessage:
    return OutboundMessage.objects.create(
        connection=connection,
        correlation_id=uuid.uuid4(),
        kind=KIND,
        idempotency_key=f"test:{uuid.uuid4().hex}",
        payload={"total": "10.0000"},
        status=status,
        attempts=attempts,
        created_at=now - timedelta(seconds=age_s),
    )


def _attempt(
    message: OutboundMessage, number: int, status_code: int | None, *, ago_s: float, now: datetime
) -> DeliveryAttempt:
    return DeliveryAttempt.objects.create(
        message=message,
        number=number,
        status_code=status_code,
        error="" if status_code and status_code < 400 else "failed",
        started_at=now - timedelta(seconds=ago_s),
    )


def _event(connection: Connection, status: str, *, age_s: float, now: datetime) -> InboundEvent:
    return InboundEvent.objects.create(
        connection=connection,
        topic="order.created",
        dedupe_key=uuid.uuid4().hex,
        status=status,
        received_at=now - timedelta(seconds=age_s),
    )


@pytest.fixture
def rows(db: None, now: datetime) -> None:
    """erp-main: 2 pending, 1 retrying, 1 in flight, 2 dead, 1 delivered; five attempts in the
    last 15 minutes, three failed; erp-backup: only a delivered message; woo-web and woo-outlet
    inbound events."""
    main = erp_connection(base_url="http://127.0.0.1:9")
    backup = erp_connection(base_url="http://127.0.0.1:9", slug="erp-backup")
    _message(main, OutboundStatus.PENDING, age_s=300, now=now)
    _message(main, OutboundStatus.PENDING, age_s=60, now=now)
    retrying = _message(main, OutboundStatus.PENDING, age_s=900, attempts=2, now=now)
    _message(main, OutboundStatus.IN_FLIGHT, age_s=30, attempts=1, now=now)
    dead = _message(main, OutboundStatus.DEAD, age_s=7200, attempts=2, now=now)
    _message(main, OutboundStatus.DEAD, age_s=3600, attempts=1, now=now)
    delivered = _message(main, OutboundStatus.DELIVERED, age_s=10_000, attempts=1, now=now)
    late = _message(main, OutboundStatus.DELIVERED, age_s=10_000, attempts=1, now=now)
    _attempt(retrying, 1, None, ago_s=600, now=now)  # no answer: failed
    _attempt(retrying, 2, 503, ago_s=120, now=now)  # failed
    _attempt(dead, 1, 500, ago_s=16 * 60, now=now)  # outside the window
    _attempt(dead, 2, 422, ago_s=300, now=now)  # failed
    _attempt(delivered, 1, 201, ago_s=60, now=now)  # ok
    _attempt(late, 1, 409, ago_s=30, now=now)  # the ERP already had it: ok
    backup_delivered = _message(backup, OutboundStatus.DELIVERED, age_s=50, attempts=1, now=now)
    _attempt(backup_delivered, 1, 201, ago_s=50, now=now)

    web = woo_connection()
    outlet = woo_connection(slug="woo-outlet")
    _event(web, InboundStatus.PENDING, age_s=45, now=now)
    _event(web, InboundStatus.PENDING, age_s=10, now=now)
    _event(web, InboundStatus.PROCESSING, age_s=100, now=now)
    _event(web, InboundStatus.FAILED, age_s=5000, now=now)
    _event(web, InboundStatus.PROCESSED, age_s=9000, now=now)
    _event(web, InboundStatus.REJECTED, age_s=9000, now=now)
    _event(outlet, InboundStatus.PROCESSED, age_s=20, now=now)


@pytest.mark.usefixtures("rows")
def test_backlog_counts_outbound_per_connection_and_kind(client: Client, ops_user: User) -> None:
    # given: erp-main's breaker opened after a failure, erp-backup's closed
    assert breaker.record_failure(MAIN, failure_threshold=1, cooldown_s=60) == "open"
    client.force_login(ops_user)
    # when
    response = client.get(URL)
    # then
    assert response.status_code == 200
    assert response.json()["outbound"] == [
        {
            "connection": "erp-backup",
            "kind": KIND,
            "pending": 0,
            "retrying": 0,
            "in_flight": 0,
            "dead": 0,
            "oldest_age_s": None,
            "attempts_15m": 1,
            "error_rate_15m": 0.0,
            "circuit": "closed",
        },
        {
            "connection": "erp-main",
            "kind": KIND,
            "pending": 2,
            "retrying": 1,
            "in_flight": 1,
            "dead": 2,
            "oldest_age_s": 900.0,
            "attempts_15m": 5,
            "error_rate_15m": 0.6,
            "circuit": "open",
        },
    ]


@pytest.mark.usefixtures("rows")
def test_backlog_counts_inbound_per_connection(client: Client, ops_user: User) -> None:
    # given
    client.force_login(ops_user)
    # when
    response = client.get(URL)
    # then
    assert response.status_code == 200
    assert response.json()["inbound"] == [
        {
            "connection": "woo-web",
            "pending": 2,
            "processing": 1,
            "failed": 1,
            "oldest_age_s": 100.0,
        }
    ]


@pytest.mark.django_db
def test_backlog_failed_inbound_only_has_no_age(
    client: Client, ops_user: User, now: datetime
) -> None:
    # given
    _event(woo_connection(), InboundStatus.FAILED, age_s=5000, now=now)
    client.force_login(ops_user)
    # when
    response = client.get(URL)
    # then
    assert response.json()["inbound"] == [
        {"connection": "woo-web", "pending": 0, "processing": 0, "failed": 1, "oldest_age_s": None}
    ]


@pytest.mark.django_db
def test_backlog_empty_is_two_empty_lists(client: Client, ops_user: User) -> None:
    # given
    erp_connection(base_url="http://127.0.0.1:9")
    client.force_login(ops_user)
    # when
    response = client.get(URL)
    # then
    assert response.status_code == 200
    assert response.json() == {"outbound": [], "inbound": []}


@pytest.mark.usefixtures("rows")
def test_backlog_circuit_is_unknown_when_redis_is_down(
    client: Client, ops_user: User, monkeypatch: pytest.MonkeyPatch
) -> None:
    # given
    def down(key: str, **_: Any) -> dict[str, Any]:
        raise redis.ConnectionError("Connection refused")

    monkeypatch.setattr(breaker, "state", down)
    client.force_login(ops_user)
    # when
    response = client.get(URL)
    # then
    assert response.status_code == 200
    assert [row["circuit"] for row in response.json()["outbound"]] == ["unknown", "unknown"]


@pytest.mark.usefixtures("rows")
def test_backlog_query_count_is_constant(
    client: Client, ops_user: User, django_assert_max_num_queries: Any
) -> None:
    # given
    client.force_login(ops_user)
    # when: session, user, permissions (2), then one query each for outbox, attempts, inbox
    with django_assert_max_num_queries(7):
        response = client.get(URL)
    # then
    assert response.status_code == 200


@pytest.mark.parametrize("persona", ["ops_user", "finance_requester", "admin_user"])
def test_backlog_allowed_persona_gets_200(
    client: Client, request: pytest.FixtureRequest, persona: str
) -> None:
    # given
    client.force_login(request.getfixturevalue(persona))
    # when
    response = client.get(URL)
    # then
    assert response.status_code == 200
    assert set(response.json()) == {"outbound", "inbound"}


@pytest.mark.parametrize("persona", ["exec_viewer", "outsider"])
def test_backlog_forbidden_persona_is_403(
    client: Client, request: pytest.FixtureRequest, persona: str
) -> None:
    # given
    client.force_login(request.getfixturevalue(persona))
    # when
    response = client.get(URL)
    # then
    assert response.status_code == 403
    assert response.json() == {"detail": "You do not have permission to perform this action."}


@pytest.mark.django_db
def test_backlog_anonymous_is_401(client: Client) -> None:
    # given / when
    response = client.get(URL)
    # then
    assert response.status_code == 401
    assert response.json() == {"detail": "Authentication credentials were not provided."}
