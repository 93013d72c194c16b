"""The price policy: each breach a storefront price can make (below the floor, outside its
window, on an excluded SKU, a tax class that is not the ERP's), one within policy, what each
exception says and its margin at risk, and the exception closing once the price is fixed —
driven through the catalog's services, as the product sync and the ERP item pull call them."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

import pytest
from django.utils import timezone

from controltower.catalog.choices import SystemKind
from controltower.catalog.models import SKU, ChannelPrice
from controltower.catalog.services import (
    ChannelProductData,
    ChannelSKUData,
    ErpItemPrice,
    apply_channel_product,
    set_sku_erp_prices,
)
from controltower.core.context import acting_as
from controltower.core.writepath import service_scope
from controltower.exceptions.choices import ExceptionState, ExceptionType, Severity
from controltower.exceptions.models import OpsException
from controltower.inventory.models import AvailableToSell
from controltower.pricing.checks import check_prices
from controltower.pricing.models import PromotionExclusion, PromotionRule
from controltower.pricing.services import save_promotion_exclusion, save_promotion_rule
from tests.factories.catalog import ChannelFactory

SOURCE = "woocommerce:woo-web"
CODE = "TEE-1"
_clock = [datetime(2026, 12, 1, 9, 0, tzinfo=UTC)]


def _tick() -> datetime:
    _clock[0] += timedelta(seconds=1)
    return _clock[0]


def store(
    *,
    regular: str = "20.00",
    sale: str | None = None,
    sale_from: datetime | None = None,
    sale_to: datetime | None = None,
    price: str | None = None,
    tax_class: str = "standard",
    category: str = "Tees",
) -> None:
    """The storefront's product as the product sync reads it (a simple product)."""
    modified = _tick()
    charged = price or (sale if sale is not None else regular)
    data = ChannelProductData(
        system=SystemKind.WOOCOMMERCE,
        source_system=SOURCE,
        external_id="110",
        code=CODE,
        name="Organic Tee",
        category=category,
        tax_class=tax_class,
        source_updated_at=modified,
        channel="web",
        skus=(
            ChannelSKUData(
                external_id="110",
                code=CODE,
                name="Organic Tee",
                attributes={},
                price=Decimal(charged),
                currency="EUR",
                source_updated_at=modified,
                regular_price=Decimal(regular),
                sale_price=Decimal(sale) if sale is not None else None,
                sale_from=sale_from,
                sale_to=sale_to,
                tax_class=tax_class,
            ),
        ),
    )
    with acting_as("sync.woocommerce"):
        apply_channel_product(data)


def erp(price: str = "20.00", tax_class: str = "standard") -> None:
    with acting_as("sync.erp"):
        set_sku_erp_prices({CODE: ErpItemPrice(Decimal(price), tax_class, _tick())})


def rule(percent: str, **fields: Any) -> PromotionRule:
    with acting_as("system.pricing"):
        return save_promotion_rule(
            PromotionRule(max_discount_percent=Decimal(percent), **fields),
            actor=None,
            reason="test policy",
        )


def open_ones() -> dict[str, OpsException]:
    return {e.type: e for e in OpsException.objects.open()}


@pytest.fixture
def web(db: None) -> Any:
    """The web channel, selling TEE-1 at its regular 20.00 (no ERP price yet: nothing checked)."""
    channel = ChannelFactory(code="web")
    store()
    return channel


# --- within policy -------------------------------------------------------------------------------
@pytest.mark.django_db
def test_check_prices_a_sale_within_policy_opens_nothing(web: Any) -> None:
    # given: 20 % off allowed; the store sells at 17.00 (15 % off the ERP's 20.00)
    rule("20")
    store(sale="17.00", tax_class="standard")
    # when
    erp("20.00", "standard")
    # then
    assert open_ones() == {}
    held = ChannelPrice.objects.get(sku__code=CODE, channel=web)
    assert (held.regular_price_amount, held.sale_price_amount, held.tax_class) == (
        Decimal("20.0000"),
        Decimal("17.0000"),
        "standard",
    )


