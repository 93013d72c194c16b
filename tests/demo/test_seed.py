from __future__ import annotations

import logging
import re
from collections import Counter
from decimal import Decimal
from typing import Any

import pytest
from django.contrib.auth import get_user_model

from controltower.catalog.choices import LocationType, SystemKind
from controltower.catalog.models import SKU, Channel, Location, SKUCrossReference
from controltower.core.context import acting_as
from controltower.demo.retailer import FLASH_SALE_SKUS, STORE_MAX_ON_HAND, STORES, catalog_specs
from controltower.demo.seed import (
    catalog_for_woocommerce,
    erp_items,
    opening_stock,
    seed_demo,
    store_opening_stock,
)
from controltower.finance.choices import PeriodStatus, PostingEvent
from controltower.finance.models import FiscalPeriod, GLMapping
from controltower.inventory.models import ChannelAllocationRule, StockPosition
from controltower.inventory.services import PublishItem
from controltower.orders.models import ChannelStatusMapping
from controltower.pricing.models import PromotionRule
from integrations.runtime.models import Connection
from integrations.woocommerce import products, stock
from integrations.woocommerce.simulator import WooCommerceSimulator

logger = logging.getLogger(__name__)

SEED_ARGS: dict[str, str] = {
    "woo_base_url": "http://127.0.0.1:8102",
    "woo_webhook_secret": "whsec-test-5d1c",
    "woo_consumer_key": "ck_test_91aa",
    "woo_consumer_secret": "cs_test_07bf",
    "erp_base_url": "http://127.0.0.1:8101",
    "erp_token": "erp-token-test-c3e2",
    "password": "correct horse battery",
}


@pytest.fixture(autouse=True)
def _fast_password_hashing(settings: Any) -> None:
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]


def _seed(**overrides: str) -> dict[str, int]:
    return seed_demo(**{**SEED_ARGS, **overrides})


def _ean13_valid(code: str) -> bool:
    if len(code) != 13 or not code.isdigit():
        return False
    total = sum(int(digit) * (3 if index % 2 else 1) for index, digit in enumerate(code[:12]))
    return (10 - total % 10) % 10 == int(code[12])


@pytest.mark.django_db
def test_seed_demo_creates_the_retailer() -> None:
    # given an empty database

    # when
    counts = _seed()

    # then
    assert 190 <= counts["skus"] <= 220
    assert SKU.objects.count() == counts["skus"]
    assert counts["products"] == 40
    assert Location.objects.filter(type=LocationType.WAREHOUSE).count() == 3
    assert Location.objects.filter(type=LocationType.STORE).count() == 10
    virtual = Location.objects.get(type=LocationType.CHANNEL_VIRTUAL)
    assert virtual.channel is not None and virtual.channel.code == "web"
    web = Channel.objects.get(code="web")
    assert (web.name, web.type, web.currency) == ("Northwind web store", "woocommerce", "EUR")
    assert Channel.objects.get(code="stores").type == "pos"
    assert counts["locations"] == 14
    assert counts["users"] == 5


@pytest.mark.django_db
def test_seed_demo_skus_are_believable_variants() -> None:
    # given
    _seed()

    # when
    tee = SKU.objects.get(code="NW-TEE-001-BLK-M")
    skus = list(SKU.objects.all())

    # then
    assert tee.name == "Organic Cotton Tee — Black / M"
    assert tee.attributes == {"Colour": "Black", "Size": "M"}
    assert tee.price_amount == Decimal("24.95")
    assert tee.currency == "EUR"
    assert all(sku.price_amount == sku.price_amount.quantize(Decimal("0.01")) for sku in skus)
    assert all(sku.price_amount > 0 for sku in skus)
    assert all(_ean13_valid(sku.barcode) for sku in skus)
    assert len({sku.barcode for sku in skus}) == len(skus)
    assert all(re.fullmatch(r"NW-[A-Z]{3}-\d{3}(-[A-Z0-9]+){1,2}", sku.code) for sku in skus)
    references = Counter(tee.cross_references.values_list("system", flat=True))
    assert references == {SystemKind.WOOCOMMERCE: 1, SystemKind.ERP: 1}


