"""The admins' mappings page through the Django client on real PostgreSQL: what each form refuses
(in words), what a save leaves in history, who may open it at all.

Preview counts are in test_mappings_preview.py; the save racing another admin's in
test_mappings_race.py.
"""

from __future__ import annotations

from typing import Any

import pytest
from django.contrib.auth.models import User
from django.test import Client

from controltower.catalog.models import PaymentMethod
from controltower.finance.models import GLMapping
from controltower.orders.models import ChannelStatusMapping, StageSLA
from tests.controltower.dashboards.mappings_fixtures import (
    account,
    channel,
    order,
    status_mapping,
)

pytestmark = pytest.mark.django_db

LIST = "/mappings/"


@pytest.fixture(autouse=True)
def _fast_password_hashing(settings: Any) -> None:
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]


@pytest.fixture
def admin_client(client: Client, admin_user: User) -> Client:
    client.force_login(admin_user)
    return client


def _errors(response: Any) -> list[str]:
    form = response.context["form"]
    return [str(e) for errors in form.errors.values() for e in errors]


# --- channel status mappings -------------------------------------------------------------------
def test_status_mapping_twice_for_a_channel_is_a_form_error(admin_client: Client) -> None:
    # given
    web = channel("woo-web")
    status_mapping(web, "processing", "accepted")
    # when
    response = admin_client.post(
        "/mappings/status/new/",
        {"channel": web.pk, "channel_status": "processing", "state": "on_hold"},
    )
    # then
    assert response.status_code == 400
    assert _errors(response) == ["woo-web's status 'processing' is already mapped to accepted"]
    assert "woo-web&#x27;s status &#x27;processing&#x27; is already mapped to accepted" in (
        response.content.decode()
    )
    assert ChannelStatusMapping.objects.get(channel=web).state == "accepted"


def test_status_mapping_unknown_state_is_refused(admin_client: Client) -> None:
    # given
    web = channel("woo-web")
    # when
    response = admin_client.post(
        "/mappings/status/new/",
        {"channel": web.pk, "channel_status": "processing", "state": "teleported"},
    )
    # then
    assert response.status_code == 400
    assert _errors(response) == [
        "Select a valid choice. teleported is not one of the available choices."
    ]
    assert not ChannelStatusMapping.objects.exists()


def test_status_mapping_edit_is_in_history_with_the_admins_name(
    admin_client: Client, admin_user: User
) -> None:
    # given
    web = channel("woo-web")
    mapping = status_mapping(web, "on-hold", "accepted")
    # when
    response = admin_client.post(
        f"/mappings/status/{mapping.pk}/",
        {
            "channel": web.pk,
            "channel_status": "on-hold",
            "state": "on_hold",
            "reason": "on-hold means held",
        },
    )
    # then: saved, the history row names the admin and the reason, the page shows the diff
    assert (response.status_code, response["Location"]) == (302, "/mappings/#section-status")
    mapping.refresh_from_db()
    assert mapping.state == "on_hold"
    latest = mapping.history.latest()  # type: ignore[attr-defined]
    assert (latest.history_user, latest.history_change_reason) == (
        admin_user,
        "on-hold means held",
    )
    page = admin_client.get(LIST).content.decode()
    history = page.split('id="section-status-history"')[1].split("</table>")[0]
    assert "adam.admin" in history
    assert "state: accepted → on_hold" in history
    assert "on-hold means held" in history


def test_status_mapping_delete_is_in_history_with_the_admins_name(
    admin_client: Client, admin_user: User
) -> None:
    # given
    mapping = status_mapping(channel("woo-web"), "draft", "received")
    # when
    response = admin_client.post(f"/mappings/status/{mapping.pk}/delete/", {"reason": "unused"})
    # then
    assert response.status_code == 302
    assert not ChannelStatusMapping.objects.exists()
    deleted = ChannelStatusMapping.history.get(history_type="-")  # type: ignore[attr-defined]
    assert (deleted.history_user, deleted.history_change_reason) == (admin_user, "unused")
    page = admin_client.get(LIST).content.decode()
    assert "deleted woo-web: &#x27;draft&#x27; → received" in page


def test_status_mapping_delete_over_htmx_answers_the_section(admin_client: Client) -> None:
    # given
    web = channel("woo-web")
    gone = status_mapping(web, "draft", "received")
    status_mapping(web, "processing", "accepted")
    # when
    response = admin_client.post(f"/mappings/status/{gone.pk}/delete/", HTTP_HX_REQUEST="true")
    # then: only the section, without the row, with the deletion in its history
    html = response.content.decode()
    assert response.status_code == 200
    assert html.lstrip().startswith('<section class="card mappings-section" id="section-status"')
    assert "<html" not in html
    assert f'id="status-{gone.pk}"' not in html
    assert "deleted woo-web" in html


