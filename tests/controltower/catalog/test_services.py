"""Catalog services: channel products (simple and variable) applied idempotently, stale data
refused, deleted products deactivated and never deleted."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest

from controltower.catalog.choices import SystemKind
from controltower.catalog.models import SKU, Product, SKUCrossReference
from controltower.catalog.services import (
    ChannelProductData,
    ChannelSKUData,
    apply_channel_product,
    deactivate_channel_product,
    upsert_product,
    upsert_sku,
    upsert_sku_cross_reference,
)
from controltower.core.context import acting_as

SOURCE = "woocommerce:woo-web"
T0 = datetime(2026, 11, 22, 10, 0, tzinfo=UTC)


def _variable(
    *, price: str = "79.00", modified: datetime = T0, name: str = "Merino Crew"
) -> ChannelProductData:
    return ChannelProductData(
        system=SystemKind.WOOCOMMERCE,
        source_system=SOURCE,
        external_id="130",
        code="woo-product-130",
        name=name,
        category="Knitwear",
        is_variable=True,
        source_updated_at=modified,
        skus=tuple(
            ChannelSKUData(
                external_id=str(131 + i),
                code=f"KN-MER-{size}",
                name=f"{name} — {size}",
                attributes={"Size": size},
                price=Decimal(price),
                currency="EUR",
                source_updated_at=modified,
            )
            for i, size in enumerate(("S", "M"))
        ),
    )


def _apply(data: ChannelProductData):
    with acting_as("sync.woocommerce"):
        return apply_channel_product(data)


@pytest.mark.django_db
def test_apply_channel_product_creates_product_skus_and_cross_references() -> None:
    # given
    data = _variable()
    # when
    result = _apply(data)
    # then
    assert result.created and result.changed
    product = Product.objects.get()
    assert (product.source_system, product.external_id, product.name) == (
        SOURCE,
        "130",
        "Merino Crew",
    )
    skus = {s.code: s for s in SKU.objects.all()}
    assert set(skus) == {"KN-MER-S", "KN-MER-M"}
    assert skus["KN-MER-M"].attributes == {"Size": "M"}
    assert skus["KN-MER-M"].price_amount == Decimal("79.00")
    assert skus["KN-MER-M"].product_id == product.pk
    assert dict(SKUCrossReference.objects.values_list("system_code", "external_id")) == {
        "131": "130/131",
        "132": "130/132",
    }
    assert skus["KN-MER-S"].history.get().history_user.username == "sync.woocommerce"


@pytest.mark.django_db
def test_apply_channel_product_unchanged_writes_no_history() -> None:
    # given
    _apply(_variable())
    counts = (Product.history.count(), SKU.history.count(), SKUCrossReference.history.count())
    # when
    result = _apply(_variable())
    # then
    assert not result.changed and not result.created
    assert (
        Product.history.count(),
        SKU.history.count(),
        SKUCrossReference.history.count(),
    ) == counts


@pytest.mark.django_db
def test_apply_channel_product_new_price_is_one_history_row_per_sku() -> None:
    # given
    _apply(_variable())
    # when
    result = _apply(_variable(price="69.00", modified=T0 + timedelta(hours=1)))
    # then
    assert result.changed
    sku = SKU.objects.get(code="KN-MER-S")
    assert sku.price_amount == Decimal("69.00")
    latest = sku.history.first()
    assert latest.history_change_reason == (
        f"SKU master data from {SOURCE}: updated price_amount, source_updated_at"
    )
    assert sku.history.count() == 2


@pytest.mark.django_db
def test_apply_channel_product_stale_data_is_refused() -> None:
    # given
    _apply(_variable(price="69.00", modified=T0 + timedelta(hours=1)))
    # when
    result = _apply(_variable(price="79.00", modified=T0))
    # then
    assert result.stale
    assert SKU.objects.get(code="KN-MER-S").price_amount == Decimal("69.00")


@pytest.mark.django_db
def test_apply_channel_product_adopts_skus_we_already_hold() -> None:
    # given: the catalog as seeded (our product code, a barcode, the variation id)
    with acting_as("system.demo"):
        seeded = upsert_product(code="NW-MER", name="Merino Crew Sweater")
        sku = upsert_sku(
            code="KN-MER-S",
            product=seeded,
            name="Merino S",
            attributes={"Size": "S"},
            price_amount=Decimal("79.00"),
            currency="EUR",
            barcode="8712345000017",
        )
        upsert_sku_cross_reference(sku=sku, system=SystemKind.WOOCOMMERCE, system_code="131")
    # when
    _apply(_variable())
    # then: no second product; the barcode we hold stays
    assert Product.objects.count() == 1
    sku.refresh_from_db()
    assert sku.product_id == seeded.pk
    assert sku.barcode == "8712345000017"
    assert SKU.objects.get(code="KN-MER-M").product_id == seeded.pk


@pytest.mark.django_db
def test_apply_channel_product_unicode_name_is_kept() -> None:
    # given
    data = _variable(name="Pull en mérinos — «Ærø» 毛衣 🧶")
    # when
    _apply(data)
    # then
    assert Product.objects.get().name == "Pull en mérinos — «Ærø» 毛衣 🧶"
    assert SKU.objects.get(code="KN-MER-S").name == "Pull en mérinos — «Ærø» 毛衣 🧶 — S"


@pytest.mark.django_db
def test_deactivate_channel_product_deactivates_every_variation_never_deletes() -> None:
    # given
    _apply(_variable())
    # when
    with acting_as("sync.woocommerce"):
        skus = deactivate_channel_product(
            system=SystemKind.WOOCOMMERCE,
            source_system=SOURCE,
            external_id="130",
            reason="deleted in the store",
        )
    # then
    assert sorted(s.code for s in skus) == ["KN-MER-M", "KN-MER-S"]
    assert SKU.objects.filter(is_active=True).count() == 0
    assert SKU.objects.count() == 2
    assert SKU.objects.get(code="KN-MER-S").history.first().history_change_reason == (
        "deleted in the store: updated is_active"
    )


@pytest.mark.django_db
def test_deactivate_channel_product_unknown_id_changes_nothing() -> None:
    # given
    _apply(_variable())
    # when
    with acting_as("sync.woocommerce"):
        skus = deactivate_channel_product(
            system=SystemKind.WOOCOMMERCE, source_system=SOURCE, external_id="999", reason="x"
        )
    # then
    assert skus == []
    assert SKU.objects.filter(is_active=True).count() == 2
