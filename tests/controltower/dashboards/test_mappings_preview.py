"""The mappings page's preview: which open orders and pending postings a change would reach,
counted from known rows in PostgreSQL, over htmx (a partial) and without JavaScript (the form
page again), and never saving anything."""

from __future__ import annotations

import re
from datetime import date, timedelta
from typing import Any

import pytest
from django.contrib.auth.models import User
from django.test import Client
from django.utils import timezone

from controltower.catalog.models import Channel, PaymentMethod
from controltower.core.writepath import service_scope
from controltower.finance.models import FiscalPeriod, GLMapping, JournalEntry
from controltower.orders.models import ChannelStatusMapping, Order, StageSLA
from tests.controltower.dashboards.mappings_fixtures import (
    account,
    channel,
    order,
    status_mapping,
)

pytestmark = pytest.mark.django_db

HTMX = {"HTTP_HX_REQUEST": "true"}


@pytest.fixture(autouse=True)
def _fast_password_hashing(settings: Any) -> None:
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]


@pytest.fixture
def admin_client(client: Client, admin_user: User) -> Client:
    client.force_login(admin_user)
    return client


def _counts(html: str) -> dict[str, int]:
    """Each preview group's title and count, as the admin reads them."""
    found = re.findall(r'<h3>(.*?): <span class="mappings-count">(\d+)</span></h3>', html)
    return {title.replace("&#x27;", "'"): int(count) for title, count in found}


def _entry(of: Order, state: str) -> JournalEntry:
    with service_scope():
        period, _ = FiscalPeriod.objects.get_or_create(
            starts_on=date(2026, 1, 1), defaults={"ends_on": date(2026, 12, 31)}
        )
        return JournalEntry.objects.create(
            period=period,
            entry_date=date(2026, 12, 1),
            state=state,
            event="sale",
            order=of,
            channel=of.channel,
            currency="EUR",
            description=f"Sales {of}",
        )


# --- channel status mappings -------------------------------------------------------------------
@pytest.fixture
def web() -> Channel:
    """woo-web with 'processing' → accepted, three open orders in it, and others that are not:
    one cancelled, one in another status, one of another channel."""
    web = channel("woo-web")
    for number in (1, 2, 3):
        order(web, number)
    order(web, 4, state="cancelled", stage="cancelled")
    order(web, 5, channel_status="on-hold", state="on_hold")
    order(channel("pos"), 6)
    return web


def test_status_mapping_preview_counts_open_orders_in_that_status(
    admin_client: Client, web: Channel
) -> None:
    # given
    mapping = status_mapping(web, "processing", "accepted")
    data = {"channel": web.pk, "channel_status": "processing", "state": "on_hold"}
    # when
    response = admin_client.post(f"/mappings/status/{mapping.pk}/preview/", data, **HTMX)
    # then: a partial with the three open orders, each linked; nothing saved
    html = response.content.decode()
    assert response.status_code == 200
    assert html.lstrip().startswith('<section class="card mappings-preview" id="mapping-preview"')
    assert "<html" not in html
    assert _counts(html) == {"Open orders of woo-web in status 'processing'": 3}
    for number in (1, 2, 3):
        pk = Order.objects.get(number=str(number)).pk
        assert f'<a href="/orders/{pk}/">woo-web #{number}</a>' in html
    assert "Accepted → On hold on its next update" in html
    mapping.refresh_from_db()
    assert mapping.state == "accepted"
    assert mapping.history.count() == 1  # type: ignore[attr-defined]


def test_status_mapping_preview_without_javascript_renders_the_form_page(
    admin_client: Client, web: Channel
) -> None:
    # given
    mapping = status_mapping(web, "processing", "accepted")
    data = {"channel": web.pk, "channel_status": "processing", "state": "on_hold"}
    # when
    response = admin_client.post(f"/mappings/status/{mapping.pk}/preview/", data)
    # then: the whole page, the submitted values kept in the form, the preview under it
    html = response.content.decode()
    assert response.status_code == 200
    assert "<html" in html and 'id="mapping-form"' in html
    assert '<option value="on_hold" selected>' in html
    assert _counts(html) == {"Open orders of woo-web in status 'processing'": 3}


