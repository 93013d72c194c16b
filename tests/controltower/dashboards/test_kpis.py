"""The executive KPI page: the figures a person reads in the tables under the charts, the
window selector, empty windows, and who may see it."""

from __future__ import annotations

import json
import re
from datetime import datetime, timedelta
from decimal import Decimal
from typing import Any

import pytest
from django.contrib.auth.models import User
from django.test import Client
from django.utils import timezone

from controltower.exceptions.choices import ExceptionType
from controltower.exceptions.services import open_exception, resolve_exception
from tests.controltower.dashboards import o2c
from tests.controltower.dashboards.html import table_rows, text_of

pytestmark = pytest.mark.django_db
URL = "/kpis/"


def _day(moment: datetime) -> str:
    return f"{timezone.localtime(moment):%a %d %b}"


def _row(rows: list[list[str]], first: str) -> list[str]:
    matches = [row for row in rows if row and row[0] == first]
    assert matches, f"no row {first!r} in {rows}"
    return matches[0]


def _risk(kind: ExceptionType, key: str, amount: str) -> Any:
    return open_exception(
        type=kind, dedupe_key=key, title=key, money_at_risk=Decimal(amount), currency="EUR"
    )


def test_kpis_count_orders_per_day_by_channel(
    client: Client, exec_viewer: User, noon_yesterday: datetime
) -> None:
    # given three web orders and one outlet order yesterday, one web order 20 days ago
    web, outlet = o2c.channel("web"), o2c.channel("outlet")
    for number in (1001, 1002, 1003):
        o2c.place(web, number, noon_yesterday - timedelta(hours=number - 1000))
    o2c.place(outlet, 2001, noon_yesterday)
    o2c.place(web, 1004, noon_yesterday - timedelta(days=20))
    client.force_login(exec_viewer)
    # when
    response = client.get(URL)
    # then
    assert response.status_code == 200
    rows = table_rows(response.content, "kpi-orders")
    assert rows[0] == ["Day", "outlet", "web", "Total"]
    assert _row(rows, _day(noon_yesterday)) == [_day(noon_yesterday), "1", "3", "4"]
    assert len(rows) == 1 + 14  # one row per day of the window, quiet days at zero
    assert "over the last 14 days" in text_of(response.content)
    assert "4 in all" in text_of(response.content)
    # and the 30-day window reaches the older order
    wide = client.get(URL, {"days": "30"})
    assert "5 in all" in text_of(wide.content)
    assert len(table_rows(wide.content, "kpi-orders")) == 1 + 30


def test_kpis_cycle_time_shows_p50_and_p90_of_the_day(
    client: Client, exec_viewer: User, noon_yesterday: datetime
) -> None:
    # given three orders placed at 08:00 yesterday, shipped after 2, 4 and 6 hours
    o2c.accounts()
    web = o2c.channel("web")
    placed = noon_yesterday - timedelta(hours=4)
    for number, hours in ((1001, 2), (1002, 4), (1003, 6)):
        o2c.ship(o2c.place(web, number, placed), placed + timedelta(hours=hours))
    client.force_login(exec_viewer)
    # when
    response = client.get(URL)
    # then the median is 4 h and the 90th percentile interpolates to 5.6 h
    rows = table_rows(response.content, "kpi-cycle")
    assert rows[0] == ["Day", "Shipped", "p50 h", "p90 h"]
    assert _row(rows, _day(noon_yesterday)) == [_day(noon_yesterday), "3", "4.0", "5.6"]
    assert "3 shipped" in text_of(response.content)


def test_kpis_posting_completion_share_and_age_of_unposted(
    client: Client, exec_viewer: User, noon_yesterday: datetime
) -> None:
    # given four invoiced orders: two posted, one invoiced 30 min ago, one two days ago
    o2c.accounts()
    web = o2c.channel("web")
    now = timezone.now()
    invoiced_at = [now - timedelta(hours=5), now - timedelta(hours=3), now - timedelta(minutes=30)]
    invoiced_at.append(now - timedelta(days=2))
    orders = []
    for number, at in enumerate(invoiced_at, start=1001):
        order = o2c.ship(o2c.place(web, number, at - timedelta(hours=6)), at - timedelta(hours=1))
        orders.append(o2c.invoice(order, at))
    o2c.posted(orders[0], "JE-1")
    o2c.posted(orders[1], "JE-2")
    client.force_login(exec_viewer)
    # when
    response = client.get(URL)
    # then
    text = text_of(response.content)
    assert "50.0% posted" in text
    assert "2 of 4 invoiced orders" in text
    rows = table_rows(response.content, "kpi-posting")
    assert rows[1:] == [["under 1 h", "1"], ["1–24 h", "0"], ["over 24 h", "1"]]