@pytest.mark.django_db
def test_seed_demo_allocates_stock_to_the_web_and_leaves_figures_to_the_feeds() -> None:
    # given
    _seed()

    # when
    rules = ChannelAllocationRule.objects.filter(channel__code="web")

    # then: the web sells 80 % of each DC's stock above 2; no figure without a system's count
    assert {(rule.location.code, rule.percent, rule.safety_stock) for rule in rules} == {
        (code, Decimal("80.00"), 2) for code in ("dc-rotterdam", "dc-leipzig", "dc-milan")
    }
    assert StockPosition.objects.count() == 0


def test_opening_stock_is_stable_with_flash_sale_skus_at_one_dc() -> None:
    # given
    specs = {spec.code: spec for spec in catalog_specs()}

    # when
    rows = opening_stock()

    # then: every SKU at every DC, the same on every call, costed at 42 % of its price
    assert rows == opening_stock()
    assert len(rows) == len(specs) * 3
    assert len({(row.sku, row.location) for row in rows}) == len(rows)
    assert all(0 <= row.on_hand <= 120 for row in rows)
    assert all(row.unit_cost == (specs[row.sku].price * Decimal("0.42")).quantize(Decimal("0.01"))
               for row in rows)  # fmt: skip
    flash = {(row.sku, row.location): row.on_hand for row in rows if row.sku in FLASH_SALE_SKUS}
    assert flash == {
        (code, location): 9 if location == "dc-rotterdam" else 0
        for code in FLASH_SALE_SKUS
        for location in ("dc-rotterdam", "dc-leipzig", "dc-milan")
    }


@pytest.mark.django_db
def test_seed_demo_files_store_ids_where_stock_publishing_finds_them() -> None:
    # given
    counts = _seed()
    woo = Connection.objects.get(slug="woo-web")
    tee = SKU.objects.get(code="NW-TEE-001-BLK-M")
    spec = next(spec for spec in catalog_specs() if spec.code == tee.code)

    # when
    reference = SKUCrossReference.objects.get(sku=tee, system=SystemKind.WOOCOMMERCE)
    items = [PublishItem(sku.pk, sku.code, 1) for sku in SKU.objects.all()]
    targets, missing = stock.targets_for(woo, items)

    # then: filed as the product pull files a variation; every SKU has its place in the shop
    assert (reference.system_code, reference.source_system, reference.external_id) == (
        str(spec.woo_variation_id),
        "woocommerce:woo-web",
        f"{spec.woo_product_id}/{spec.woo_variation_id}",
    )
    assert missing == {}
    assert len(targets) == counts["skus"]
    assert {t.parent for t in targets if t.item.sku == tee.code} == {spec.woo_product_id}


@pytest.mark.django_db
def test_product_pull_from_the_demo_store_changes_no_cross_reference() -> None:
    # given: the seeded retailer and its store, holding the seeded catalog
    _seed()
    shop = WooCommerceSimulator(
        consumer_key=SEED_ARGS["woo_consumer_key"],
        consumer_secret=SEED_ARGS["woo_consumer_secret"],
        catalog=catalog_for_woocommerce(),
    )
    shop.serve_in_thread()
    woo = Connection.objects.get(slug="woo-web")
    woo.base_url = shop.url
    woo.save(update_fields=["base_url"])
    before = SKUCrossReference.history.count()
    try:
        # when
        with acting_as("sync.woocommerce"):
            run = products.pull_products(woo)
    finally:
        shop.shutdown()

    # then: the pull finds every reference where the seed filed it
    assert run.status == "succeeded", run.error
    assert SKUCrossReference.history.count() == before


