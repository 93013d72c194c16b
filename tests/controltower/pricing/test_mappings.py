"""The promotion policy on the admins' mappings page: form validation in words, the preview of
which SKUs would breach (nothing saved), the save in history with the admin's name, and the
check re-run at once."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import pytest
from django.contrib.auth.models import User
from django.test import Client

from controltower.exceptions.choices import ExceptionState, ExceptionType
from controltower.exceptions.models import OpsException
from controltower.pricing.models import PromotionExclusion, PromotionRule
from tests.controltower.pricing.test_checks import erp, store
from tests.factories.catalog import ChannelFactory

pytestmark = pytest.mark.django_db


@pytest.fixture
def admin_client(client: Client, admin_user: User) -> Client:
    client.force_login(admin_user)
    return client


@pytest.fixture
def on_sale(db: None) -> Any:
    """TEE-1 on the web channel at 16.00, the ERP's price 20.00: 20 % off, and no rule yet."""
    channel = ChannelFactory(code="web")
    store()
    erp("20.00")
    store(sale="16.00")
    return channel


def _errors(response: Any) -> list[str]:
    form = response.context["form"]
    return [str(e) for errors in form.errors.values() for e in errors]


def test_promotion_rule_form_refuses_in_words(admin_client: Client, on_sale: Any) -> None:
    # given
    PromotionRule.objects.create(category="Tees", max_discount_percent=Decimal(10))
    # when
    response = admin_client.post(
        "/mappings/promotions/new/",
        {
            "channel": "",
            "category": " Tees ",
            "max_discount_percent": "120",
            "starts_at": "2026-12-10 00:00",
            "ends_at": "2026-12-01 00:00",
        },
    )
    # then
    assert response.status_code == 400
    assert _errors(response) == [
        "the discount must be between 0 and 100%",
        "the window must end after it starts",
        "every channel already has a rule for Tees: edit that one",
    ]
    assert PromotionRule.objects.count() == 1


def test_promotion_rule_preview_lists_the_skus_it_clears_and_saves_nothing(
    admin_client: Client, on_sale: Any
) -> None:
    # given: the sale breaches (no rule: no discount)
    assert OpsException.objects.open().get().type == ExceptionType.PRICE_BELOW_FLOOR
    # when: a 25 % rule previewed
    response = admin_client.post(
        "/mappings/promotions/preview/",
        {"channel": "", "category": "", "max_discount_percent": "25"},
        HTTP_HX_REQUEST="true",
    )
    # then
    preview = response.context["preview"]
    assert [(g.title, g.count) for g in preview.groups] == [
        ("SKUs that would breach the policy", 0),
        ("SKUs that would be back within policy", 1),
    ]
    assert preview.groups[1].rows[0].label == "TEE-1 on web"
    assert preview.summary == (
        "every category on every channel: at most 25% off the ERP price. Breaches now 1, with "
        "this change 0."
    )
    assert not PromotionRule.objects.exists()
    assert OpsException.objects.open().count() == 1


def test_promotion_rule_saved_is_in_history_and_rechecks(
    admin_client: Client, admin_user: User, on_sale: Any
) -> None:
    # when
    response = admin_client.post(
        "/mappings/promotions/new/",
        {"channel": "", "category": "", "max_discount_percent": "25", "reason": "winter sale"},
    )
    # then
    assert (response.status_code, response["Location"]) == (302, "/mappings/#section-promotions")
    rule = PromotionRule.objects.get()
    record = rule.history.first()
    assert (record.history_user, record.history_change_reason) == (admin_user, "winter sale")
    assert OpsException.objects.get().state == ExceptionState.RESOLVED
    page = admin_client.get("/mappings/")
    assert "Promotion policy" in page.content.decode()
    assert "at most 25.00% off (any time)" in page.content.decode()


def test_promotion_exclusion_preview_lists_the_skus_that_would_breach(
    admin_client: Client, on_sale: Any
) -> None:
    # given: 25 % allowed: within policy
    PromotionRule.objects.create(max_discount_percent=Decimal(25))
    OpsException.objects.all().delete()
    # when: unknown SKU, then TEE-1 excluded (previewed)
    unknown = admin_client.post("/mappings/promotion-exclusions/new/", {"sku_code": "NOPE"})
    response = admin_client.post(
        "/mappings/promotion-exclusions/preview/",
        {"sku_code": "TEE-1", "channel": ""},
        HTTP_HX_REQUEST="true",
    )
    # then
    assert _errors(unknown) == ["no SKU 'NOPE' in the catalog"]
    groups = response.context["preview"].groups
    assert (groups[0].count, groups[0].rows[0].label) == (1, "TEE-1 on web")
    assert groups[0].rows[0].detail.startswith("promotion on an excluded sku: asks 16.00")
    assert not PromotionExclusion.objects.exists()


def test_promotion_policy_section_is_for_admins(client: Client, ops_user: User) -> None:
    # when
    client.force_login(ops_user)
    response = client.get("/mappings/promotions/new/")
    # then
    assert response.status_code == 403