def test_status_mapping_preview_of_a_changed_key_shows_the_orders_left_unmapped(
    admin_client: Client, web: Channel
) -> None:
    # given
    mapping = status_mapping(web, "processing", "accepted")
    data = {"channel": web.pk, "channel_status": "in-progress", "state": "accepted"}
    # when
    response = admin_client.post(f"/mappings/status/{mapping.pk}/preview/", data, **HTMX)
    # then
    assert _counts(response.content.decode()) == {
        "Open orders of woo-web in status 'in-progress'": 0,
        "Open orders of woo-web in status 'processing', left without a mapping": 3,
    }


def test_status_mapping_preview_of_an_invalid_change_shows_the_error(
    admin_client: Client, web: Channel
) -> None:
    # given
    status_mapping(web, "processing", "accepted")
    data = {"channel": web.pk, "channel_status": "processing", "state": "on_hold"}
    # when: a new mapping for a status that is already mapped
    partial = admin_client.post("/mappings/status/preview/", data, **HTMX)
    page = admin_client.post("/mappings/status/preview/", data)
    # then: htmx swaps the error in (200); the plain page is a 400
    expected = "woo-web&#x27;s status &#x27;processing&#x27; is already mapped to accepted"
    assert (partial.status_code, page.status_code) == (200, 400)
    assert expected in partial.content.decode() and expected in page.content.decode()
    assert ChannelStatusMapping.objects.count() == 1


# --- GL mappings -----------------------------------------------------------------------------
def test_gl_mapping_preview_counts_pending_postings_its_key_matches(
    admin_client: Client,
) -> None:
    # given: postings of woo-web and pos, with and without tax code VAT20
    web, pos = channel("woo-web"), channel("pos")
    account("2200", "VAT payable", type="liability")
    blocked = order(web, 1, tax_code="VAT20", posting_status="blocked", stage="invoiced")
    order(web, 2, tax_code="VAT5", posting_status="blocked")
    order(pos, 3, tax_code="VAT20", posting_status="blocked")
    order(web, 4, tax_code="VAT20", posting_status="blocked", state="cancelled")
    queued = _entry(order(web, 5, tax_code="VAT20", posting_status="queued"), "draft")
    _entry(order(web, 6, tax_code="VAT20", posting_status="rejected"), "rejected")
    _entry(order(web, 7, tax_code="VAT20", posting_status="posted"), "posted")
    _entry(order(web, 8, tax_code="VAT5", posting_status="queued"), "draft")
    data = {"event": "tax_payable", "channel": web.pk, "tax_code": "VAT20", "account": "2200"}
    # when
    response = admin_client.post("/mappings/gl/preview/", data, **HTMX)
    # then
    html = response.content.decode()
    assert _counts(html) == {
        "Sales entries queued or rejected": 2,
        "Orders whose posting is blocked": 1,
    }
    assert f'<a href="/orders/{blocked.pk}/">woo-web #1</a>' in html
    assert f'<a href="/orders/{queued.order_id}/">Sales woo-web #5</a> — Queued' in html
    assert not GLMapping.objects.exists()


def test_gl_mapping_preview_for_a_payment_method_matches_orders_paid_with_it(
    admin_client: Client,
) -> None:
    # given
    web, pos = channel("woo-web"), channel("pos")
    account("1200", "Stripe clearing", type="asset")
    for number, on in ((1, web), (2, pos)):
        order(on, number, payment_method="stripe", posting_status="blocked")
    order(web, 3, payment_method="paypal", posting_status="blocked")
    data = {"event": "payment_clearing", "payment_method": "stripe", "account": "1200"}
    # when: every channel's clearing for stripe
    response = admin_client.post("/mappings/gl/preview/", data, **HTMX)
    # then
    assert _counts(response.content.decode()) == {
        "Sales entries queued or rejected": 0,
        "Orders whose posting is blocked": 2,
    }