@pytest.mark.django_db
def test_seed_demo_maps_woocommerce_statuses_and_postings() -> None:
    # given
    _seed()

    # when
    statuses = dict(
        ChannelStatusMapping.objects.filter(channel__code="web").values_list(
            "channel_status", "state"
        )
    )
    mappings = dict(
        GLMapping.objects.filter(channel__isnull=True).values_list("event", "account__code")
    )

    # then
    assert statuses == {
        "pending": "pending_payment",
        "processing": "accepted",
        "on-hold": "on_hold",
        "completed": "completed",
        "cancelled": "cancelled",
        "refunded": "refunded",
        "failed": "failed",
        "checkout-draft": "received",
    }
    assert set(mappings) == set(PostingEvent.values)
    assert mappings[PostingEvent.GROSS_SALES] == "4000"
    assert mappings[PostingEvent.TAX_PAYABLE] == "2100"
    assert FiscalPeriod.objects.filter(status=PeriodStatus.OPEN).count() == 1


@pytest.mark.django_db
def test_seed_demo_connects_the_tills_on_the_stores_channel() -> None:
    # given
    systems = {"pos": ("http://127.0.0.1:8106", {"token": "t", "webhook_secret": "whsec-pos"})}

    # when
    counts = seed_demo(**SEED_ARGS, systems=systems)  # type: ignore[arg-type]

    # then
    pos = Connection.objects.get(slug="pos-stores")
    assert (pos.kind, pos.channel.code, pos.base_url) == ("pos", "stores", "http://127.0.0.1:8106")
    assert pos.credentials == {"token": "t", "webhook_secret": "whsec-pos"}
    statuses = dict(
        ChannelStatusMapping.objects.filter(channel__code="stores").values_list(
            "channel_status", "state"
        )
    )
    assert statuses == {"completed": "accepted", "voided": "cancelled"}
    assert counts["status_mappings"] == 10
    # the tills sell from their own shelf: the stores' channel has no allocation rule, so a
    # sale reserves at its store (a rule would let a sale reserve at whichever store has most)
    assert not ChannelAllocationRule.objects.filter(channel__code="stores").exists()
    gift_cards = GLMapping.objects.get(event=PostingEvent.GIFT_CARDS, channel__isnull=True)
    assert gift_cards.account.code == "2300"
    codes = set(Location.objects.filter(type=LocationType.STORE).values_list("code", flat=True))
    assert codes == {f"store-{n:02d}" for n in range(1, 11)}  # the POS's store ids


@pytest.mark.django_db
def test_seed_demo_sets_the_promotion_policy_once() -> None:
    # given
    _seed()

    # when
    second = _seed()

    # then
    rule = PromotionRule.objects.get()
    assert (rule.channel, rule.category, rule.max_discount_percent) == (None, "", Decimal("20"))
    assert second["promotion_rules"] == 1
    assert second["history_rows"] == 0


def test_store_opening_stock_is_stable_and_on_the_stores_shelves() -> None:
    # given
    prices = {spec.code: spec.price for spec in catalog_specs()}

    # when
    first, second = store_opening_stock(), store_opening_stock()

    # then
    assert first == second
    assert set(first) == {code for code, *_ in STORES}
    for items in first.values():
        assert 50 <= len(items) <= 80
        assert all(3 <= on_hand <= STORE_MAX_ON_HAND for _, on_hand in items)
        assert not {sku for sku, _ in items} & set(FLASH_SALE_SKUS)
    items = erp_items()
    assert len(items) == len(prices)
    assert all(Decimal(item["price"]) == prices[item["sku"]] for item in items)
    assert {item["tax_class"] for item in items} == {"standard"}


@pytest.mark.django_db
def test_seed_demo_users_have_their_roles() -> None:
    # given
    _seed()

    # when
    users = {user.username: user for user in get_user_model().objects.filter(is_active=True)}

    # then
    groups = {name: sorted(u.groups.values_list("name", flat=True)) for name, u in users.items()}
    assert groups == {
        "ops": ["ops"],
        "finance": ["finance"],
        "finance2": ["finance"],
        "exec": ["executive"],
        "admin": ["admin"],
    }
    assert users["admin"].is_staff
    assert not any(user.is_superuser for user in users.values())
    assert all(user.check_password(SEED_ARGS["password"]) for user in users.values())
    assert all(user.email.endswith("@northwind-outfitters.example") for user in users.values())