def test_kpis_money_at_risk_per_exception_type(client: Client, exec_viewer: User) -> None:
    # given two open refused shipments (100 + 20 EUR), an open posting failure, a resolved one
    _risk(ExceptionType.SHIPMENT_REFUSED, "shipment:1", "100.00")
    _risk(ExceptionType.SHIPMENT_REFUSED, "shipment:2", "20.00")
    _risk(ExceptionType.POSTING_FAILURE, "posting:1:blocked", "45.50")
    done = _risk(ExceptionType.SHIPMENT_REFUSED, "shipment:3", "999.00")
    resolve_exception(done, reason="shipped again")
    client.force_login(exec_viewer)
    # when
    response = client.get(URL)
    # then
    rows = table_rows(response.content, "kpi-risk")
    assert rows[1:] == [
        ["Shipment refused", "2", "120.00 EUR"],
        ["Posting failure", "1", "45.50 EUR"],
    ]
    charts = json.loads(re.search(rb'id="kpi-charts"[^>]*>(.*?)</script>', response.content)[1])
    assert charts["risk"]["labels"] == ["Posting failure", "Shipment refused"]
    assert charts["risk"]["datasets"] == [{"label": "EUR", "data": [45.5, 120.0]}]


def test_kpis_empty_window_says_so_instead_of_a_chart(client: Client, exec_viewer: User) -> None:
    # given nothing at all
    client.force_login(exec_viewer)
    # when
    response = client.get(URL, {"days": "7"})
    # then
    assert response.status_code == 200
    assert response.content.decode().count("No orders in this window yet.") == 3
    assert "No money at risk in open exceptions." in response.content.decode()
    assert b"<canvas" not in response.content


def test_kpis_page_has_no_inline_script(client: Client, exec_viewer: User) -> None:
    # given
    client.force_login(exec_viewer)
    # when
    page = client.get(URL).content.decode()
    # then every script is a file or the JSON the charts read (the CSP allows nothing else)
    scripts = re.findall(r"<script([^>]*)>", page)
    assert any("kpi-charts.js" in attrs for attrs in scripts)
    assert any("chart.umd.min.js" in attrs for attrs in scripts)
    assert all("src=" in attrs or 'type="application/json"' in attrs for attrs in scripts)


def test_kpis_bad_window_is_refused_with_the_reason(client: Client, exec_viewer: User) -> None:
    # given
    client.force_login(exec_viewer)
    # when
    response = client.get(URL, {"days": "9"})
    # then
    assert response.status_code == 400
    assert "Choose a window of 7, 14 or 30 days." in response.content.decode()


def test_kpis_query_count_does_not_grow_with_orders(
    client: Client, exec_viewer: User, noon_yesterday: datetime, django_assert_max_num_queries: Any
) -> None:
    # given
    web = o2c.channel("web")
    for number in range(1001, 1011):
        o2c.place(web, number, noon_yesterday - timedelta(days=number % 7))
    client.force_login(exec_viewer)
    # when / then: session, user, roles, permissions (the page's), and one query per KPI (the
    # stock KPI reads the accuracy samples and the oversells: two)
    with django_assert_max_num_queries(11):
        response = client.get(URL)
    assert "10 in all" in text_of(response.content)


@pytest.mark.parametrize("persona", ["ops_user", "finance_requester", "outsider"])
def test_kpis_forbidden_without_the_kpi_permission(
    client: Client, persona: str, request: pytest.FixtureRequest
) -> None:
    # given
    client.force_login(request.getfixturevalue(persona))
    # when / then
    assert client.get(URL).status_code == 403


def test_kpis_anonymous_is_sent_to_log_in(client: Client) -> None:
    response = client.get(URL)
    assert (response.status_code, response["Location"]) == (302, "/accounts/login/?next=/kpis/")


def test_kpis_are_the_executive_home(client: Client, exec_viewer: User) -> None:
    # given
    client.force_login(exec_viewer)
    # when
    response = client.get("/")
    # then
    assert (response.status_code, response["Location"]) == (302, URL)