# --- payment methods -------------------------------------------------------------------------
def test_payment_method_preview_counts_orders_whose_capture_would_change(
    admin_client: Client,
) -> None:
    # given: stripe taken at checkout; two open orders not captured yet, one captured
    web = channel("woo-web")
    method = PaymentMethod.objects.create(code="stripe", name="Card", capture_mode="at_checkout")
    order(web, 1, payment_method="stripe", payment_status="none")
    order(web, 2, payment_method="stripe", payment_status="authorized")
    order(web, 3, payment_method="stripe", payment_status="captured")
    order(web, 4, payment_method="stripe", state="cancelled", stage="cancelled")
    order(web, 5, payment_method="paypal")
    data = {"code": "stripe", "name": "Card", "capture_mode": "at_shipment", "enabled": "on"}
    # when
    response = admin_client.post(f"/mappings/payment-methods/{method.pk}/preview/", data, **HTMX)
    # then
    html = response.content.decode()
    assert _counts(html) == {
        "Open orders paid with stripe": 3,
        "Whose capture would change (captured at checkout → authorized, captured at shipment)": 2,
    }
    assert "Captured: unchanged" in html
    assert "Authorized: capture changes to authorized, captured at shipment" in html
    method.refresh_from_db()
    assert method.capture_mode == "at_checkout"


def test_payment_method_preview_without_a_mode_change_changes_no_capture(
    admin_client: Client,
) -> None:
    # given
    web = channel("woo-web")
    method = PaymentMethod.objects.create(code="stripe", name="Card")
    order(web, 1, payment_method="stripe")
    data = {"code": "stripe", "name": "Card (Stripe)", "capture_mode": "at_checkout"}
    # when
    response = admin_client.post(f"/mappings/payment-methods/{method.pk}/preview/", data, **HTMX)
    # then
    html = response.content.decode()
    assert _counts(html) == {"Open orders paid with stripe": 1}
    assert "stripe: when its money is taken does not change." in html


# --- stage SLAs --------------------------------------------------------------------------------
@pytest.fixture
def registered_orders() -> StageSLA:
    """Three open orders in "registered" for 3 h, 90 min and 10 min; one in another stage and
    one cancelled, both long ago; the SLA at 120 min."""
    web, now = channel("woo-web"), timezone.now()
    for number, minutes in ((1, 180), (2, 90), (3, 10)):
        order(web, number, stage="registered", stage_changed_at=now - timedelta(minutes=minutes))
    order(web, 4, stage="released", stage_changed_at=now - timedelta(hours=5))
    order(web, 5, stage="registered", state="cancelled", stage_changed_at=now - timedelta(hours=5))
    return StageSLA.objects.create(stage="registered", minutes=120)


def test_stage_sla_preview_counts_orders_past_the_new_sla_now(
    admin_client: Client, registered_orders: StageSLA
) -> None:
    # given
    sla = registered_orders
    data = {"stage": "registered", "minutes": "60", "enabled": "on"}
    # when
    response = admin_client.post(f"/mappings/slas/{sla.pk}/preview/", data, **HTMX)
    # then
    html = response.content.decode()
    assert _counts(html) == {
        "Open orders in Registered in ERP": 3,
        "Past the new SLA of 60 min now": 2,
    }
    assert "Registered in ERP within 60 min; past the current 120 min now: 1." in html
    sla.refresh_from_db()
    assert sla.minutes == 120


def test_stage_sla_preview_of_a_disabled_sla_flags_none(
    admin_client: Client, registered_orders: StageSLA
) -> None:
    # given
    data = {"stage": "registered", "minutes": "60"}  # enabled unticked
    # when
    response = admin_client.post(f"/mappings/slas/{registered_orders.pk}/preview/", data, **HTMX)
    # then
    html = response.content.decode()
    assert _counts(html) == {"Open orders in Registered in ERP": 3, "Past the new SLA now": 0}
    assert "Disabled: none flagged." in html