@pytest.mark.django_db
def test_seed_demo_is_idempotent() -> None:
    # given
    first = _seed()
    sku_history = SKU.history.count()
    reference_history = SKUCrossReference.history.count()
    connection_history = Connection.history.count()

    # when
    second = _seed()

    # then
    assert first["history_rows"] > 0
    assert second == {**first, "history_rows": 0}
    assert SKU.objects.count() == first["skus"]
    assert SKU.history.count() == sku_history
    assert SKUCrossReference.history.count() == reference_history
    assert Connection.history.count() == connection_history
    assert get_user_model().objects.filter(is_active=True).count() == 5


@pytest.mark.django_db
def test_seed_demo_rerun_updates_changed_connection_settings() -> None:
    # given
    _seed()

    # when
    counts = _seed(erp_base_url="http://erp.internal:9000", erp_token="rotated-token")

    # then
    erp = Connection.objects.get(slug="erp-main")
    assert erp.base_url == "http://erp.internal:9000"
    assert erp.credentials == {"token": "rotated-token"}
    assert counts["history_rows"] == 1
    assert erp.history.first().history_change_reason.startswith("demo connection: updated")


@pytest.mark.django_db
def test_seed_demo_encrypts_connection_credentials() -> None:
    # given
    _seed()

    # when
    woo = Connection.objects.get(slug="woo-web")
    erp = Connection.objects.get(slug="erp-main")

    # then
    assert (woo.kind, woo.channel.code, woo.base_url) == (
        "woocommerce",
        "web",
        "http://127.0.0.1:8102",
    )
    for secret in ("whsec-test-5d1c", "ck_test_91aa", "cs_test_07bf"):
        assert secret not in woo.credentials_encrypted
    assert SEED_ARGS["erp_token"] not in erp.credentials_encrypted
    assert woo.credentials == {
        "webhook_secret": "whsec-test-5d1c",
        "consumer_key": "ck_test_91aa",
        "consumer_secret": "cs_test_07bf",
    }
    assert erp.credentials == {"token": "erp-token-test-c3e2"}


@pytest.mark.django_db
def test_seed_demo_history_names_the_demo_actor() -> None:
    # given
    _seed()

    # when
    record = SKU.history.filter(code="NW-TEE-001-BLK-M").get()
    actors = {
        model.__name__: set(model.history.values_list("history_user__username", flat=True))
        for model in (SKU, Channel, Location, SKUCrossReference, Connection, GLMapping)
    }

    # then
    assert record.history_user.username == "system.demo"
    assert record.history_change_reason == "SKU master data: created"
    assert all(names == {"system.demo"} for names in actors.values()), actors


@pytest.mark.django_db
def test_catalog_for_woocommerce_lists_sellable_skus_with_stable_ids() -> None:
    # given
    counts = _seed()

    # when
    catalog = catalog_for_woocommerce()

    # then
    assert len(catalog) == counts["skus"]
    assert catalog == catalog_for_woocommerce()
    item = next(entry for entry in catalog if entry["sku"] == "NW-TEE-001-BLK-M")
    assert item["name"] == "Organic Cotton Tee — Black / M"
    assert item["price"] == "24.95"
    assert all({"sku", "name", "price", "product_id", "variation_id"} <= set(i) for i in catalog)
    assert all(re.fullmatch(r"\d+\.\d{2}", entry["price"]) for entry in catalog)
    assert all(type(e["product_id"]) is int and type(e["variation_id"]) is int for e in catalog)
    assert len({entry["variation_id"] for entry in catalog}) == len(catalog)
    assert len({entry["product_id"] for entry in catalog}) == counts["products"]


@pytest.mark.django_db
def test_catalog_for_woocommerce_leaves_out_inactive_skus() -> None:
    # given
    counts = _seed()
    sku = SKU.objects.get(code="NW-TEE-001-BLK-M")
    sku.is_active = False
    sku.save(update_fields=["is_active", "updated_at"])

    # when
    catalog = catalog_for_woocommerce()

    # then
    assert len(catalog) == counts["skus"] - 1
    assert "NW-TEE-001-BLK-M" not in {entry["sku"] for entry in catalog}
