"""Finance's work queue: posting exceptions (blocked and rejected) are finance's to
acknowledge, resolve with a note and retry after fixing a mapping; ops-only exceptions stay
read-only for finance (403, told why)."""

from __future__ import annotations

from decimal import Decimal

import pytest
from django.contrib.auth.models import User
from django.test import Client
from django.utils import timezone

from controltower.core.writepath import service_scope
from controltower.exceptions.choices import ExceptionState, ExceptionType
from controltower.exceptions.models import OpsException
from controltower.exceptions.services import open_exception
from controltower.finance.models import GLAccount, GLMapping
from controltower.orders.choices import PostingStatus
from controltower.orders.models import Order
from tests.controltower.dashboards import o2c
from tests.controltower.dashboards.html import table_rows, text_of

pytestmark = pytest.mark.django_db
QUEUE = "/finance/queue/"


@pytest.fixture
def blocked(db: None) -> tuple[Order, OpsException]:
    """An invoiced order whose posting is blocked: no tax mapping for its tax code STD."""
    o2c.accounts(tax_codes=("RED",))
    order = o2c.ship(o2c.place(o2c.channel("web"), 1001, timezone.now()), timezone.now())
    order = o2c.invoice(order, timezone.now())
    assert order.posting_status == PostingStatus.BLOCKED
    return order, OpsException.objects.get(dedupe_key=f"posting:{order.pk}:blocked")


@pytest.fixture
def ops_only(db: None) -> OpsException:
    return open_exception(
        type=ExceptionType.SHIPMENT_REFUSED,
        dedupe_key="shipment:wms:SHP-9",
        title="web #1009: shipment SHP-9 refused",
        money_at_risk=Decimal("120.00"),
    )


def _fix_tax_mapping() -> None:
    with service_scope():  # an admin adds the missing mapping (the admin's own write path)
        GLMapping.objects.create(
            event="tax_payable", tax_code="STD", account=GLAccount.objects.get(code="2100")
        )


def test_queue_lists_posting_exceptions_not_ops_ones(
    client: Client,
    finance_requester: User,
    blocked: tuple[Order, OpsException],
    ops_only: OpsException,
) -> None:
    # given
    order, _ = blocked
    client.force_login(finance_requester)
    # when
    response = client.get(QUEUE)
    # then
    assert response.status_code == 200
    rows = table_rows(response.content, "finance-queue-body")
    assert [row[0] for row in rows] == [f"web #{order.number}: sales posting blocked"]
    assert rows[0][4] == f"{order.total_amount:.2f} EUR"
    assert "1 open posting exception" in text_of(response.content)


def test_finance_acknowledges_fixes_mapping_and_retries_posting(
    client: Client, finance_requester: User, blocked: tuple[Order, OpsException]
) -> None:
    # given
    order, problem = blocked
    client.force_login(finance_requester)
    detail = client.get(f"/exceptions/{problem.pk}/").content.decode()
    assert "Retry posting" in detail and "Assign to me" in detail
    # when finance acknowledges it (takes it), fixes the mapping and retries
    taken = client.post(f"/exceptions/{problem.pk}/assign/")
    problem.refresh_from_db()
    assert taken.status_code == 302
    assert (problem.state, problem.owner) == (ExceptionState.ASSIGNED, finance_requester)
    _fix_tax_mapping()
    response = client.post(f"/finance/queue/{problem.pk}/retry/", follow=True)
    # then the entry is built and queued, the exception closed by the rebuilt posting
    assert response.status_code == 200
    assert "Posting rebuilt and queued for the ledger" in text_of(response.content)
    order.refresh_from_db()
    problem.refresh_from_db()
    assert order.posting_status == PostingStatus.QUEUED
    assert problem.state == ExceptionState.RESOLVED
    assert order.journal.get().lines.filter(tax_code="STD").exists()
    assert order.history.filter(history_user=finance_requester).exists()
    assert table_rows(client.get(QUEUE).content, "finance-queue-body")[0] == [
        "No posting needs attention."
    ]


def test_retry_while_still_unmapped_says_what_is_missing(
    client: Client, finance_requester: User, blocked: tuple[Order, OpsException]
) -> None:
    # given the mapping is still missing
    order, problem = blocked
    client.force_login(finance_requester)
    # when
    response = client.post(f"/finance/queue/{problem.pk}/retry/", follow=True)
    # then
    assert "Still blocked: no GL mapping for tax payable for tax code STD" in text_of(
        response.content
    )
    order.refresh_from_db()
    assert order.posting_status == PostingStatus.BLOCKED


