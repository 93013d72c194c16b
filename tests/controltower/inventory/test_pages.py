"""The stock pages (ops), the availability API (a checkout), and the stock rules on the mappings
page (admins): what each person sees, what they are told, and who may not."""

from __future__ import annotations

import json
from typing import Any

import pytest
from django.test import Client

from controltower.inventory.models import ChannelAllocationRule
from tests.controltower.inventory.support import allocate, ats, report, sku, warehouse
from tests.factories.integrations import web_channel
from tests.factories.lifecycle import TEE, web_order

pytestmark = pytest.mark.django_db


@pytest.fixture
def stocked():
    web, wh, tee = web_channel(), warehouse(), sku(TEE)
    allocate(web, wh)
    report("wms", tee, wh, 6)
    report("erp", tee, wh, 9)  # drifts from the WMS's 6 (exact tolerance by default)
    web_order(1001, lines=[(TEE, 2, "10.00")])
    return web, wh, tee


def test_ops_see_a_sku_across_locations_systems_reservations_and_channels(
    client, ops_user, stocked
):
    client.force_login(ops_user)
    listing = client.get("/stock/", {"q": TEE}).content.decode()
    assert f'href="/stock/{TEE}/"' in listing and "ATS web" in listing
    page = client.get(f"/stock/{TEE}/").content.decode()
    assert "Available to sell" in page
    assert '<td class="num">4</td>' in page  # 6 counted − 2 reserved
    assert "Warehouse wh-1" in page and "WMS" in page
    assert "1001" in page  # the order holding the reservation
    assert f"Stock drift: {TEE} at Warehouse wh-1 differs by 3" in page


def test_people_without_the_stock_permission_are_refused(client, outsider, stocked):
    client.force_login(outsider)
    assert client.get("/stock/").status_code == 403
    assert client.get(f"/stock/{TEE}/").status_code == 403
    assert client.get("/api/v1/availability/", {"sku": TEE, "channel": "web"}).status_code == 403


def test_the_availability_api_answers_ats_and_says_what_is_wrong(client, ops_user, stocked):
    client.force_login(ops_user)
    answer = client.get("/api/v1/availability/", {"sku": TEE, "channel": "web"})
    assert answer.status_code == 200
    body = answer.json()
    assert (body["available"], body["stock_controlled"]) == (4, True)
    unknown = client.get("/api/v1/availability/", {"sku": "NOPE", "channel": "web"})
    assert unknown.status_code == 404 and unknown.json()["detail"] == "unknown SKU 'NOPE'"
    channel = client.get("/api/v1/availability/", {"sku": TEE, "channel": "mars"})
    assert channel.status_code == 404 and channel.json()["detail"] == "unknown channel 'mars'"
    missing = client.get("/api/v1/availability/", {"sku": TEE})
    assert missing.status_code == 400 and missing.json()["channel"] == [
        "this parameter is required"
    ]


def test_admins_preview_and_save_an_allocation_rule_which_changes_ats(
    client: Client, admin_user, stocked
):
    web, wh, tee = stocked
    rule = ChannelAllocationRule.objects.get(channel=web, location=wh)
    client.force_login(admin_user)
    form = {
        "channel": web.pk,
        "location": wh.pk,
        "percent": "50",
        "safety_stock": "0",
        "cap": "",
        "reason": "half for the web",
    }
    preview = client.post(f"/mappings/allocation/{rule.pk}/preview/", form).content.decode()
    # half of 6 is 3, of which the order holds 2
    assert "web: 4 → 1 units to sell (1 SKUs with stock)" in preview
    assert f"{TEE} — 4 → 1" in preview
    assert ats(tee, web) == 4  # a preview saves nothing
    saved = client.post(f"/mappings/allocation/{rule.pk}/", form)
    assert saved.status_code == 302
    assert ats(tee, web) == 1
    page = client.get("/mappings/").content.decode()
    assert "Stock allocation" in page and "percent: 100.00 → 50.00" in page
    assert "half for the web" in page


def test_an_allocation_rule_is_validated_in_words(client: Client, admin_user, stocked):
    web, wh, _ = stocked
    client.force_login(admin_user)
    bad = client.post(
        "/mappings/allocation/new/",
        {"channel": web.pk, "location": wh.pk, "percent": "150", "safety_stock": "0"},
    ).content.decode()
    assert "the percent must be between 0 and 100" in bad
    assert "web already has a rule for wh-1: edit that one" in bad


def test_executives_see_stock_accuracy_and_oversells_over_time(client, exec_viewer, stocked):
    from controltower.core.context import acting_as
    from controltower.inventory.drift import check_drift

    _, wh, _ = stocked
    report("wms", sku("CAP-1"), wh, 5)
    report("erp", sku("CAP-1"), wh, 5)
    web_order(1002, lines=[(TEE, 9, "10.00")])  # 4 left to sell: 5 short
    with acting_as("system.inventory"):
        assert check_drift() == {"drifting": 1, "closed": 0, "pairs": 2, "within": 1}
    client.force_login(exec_viewer)
    page = client.get("/kpis/").content.decode()
    assert "Stock accuracy and oversells" in page
    assert '<strong id="stock-accuracy">50.0% within tolerance</strong>' in page
    assert (
        '"oversells": {"type": "bar"' in page
        and '"data": [0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1]' in page
    )


def _wsgi_get(path: str, query: str, token: str) -> tuple[str, dict[str, str], bytes]:
    """A request through the production WSGI application (the lean route included)."""
    import io

    from controltower.wsgi import application

    environ = {
        "REQUEST_METHOD": "GET",
        "PATH_INFO": path,
        "QUERY_STRING": query,
        "SERVER_NAME": "testserver",
        "SERVER_PORT": "80",
        "HTTP_HOST": "testserver",
        "HTTP_AUTHORIZATION": f"Token {token}",
        "wsgi.input": io.BytesIO(b""),
        "wsgi.url_scheme": "http",
        "wsgi.errors": io.StringIO(),
    }
    seen: dict[str, Any] = {}

    def start_response(status: str, headers: list[tuple[str, str]], *_: Any) -> None:
        seen["status"], seen["headers"] = status, dict(headers)

    body = b"".join(application(environ, start_response))
    return seen["status"], seen["headers"], body


@pytest.mark.django_db(transaction=True)
def test_the_lean_availability_route_answers_as_the_api_does_and_leaves_refusals_to_it(
    client, ops_user, outsider
):
    from rest_framework.authtoken.models import Token

    web, wh, tee = web_channel(), warehouse(), sku(TEE)
    allocate(web, wh)
    report("wms", tee, wh, 6)
    token = Token.objects.create(user=ops_user).key
    query = f"sku={TEE}&channel=web"
    status, headers, body = _wsgi_get("/api/v1/availability/", query, token)
    via_drf = client.get(f"/api/v1/availability/?{query}", HTTP_AUTHORIZATION=f"Token {token}")
    assert status == "200 OK" and headers["X-Content-Type-Options"] == "nosniff"
    assert json.loads(body) == via_drf.json() and via_drf.json()["available"] == 6
    # refusals are Django's, word for word
    stranger = Token.objects.create(user=outsider).key
    assert _wsgi_get("/api/v1/availability/", query, stranger)[0].startswith("403")
    status, _, body = _wsgi_get("/api/v1/availability/", query, "not-a-token")
    assert status.startswith("401") and json.loads(body) == {"detail": "Invalid token."}
    status, _, body = _wsgi_get("/api/v1/availability/", "sku=NOPE&channel=web", token)
    assert status.startswith("404") and json.loads(body) == {"detail": "unknown SKU 'NOPE'"}