# --- below the floor -----------------------------------------------------------------------------
@pytest.mark.django_db
def test_check_prices_sale_below_floor_opens_one_exception_with_margin_at_risk(web: Any) -> None:
    # given: at most 10 % off (floor 18.00); the channel may sell 7 units
    rule("10")
    erp("20.00")
    sku = SKU.objects.get(code=CODE)
    with service_scope():
        AvailableToSell.objects.create(sku=sku, channel=web, quantity=7, computed_at=timezone.now())
    # when: marketing puts it at 15.00
    store(sale="15.00")
    # then: 7 units × (18.00 − 15.00) at risk
    exc = open_ones()[ExceptionType.PRICE_BELOW_FLOOR]
    assert exc.title == "Price below floor: TEE-1 on web at 15.00 (floor 18.00)"
    assert exc.detail == (
        "The store asks 15.00 EUR (regular 20.00, sale 15.00); ERP price 20.00 EUR, the rule "
        "allows 10.00% off: the floor is 18.00. Margin at risk 21.00 EUR over 7 unit(s)."
    )
    assert (exc.money_at_risk_amount, exc.severity) == (Decimal("21.0000"), Severity.HIGH)
    assert exc.context["price_push"] is True
    assert list(open_ones()) == [ExceptionType.PRICE_BELOW_FLOOR]
    # when: the same price read again
    store(sale="15.00")
    # then: still one exception
    assert OpsException.objects.filter(type=ExceptionType.PRICE_BELOW_FLOOR).count() == 1


@pytest.mark.django_db
def test_check_prices_without_a_rule_no_discount_is_allowed_and_units_default_to_one(
    web: Any,
) -> None:
    # given: no rule, no ATS figure
    erp("20.00")
    # when
    store(regular="19.50")
    # then
    exc = open_ones()[ExceptionType.PRICE_BELOW_FLOOR]
    assert "no promotion rule covers it, so no discount is allowed" in exc.detail
    assert exc.money_at_risk_amount == Decimal("0.5000")


@pytest.mark.django_db
def test_check_prices_most_specific_rule_governs(web: Any) -> None:
    # given: 10 % for everything, 40 % for tees on the web channel
    rule("10")
    rule("40", channel=web, category="Tees")
    erp("20.00")
    # when: 35 % off
    store(sale="13.00")
    # then: within the tee rule
    assert open_ones() == {}


@pytest.mark.django_db
def test_check_prices_closes_the_exception_when_the_price_is_fixed(web: Any) -> None:
    # given
    rule("10")
    erp("20.00")
    store(sale="15.00")
    exc = open_ones()[ExceptionType.PRICE_BELOW_FLOOR]
    # when: the store's sale is back within policy
    store(sale="18.00")
    # then
    exc.refresh_from_db()
    assert exc.state == ExceptionState.RESOLVED
    assert exc.resolution_reason == "the storefront price is within the policy again"
    assert exc.history.first().history_user.username == "sync.woocommerce"


@pytest.mark.django_db
def test_check_prices_a_new_erp_price_reopens_the_breach(web: Any) -> None:
    # given: in policy at the ERP's 20.00
    rule("10")
    erp("20.00")
    store(sale="18.00")
    assert open_ones() == {}
    # when: the ERP raises the base price
    erp("25.00")
    # then: 18.00 is under the new floor 22.50
    exc = open_ones()[ExceptionType.PRICE_BELOW_FLOOR]
    assert exc.title == "Price below floor: TEE-1 on web at 18.00 (floor 22.50)"


# --- windows -------------------------------------------------------------------------------------
@pytest.mark.django_db
def test_check_prices_sale_shown_after_its_schedule_ended_is_out_of_window(web: Any) -> None:
    # given: the store's sale ended yesterday, but it still charges the sale price
    rule("20")
    erp("20.00")
    ended = timezone.now() - timedelta(days=1)
    # when
    store(sale="17.00", sale_from=ended - timedelta(days=7), sale_to=ended)
    # then
    exc = open_ones()[ExceptionType.PROMOTION_OUT_OF_WINDOW]
    assert exc.title == "Promotion outside its window: TEE-1 on web at 17.00"
    assert exc.detail.startswith("The store charges the sale price outside its own schedule")
    assert exc.money_at_risk_amount == Decimal("3.0000")
    assert list(open_ones()) == [ExceptionType.PROMOTION_OUT_OF_WINDOW]