def test_retry_after_ledger_rejection_rebuilds_the_entry(
    client: Client, finance_requester: User
) -> None:
    # given an entry the ledger rejected
    o2c.accounts()
    order = o2c.ship(o2c.place(o2c.channel("web"), 1001, timezone.now()), timezone.now())
    order = o2c.invoice(order, timezone.now())
    o2c.ledger_answers(order, accepted=False, reason="period locked in the ledger")
    problem = OpsException.objects.get(dedupe_key=f"posting:{order.pk}:rejected")
    client.force_login(finance_requester)
    # when
    response = client.post(f"/finance/queue/{problem.pk}/retry/")
    # then
    assert response.status_code == 302
    order.refresh_from_db()
    problem.refresh_from_db()
    assert order.posting_status == PostingStatus.QUEUED
    assert (problem.state, problem.resolution_reason) == (ExceptionState.RESOLVED, "re-posted")


def test_retry_of_a_posted_order_is_refused_with_the_reason(
    client: Client, finance_requester: User, blocked: tuple[Order, OpsException]
) -> None:
    # given the posting went through meanwhile
    order, problem = blocked
    _fix_tax_mapping()
    client.force_login(finance_requester)
    client.post(f"/finance/queue/{problem.pk}/retry/")
    # when
    response = client.post(f"/finance/queue/{problem.pk}/retry/")
    # then
    assert response.status_code == 409
    assert f"Nothing to retry: the posting of web #{order.number} is Queued." in text_of(
        response.content
    )


def test_finance_resolves_a_posting_exception_with_a_note(
    client: Client, finance_requester: User, blocked: tuple[Order, OpsException]
) -> None:
    # given
    _, problem = blocked
    client.force_login(finance_requester)
    # when
    response = client.post(
        f"/exceptions/{problem.pk}/resolve/", {"reason": "posted by hand in the ledger"}
    )
    # then
    assert response.status_code == 302
    problem.refresh_from_db()
    assert (problem.state, problem.resolution_reason) == (
        ExceptionState.RESOLVED,
        "posted by hand in the ledger",
    )
    assert problem.history.filter(history_user=finance_requester).exists()


@pytest.mark.parametrize("action", ["assign", "resolve", "ignore"])
def test_finance_cannot_act_on_ops_exceptions(
    client: Client, finance_requester: User, ops_only: OpsException, action: str
) -> None:
    # given
    client.force_login(finance_requester)
    # when
    response = client.post(f"/exceptions/{ops_only.pk}/{action}/", {"reason": "not mine"})
    # then
    assert response.status_code == 403
    assert (
        "Finance may act only on posting exceptions; “Shipment refused” is for ops to handle."
        in text_of(response.content)
    )
    ops_only.refresh_from_db()
    assert (ops_only.state, ops_only.owner) == (ExceptionState.OPEN, None)


def test_finance_sees_ops_exceptions_read_only(
    client: Client, finance_requester: User, ops_only: OpsException
) -> None:
    # given
    client.force_login(finance_requester)
    # when
    page = client.get(f"/exceptions/{ops_only.pk}/").content.decode()
    # then
    assert "web #1009: shipment SHP-9 refused" in page
    assert "Assign to me" not in page and "Retry posting" not in page


def test_retry_of_an_ops_exception_is_refused(
    client: Client, finance_requester: User, ops_only: OpsException
) -> None:
    client.force_login(finance_requester)
    response = client.post(f"/finance/queue/{ops_only.pk}/retry/")
    assert response.status_code == 403
    assert "“Shipment refused” is not a posting exception: nothing to retry." in text_of(
        response.content
    )


def test_ops_still_act_on_posting_exceptions_but_cannot_retry_postings(
    client: Client, ops_user: User, blocked: tuple[Order, OpsException]
) -> None:
    # given
    _, problem = blocked
    client.force_login(ops_user)
    # when
    retry = client.post(f"/finance/queue/{problem.pk}/retry/")
    taken = client.post(f"/exceptions/{problem.pk}/assign/")
    # then
    assert retry.status_code == 403
    assert taken.status_code == 302
    problem.refresh_from_db()
    assert problem.owner == ops_user


@pytest.mark.parametrize("persona", ["exec_viewer", "ops_user", "outsider"])
def test_queue_forbidden_to_other_roles(
    client: Client, persona: str, request: pytest.FixtureRequest
) -> None:
    client.force_login(request.getfixturevalue(persona))
    assert client.get(QUEUE).status_code == 403
