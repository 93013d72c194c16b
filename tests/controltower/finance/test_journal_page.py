"""The journal page: entries with their lines, status, ledger id, rejection reason; filters by
period, month, status and account; totals of the filtered set; bad filters told as a 400."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
from django.contrib.auth.models import User
from django.test import Client
from django.utils import timezone

from controltower.finance import views
from controltower.finance.models import FiscalPeriod, JournalEntry
from controltower.orders.models import Order
from tests.controltower.dashboards import o2c
from tests.controltower.dashboards.html import table_rows, text_of

pytestmark = pytest.mark.django_db
URL = "/finance/journal/"


@pytest.fixture
def entries(db: None) -> dict[str, Order]:
    """Three sales entries: posted (JE-1), rejected by the ledger, and queued 40 days ago."""
    o2c.accounts()
    web = o2c.channel("web")
    now = timezone.now()
    made = {}
    for name, number, at in (
        ("posted", 1001, now - timedelta(hours=2)),
        ("rejected", 1002, now - timedelta(hours=1)),
        ("old", 1003, now - timedelta(days=40)),
    ):
        order = o2c.ship(o2c.place(web, number, at - timedelta(hours=5)), at - timedelta(hours=1))
        made[name] = o2c.invoice(order, at)
    o2c.posted(made["posted"], "JE-1")
    o2c.ledger_answers(made["rejected"], accepted=False, reason="account 2100 is blocked")
    return made


def _entry(order: Order) -> JournalEntry:
    return JournalEntry.objects.get(order=order)


def test_journal_lists_entries_with_lines_status_and_ledger_answer(
    client: Client, finance_requester: User, entries: dict[str, Order]
) -> None:
    # given
    client.force_login(finance_requester)
    posted, rejected = _entry(entries["posted"]), _entry(entries["rejected"])
    # when
    response = client.get(URL)
    # then
    assert response.status_code == 200
    head, *lines = table_rows(response.content, f"entry-{posted.pk}")
    assert head[2] == "Posted"
    assert head[3] == "web #1001"
    assert head[4] == f"{posted.total_amount:.2f} EUR"
    assert head[5] == "JE-1"
    assert ["1100 Account 1100", "", f"Dr {entries['posted'].total_amount:.2f}", ""] in lines
    assert ["6100 Account 6100", "", "Dr 0.50", ""] in lines
    assert any(line[0] == "2100 Account 2100" and line[1] == "STD" for line in lines)
    rejected_head = table_rows(response.content, f"entry-{rejected.pk}")[0]
    assert rejected_head[2] == "Rejected by ledger account 2100 is blocked"
    assert "3 entries" in text_of(response.content)


def test_journal_filter_by_status_totals_the_filtered_set(
    client: Client, finance_requester: User, entries: dict[str, Order]
) -> None:
    # given
    client.force_login(finance_requester)
    posted = _entry(entries["posted"])
    # when
    response = client.get(URL, {"state": "posted"})
    # then only the posted entry, and its debits equal its credits
    assert "1 entry matching the filters" in text_of(response.content)
    assert table_rows(response.content, f"entry-{_entry(entries['rejected']).pk}") == []
    total = f"{posted.total_amount:.2f}"
    assert table_rows(response.content, "journal-totals")[1:] == [["EUR", total, total]]


def test_journal_filter_by_account_shows_the_accounts_own_totals(
    client: Client, finance_requester: User, entries: dict[str, Order]
) -> None:
    # given
    client.force_login(finance_requester)
    # when every entry has a gateway-fee line on 6100
    response = client.get(URL, {"account": "6100"})
    # then
    rows = table_rows(response.content, "journal-totals")
    assert ["on 6100 Account 6100 (EUR)", "1.50", "0.00"] in rows
    assert "3 entries matching the filters" in text_of(response.content)


def test_journal_filter_by_month_and_by_period(
    client: Client, finance_requester: User, entries: dict[str, Order]
) -> None:
    # given
    client.force_login(finance_requester)
    old = _entry(entries["old"])
    month = f"{old.entry_date:%Y-%m}"
    # when
    by_month = client.get(URL, {"month": month})
    by_period = client.get(URL, {"period": str(FiscalPeriod.objects.get().pk)})
    # then
    assert "1 entry matching the filters" in text_of(by_month.content)
    assert table_rows(by_month.content, f"entry-{old.pk}")[0][0].startswith(f"#{old.pk}")
    assert "3 entries matching the filters" in text_of(by_period.content)


@pytest.mark.parametrize(
    ("query", "told"),
    [
        ({"month": "2026-13"}, "month: “2026-13” is not a month; write it as YYYY-MM."),
        ({"account": "9999"}, "account: No GL account with code “9999”."),
        ({"period": "abc"}, "period: No such fiscal period."),
        ({"state": "lost"}, "state: Select a valid choice. lost is not one of the available"),
    ],
)
def test_journal_bad_filter_is_400_with_the_reason(
    client: Client, finance_requester: User, query: dict[str, str], told: str
) -> None:
    # given
    client.force_login(finance_requester)
    # when
    response = client.get(URL, query)
    # then
    assert response.status_code == 400
    assert told in text_of(response.content)


def test_journal_is_paginated(
    client: Client,
    finance_requester: User,
    entries: dict[str, Order],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # given one entry per page
    monkeypatch.setattr(views, "PAGE_SIZE", 1)
    client.force_login(finance_requester)
    # when
    response = client.get(URL, {"page": "2"})
    # then
    text = text_of(response.content)
    assert "Page 2 of 3" in text
    assert "← Newer" in text and "Older →" in text


def test_journal_detail_shows_lines_totals_and_rejection(
    client: Client, finance_requester: User, entries: dict[str, Order]
) -> None:
    # given
    client.force_login(finance_requester)
    entry = _entry(entries["rejected"])
    # when
    response = client.get(f"{URL}{entry.pk}/")
    # then
    assert response.status_code == 200
    text = text_of(response.content)
    assert "Rejected because account 2100 is blocked" in text
    rows = table_rows(response.content, "entry-lines")
    total = f"{entry.total_amount:.2f}"
    assert rows[-1] == ["Total EUR", "", total, total]
    assert "the ledger rejected the sales entry" in text


def test_journal_list_query_count_is_flat(
    client: Client,
    finance_requester: User,
    entries: dict[str, Order],
    django_assert_max_num_queries: Any,
) -> None:
    client.force_login(finance_requester)
    with django_assert_max_num_queries(12):
        assert client.get(URL).status_code == 200


@pytest.mark.parametrize("persona", ["ops_user", "exec_viewer", "outsider"])
def test_journal_forbidden_without_the_journal_permission(
    client: Client, persona: str, request: pytest.FixtureRequest
) -> None:
    client.force_login(request.getfixturevalue(persona))
    assert client.get(URL).status_code == 403


def test_journal_open_to_admin_and_is_finance_home(
    client: Client, admin_user: User, finance_requester: User
) -> None:
    client.force_login(admin_user)
    assert client.get(URL).status_code == 200
    client.force_login(finance_requester)
    response = client.get("/")
    assert (response.status_code, response["Location"]) == (302, URL)