# --- GL mappings -----------------------------------------------------------------------------
def test_gl_mapping_account_outside_the_chart_is_a_form_error(admin_client: Client) -> None:
    # given
    account("4000", "Gross sales")
    # when
    response = admin_client.post(
        "/mappings/gl/new/", {"event": "gross_sales", "channel": "", "account": "4999"}
    )
    # then
    assert response.status_code == 400
    assert _errors(response) == ["account 4999 does not exist in the chart of accounts"]
    assert not GLMapping.objects.exists()


def test_gl_mapping_duplicate_key_is_refused(admin_client: Client) -> None:
    # given: tax payable for VAT20 on every channel, already mapped
    vat = account("2200", "VAT payable")
    account("2210", "VAT payable (other)")
    order(channel("woo-web"), 1, tax_code="VAT20")
    GLMapping.objects.create(event="tax_payable", tax_code="VAT20", account=vat)
    # when
    response = admin_client.post(
        "/mappings/gl/new/",
        {"event": "tax_payable", "channel": "", "tax_code": "VAT20", "account": "2210"},
    )
    # then
    assert response.status_code == 400
    assert _errors(response) == [
        "this key is already mapped: Tax payable (all channels, tax VAT20) → 2200"
    ]
    assert list(GLMapping.objects.values_list("account__code", flat=True)) == ["2200"]


def test_gl_mapping_tax_code_nothing_uses_is_saved_with_a_warning(
    admin_client: Client, admin_user: User
) -> None:
    # given
    account("2200", "VAT payable")
    # when
    response = admin_client.post(
        "/mappings/gl/new/",
        {"event": "tax_payable", "channel": "", "tax_code": "VAT99", "account": "2200"},
        follow=True,
    )
    # then: saved, and told
    mapping = GLMapping.objects.get()
    assert (mapping.tax_code, mapping.account.code) == ("VAT99", "2200")
    assert [str(m) for m in response.context["messages"]] == [
        "Saved: Tax payable (all channels, tax VAT99) → 2200.",
        "Saved, but tax code VAT99 is not used by any order or invoice line yet.",
    ]
    assert mapping.history.get().history_user == admin_user  # type: ignore[attr-defined]


def test_gl_mapping_key_the_event_never_reads_is_refused(admin_client: Client) -> None:
    # given
    account("4000", "Gross sales")
    # when: gross sales are never looked up by tax code (finance.services.mapping_for)
    response = admin_client.post(
        "/mappings/gl/new/",
        {"event": "gross_sales", "channel": "", "tax_code": "VAT20", "account": "4000"},
    )
    # then
    assert response.status_code == 400
    assert _errors(response) == ["a tax code applies only to tax payable mappings"]


def test_gl_mapping_edit_shows_the_account_by_code_and_records_the_change(
    admin_client: Client, admin_user: User
) -> None:
    # given
    web = channel("woo-web")
    sales, other = account("4000", "Gross sales"), account("4010", "Web sales")
    mapping = GLMapping.objects.create(event="gross_sales", channel=web, account=sales)
    url = f"/mappings/gl/{mapping.pk}/"
    # when
    page = admin_client.get(url)
    response = admin_client.post(
        url, {"event": "gross_sales", "channel": web.pk, "account": "4010"}
    )
    # then
    assert 'name="account" value="4000"' in page.content.decode()
    assert response.status_code == 302
    mapping.refresh_from_db()
    assert mapping.account == other
    assert mapping.history.latest().history_user == admin_user  # type: ignore[attr-defined]
    history = admin_client.get(LIST).content.decode().split('id="section-gl-history"')[1]
    assert "account: 4000 → 4010" in history.split("</table>")[0]


# --- payment methods and SLAs ------------------------------------------------------------------
def test_payment_method_code_is_fixed_once_created(admin_client: Client) -> None:
    # given
    method = PaymentMethod.objects.create(code="stripe", name="Card", capture_mode="at_checkout")
    # when: a forged code in the POST
    response = admin_client.post(
        f"/mappings/payment-methods/{method.pk}/",
        {"code": "forged", "name": "Card (Stripe)", "capture_mode": "at_shipment", "enabled": "on"},
    )
    # then
    assert response.status_code == 302
    method.refresh_from_db()
    assert (method.code, method.name, method.capture_mode) == (
        "stripe",
        "Card (Stripe)",
        "at_shipment",
    )


def test_payment_method_duplicate_code_is_a_form_error(admin_client: Client) -> None:
    # given
    PaymentMethod.objects.create(code="stripe", name="Card")
    # when
    response = admin_client.post(
        "/mappings/payment-methods/new/",
        {"code": "stripe", "name": "Again", "capture_mode": "offline"},
    )
    # then
    assert response.status_code == 400
    assert _errors(response) == ["payment method stripe already exists"]


