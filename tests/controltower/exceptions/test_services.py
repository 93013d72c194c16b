"""The work queue's write path: one active exception per condition, closed with a reason."""

from __future__ import annotations

from decimal import Decimal

import pytest
from django.db import IntegrityError, transaction

from controltower.core.context import acting_as
from controltower.exceptions.choices import ExceptionState, ExceptionType, Severity
from controltower.exceptions.models import OpsException
from controltower.exceptions.services import (
    close_exceptions,
    close_exceptions_for,
    open_exception,
)

KEY = "outbound:42"


def _open(**overrides: object) -> OpsException:
    fields: dict[str, object] = {
        "type": ExceptionType.DEAD_LETTER,
        "dedupe_key": KEY,
        "title": "ERP sales order dead-lettered",
        "detail": "HTTP 422",
        "severity": Severity.HIGH,
        "money_at_risk": Decimal("44.85"),
        **overrides,
    }
    return open_exception(**fields)  # type: ignore[arg-type]


@pytest.mark.django_db
def test_open_exception_creates_an_open_exception_with_history() -> None:
    # given / when
    with acting_as("system.runtime"):
        exc = _open()
    # then
    assert exc.state == ExceptionState.OPEN
    assert exc.is_active
    assert (exc.type, exc.severity, exc.money_at_risk_amount) == (
        ExceptionType.DEAD_LETTER,
        Severity.HIGH,
        Decimal("44.85"),
    )
    record = exc.history.get()
    assert record.history_user.username == "system.runtime"
    assert record.history_change_reason == "opened: ERP sales order dead-lettered"


@pytest.mark.django_db
def test_open_exception_same_dedupe_key_twice_keeps_one_active() -> None:
    # given
    first = _open()
    # when
    second = _open(detail="HTTP 422 again", money_at_risk=Decimal("50.00"))
    # then
    assert second.pk == first.pk
    assert OpsException.objects.open().filter(dedupe_key=KEY).count() == 1
    assert OpsException.objects.count() == 1
    refreshed = OpsException.objects.get()
    assert refreshed.detail == "HTTP 422 again"
    assert refreshed.money_at_risk_amount == Decimal("50.00")


@pytest.mark.django_db
def test_open_exception_second_active_row_with_same_key_is_refused_by_db() -> None:
    # given
    _open()
    duplicate = OpsException(type=ExceptionType.DEAD_LETTER, dedupe_key=KEY, title="again")
    # when
    with pytest.raises(IntegrityError) as raised, transaction.atomic():
        duplicate.save()
    # then
    assert "exceptions_active_dedupe_uniq" in str(raised.value)


@pytest.mark.django_db
def test_close_exceptions_for_resolves_with_reason() -> None:
    # given
    exc = _open()
    # when
    with acting_as("system.runtime"):
        closed = close_exceptions_for(KEY, reason="delivered")
    # then
    assert closed == 1
    exc.refresh_from_db()
    assert exc.state == ExceptionState.RESOLVED
    assert exc.resolution_reason == "delivered"
    assert exc.closed_at is not None
    assert not exc.is_active
    latest = exc.history.order_by("-history_id").first()
    assert (latest.history_change_reason, latest.history_user.username) == (
        "delivered",
        "system.runtime",
    )


@pytest.mark.django_db
def test_close_exceptions_for_unknown_key_closes_nothing() -> None:
    # given
    _open()
    # when
    closed = close_exceptions_for("outbound:999", reason="delivered")
    # then
    assert closed == 0
    assert OpsException.objects.open().count() == 1


@pytest.mark.django_db
def test_open_exception_after_resolution_opens_a_new_one() -> None:
    # given
    first = _open()
    close_exceptions_for(KEY, reason="delivered")
    # when
    second = _open()
    # then
    assert second.pk != first.pk
    assert OpsException.objects.filter(dedupe_key=KEY).count() == 2
    assert OpsException.objects.open().get() == second


@pytest.mark.django_db
@pytest.mark.parametrize("state", [ExceptionState.RESOLVED, ExceptionState.IGNORED])
def test_exception_closed_without_reason_is_refused_by_db(state: ExceptionState) -> None:
    # given
    exc = _open()
    exc.state = state
    exc.resolution_reason = ""
    # when
    with pytest.raises(IntegrityError) as raised, transaction.atomic():
        exc.save()
    # then
    assert "exceptions_closed_needs_reason" in str(raised.value)
    exc.refresh_from_db()
    assert exc.state == ExceptionState.OPEN


@pytest.mark.django_db
def test_exception_state_must_be_a_known_choice() -> None:
    # given
    exc = _open()
    exc.state = "snoozed"
    # when
    with pytest.raises(IntegrityError) as raised, transaction.atomic():
        exc.save()
    # then
    assert "exceptions_state_valid" in str(raised.value)


@pytest.mark.django_db
def test_close_exceptions_closes_each_with_its_own_reason_in_one_read(
    django_assert_num_queries: object,
) -> None:
    # given: two conditions open, a third left alone
    blocked = _open(dedupe_key="posting:7:blocked", type=ExceptionType.POSTING_FAILURE)
    rejected = _open(dedupe_key="posting:7:rejected", type=ExceptionType.POSTING_FAILURE)
    other = _open(dedupe_key="posting:8:blocked", type=ExceptionType.POSTING_FAILURE)
    # when: one read, then an update and a history row per exception closed
    with django_assert_num_queries(5):  # type: ignore[operator]
        closed = close_exceptions(
            {
                "posting:7:blocked": "the posting could be built",
                "posting:7:rejected": "re-posted",
                "posting:7:never-opened": "nothing",
            }
        )
    # then
    assert closed == 2
    blocked.refresh_from_db()
    rejected.refresh_from_db()
    other.refresh_from_db()
    assert (blocked.state, blocked.resolution_reason) == (
        ExceptionState.RESOLVED,
        "the posting could be built",
    )
    assert (rejected.state, rejected.resolution_reason) == (ExceptionState.RESOLVED, "re-posted")
    assert other.is_active
    assert rejected.history.latest().history_change_reason == "re-posted"