@pytest.mark.django_db
def test_check_prices_scheduled_sale_past_the_rule_window_is_caught_before_it_starts(
    web: Any,
) -> None:
    # given: promotions allowed for the next week only
    now = timezone.now()
    rule("30", starts_at=now - timedelta(days=1), ends_at=now + timedelta(days=7))
    erp("20.00")
    # when: a sale is scheduled from tomorrow for a month (not charged yet)
    store(
        sale="16.00",
        price="20.00",
        sale_from=now + timedelta(days=1),
        sale_to=now + timedelta(days=30),
    )
    # then
    exc = open_ones()[ExceptionType.PROMOTION_OUT_OF_WINDOW]
    assert "runs outside the promotion window" in exc.detail
    # when: the sale is cut to the window
    store(
        sale="16.00",
        price="20.00",
        sale_from=now + timedelta(days=1),
        sale_to=now + timedelta(days=6),
    )
    # then
    assert open_ones() == {}


@pytest.mark.django_db
def test_check_prices_sale_before_the_window_opens(web: Any) -> None:
    # given: the Christmas window has not opened
    now = timezone.now()
    rule("30", starts_at=now + timedelta(days=5), ends_at=now + timedelta(days=20))
    erp("20.00")
    # when: a sale with no schedule (in force now)
    store(sale="16.00")
    # then
    assert list(open_ones()) == [ExceptionType.PROMOTION_OUT_OF_WINDOW]


# --- exclusions ----------------------------------------------------------------------------------
@pytest.mark.django_db
def test_check_prices_sale_on_an_excluded_sku(web: Any) -> None:
    # given
    rule("50")
    erp("20.00")
    store(regular="20.00")
    with acting_as("system.pricing"):
        save_promotion_exclusion(
            PromotionExclusion(sku=SKU.objects.get(code=CODE), channel=None),
            actor=None,
            reason="new collection",
        )
    # when
    store(sale="19.00")
    # then
    exc = open_ones()[ExceptionType.PROMOTION_EXCLUDED]
    assert exc.detail == (
        "TEE-1 is excluded from promotion on web, yet the store has a sale price of 19.00 EUR. "
        "ERP price 20.00 EUR; margin at risk 1.00 EUR over 1 unit(s)."
    )
    assert list(open_ones()) == [ExceptionType.PROMOTION_EXCLUDED]


# --- tax class -----------------------------------------------------------------------------------
@pytest.mark.django_db
def test_check_prices_tax_class_not_the_erps(web: Any) -> None:
    # given
    erp("20.00", "standard")
    # when: the store charges the reduced rate
    store(tax_class="reduced-rate")
    # then
    exc = open_ones()[ExceptionType.TAX_CLASS_MISMATCH]
    assert exc.title == "Tax class differs: TEE-1 on web is 'reduced-rate', the ERP says 'standard'"
    assert exc.money_at_risk_amount == 0
    # when: the ERP agrees after all
    erp("20.00", "reduced-rate")
    # then
    assert open_ones() == {}


# --- the policy edited ---------------------------------------------------------------------------
@pytest.mark.django_db
def test_save_promotion_rule_rechecks_every_price_with_the_person_in_history(
    web: Any, admin_user: Any
) -> None:
    # given: a sale below the floor of no rule
    erp("20.00")
    store(sale="16.00")
    exc = open_ones()[ExceptionType.PRICE_BELOW_FLOOR]
    # when: the admin allows 25 %
    saved = save_promotion_rule(
        PromotionRule(max_discount_percent=Decimal("25")), actor=admin_user, reason="winter sale"
    )
    # then
    exc.refresh_from_db()
    assert exc.state == ExceptionState.RESOLVED
    record = saved.history.first()
    assert (record.history_user, record.history_change_reason) == (admin_user, "winter sale")


@pytest.mark.django_db
def test_check_prices_beat_run_sees_a_window_that_closed(web: Any) -> None:
    # given: within the window now
    now = timezone.now()
    rule("30", ends_at=now + timedelta(hours=1))
    erp("20.00")
    store(sale="16.00", sale_to=now + timedelta(minutes=30))
    assert open_ones() == {}
    # when: two hours later the sale is still charged (the store's schedule job did not run)
    with acting_as("system.pricing"):
        check_prices(now=now + timedelta(hours=2))
    # then
    assert list(open_ones()) == [ExceptionType.PROMOTION_OUT_OF_WINDOW]