def test_stage_sla_minutes_must_be_positive(admin_client: Client) -> None:
    # given / when
    response = admin_client.post(
        "/mappings/slas/new/", {"stage": "registered", "minutes": "0", "enabled": "on"}
    )
    # then: the check constraint's rule, as a form error
    assert response.status_code == 400
    assert _errors(response) == ["minutes must be more than 0"]
    assert not StageSLA.objects.exists()


def test_stage_sla_second_one_for_a_stage_is_a_form_error(admin_client: Client) -> None:
    # given
    StageSLA.objects.create(stage="registered", minutes=60)
    # when
    response = admin_client.post(
        "/mappings/slas/new/", {"stage": "registered", "minutes": "30", "enabled": "on"}
    )
    # then
    assert response.status_code == 400
    assert _errors(response) == ["the stage Registered in ERP already has an SLA"]


# --- the page and who may open it --------------------------------------------------------------
def test_mapping_list_shows_every_section_with_its_rows(
    admin_client: Client, django_assert_max_num_queries: Any
) -> None:
    # given: several rows in each section (the page's queries do not grow with them)
    web, pos = channel("woo-web"), channel("pos")
    for status, state in (("processing", "accepted"), ("on-hold", "on_hold"), ("failed", "failed")):
        status_mapping(web, status, state)
    sales = account("4000", "Gross sales")
    GLMapping.objects.create(event="gross_sales", account=sales)
    GLMapping.objects.create(event="gross_sales", channel=pos, account=account("4010", "POS"))
    PaymentMethod.objects.create(code="stripe", name="Card")
    PaymentMethod.objects.create(code="cod", name="Cash on delivery", capture_mode="offline")
    StageSLA.objects.create(stage="registered", minutes=60, description="ERP within an hour")
    # when
    # (the three stock sections add theirs: rows, history, and the locations' codes once; the
    # two promotion-policy sections theirs: rows and history, 3 each)
    with django_assert_max_num_queries(38):
        response = admin_client.get(LIST)
    # then
    html = response.content.decode()
    assert response.status_code == 200
    for text in (
        "Channel status mappings",
        "GL account mappings",
        "Payment methods",
        "Stage SLAs",
        "Stock allocation",
        "Stock freshness SLAs",
        "Stock drift tolerances",
        "<td>processing</td>",
        "<td>4000 Gross sales</td>",
        "<td>stripe</td>",
        "<td>ERP within an hour</td>",
    ):
        assert text in html


PERSONA_NAMES = ["ops_user", "finance_requester", "exec_viewer", "outsider"]


@pytest.mark.parametrize("persona", PERSONA_NAMES)
def test_mappings_page_refuses_everyone_but_admins(
    client: Client, persona: str, request: pytest.FixtureRequest
) -> None:
    # given
    web = channel("woo-web")
    mapping = status_mapping(web, "processing", "accepted")
    client.force_login(request.getfixturevalue(persona))
    data = {"channel": web.pk, "channel_status": "processing", "state": "cancelled"}
    # when
    answers = [
        client.get(LIST).status_code,
        client.get("/mappings/status/new/").status_code,
        client.post("/mappings/status/new/", data).status_code,
        client.post(f"/mappings/status/{mapping.pk}/", data).status_code,
        client.post(f"/mappings/status/{mapping.pk}/preview/", data).status_code,
        client.post(f"/mappings/status/{mapping.pk}/delete/").status_code,
    ]
    # then
    assert answers == [403] * 6
    mapping.refresh_from_db()
    assert mapping.state == "accepted"


def test_mappings_page_sends_anonymous_visitors_to_log_in(client: Client) -> None:
    # given / when
    response = client.get(LIST)
    # then
    assert (response.status_code, response["Location"]) == (
        302,
        "/accounts/login/?next=/mappings/",
    )


def test_mappings_page_refuses_an_admin_without_the_models_permission(
    client: Client, admin_user: User
) -> None:
    # given: an admin whose role lost the right to change stage SLAs
    from django.contrib.auth.models import Group, Permission

    Group.objects.get(name="admin").permissions.remove(
        Permission.objects.get(codename="change_stagesla")
    )
    client.force_login(admin_user)
    # when
    page = client.get(LIST)
    edit = client.get("/mappings/slas/new/")
    sla = StageSLA.objects.create(stage="registered", minutes=60)
    change = client.post(f"/mappings/slas/{sla.pk}/", {"stage": "registered", "minutes": "5"})
    # then: the other sections stay; this one is neither shown nor writable
    assert page.status_code == 200
    assert "Stage SLAs" not in page.content.decode()
    assert "Channel status mappings" in page.content.decode()
    assert (edit.status_code, change.status_code) == (200, 403)  # adding is its own permission
    sla.refresh_from_db()
    assert sla.minutes == 60


def test_unknown_section_is_not_found(admin_client: Client) -> None:
    # given / when
    response = admin_client.get("/mappings/currencies/new/")
    # then
    assert response.status_code == 404
