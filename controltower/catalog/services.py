"""Catalog services: the only write path for master data (channels, locations, products, SKUs).

Every function is an idempotent upsert by natural key: it loads the row (locked), writes only
the fields that differ with ``save(update_fields=...)`` and otherwise creates it. A call that
changes nothing writes nothing, so no history row appears. The actor recorded in history is
the contextvar actor (see ``controltower.core.context.acting_as``).
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal
from typing import Any

from django.conf import settings
from django.db import models, transaction
from django.db.models import Q

from controltower.catalog.models import (
    SKU,
    Channel,
    ChannelPrice,
    Location,
    PaymentMethod,
    Product,
    SKUCrossReference,
)
from controltower.catalog.signals import prices_read
from controltower.core.context import acting_as
from controltower.core.models import bulk_update, stamp
from controltower.core.writepath import domain_service

logger = logging.getLogger(__name__)

# Products have no code column: their code is kept as the (source_system, external_id) identity.
PRODUCT_SOURCE_SYSTEM = "controltower"


def _upsert[M: models.Model](
    model: type[M], *, lookup: dict[str, Any], values: dict[str, Any], reason: str
) -> tuple[M, bool]:
    """Get ``model`` by ``lookup`` and write the differing ``values``, or create it.

    Returns the row and whether anything was written. Runs inside the caller's transaction.
    """
    instance = model._default_manager.select_for_update().filter(**lookup).first()
    if instance is None:
        instance = model(**lookup, **values)
        stamp(instance, f"{reason}: created"[:100])
        instance.save()
        logger.debug("created %s %s", model._meta.label, instance.pk)
        return instance, True
    changed = sorted(name for name, value in values.items() if _differs(instance, name, value))
    if not changed:
        return instance, False
    for name in changed:
        setattr(instance, name, values[name])
    stamp(instance, f"{reason}: updated {', '.join(changed)}"[:100])
    instance.save(update_fields=[*changed, "updated_at"])
    logger.debug("updated %s %s: %s", model._meta.label, instance.pk, ", ".join(changed))
    return instance, True


def _differs(instance: models.Model, name: str, value: Any) -> bool:
    """Whether ``value`` differs from what ``instance`` holds (foreign keys compare by id)."""
    field = instance._meta.get_field(name)
    if field.many_to_one:
        held_id = getattr(instance, field.attname)  # type: ignore[union-attr]
        return held_id != (value.pk if value is not None else None)
    return getattr(instance, name) != value


@domain_service
@transaction.atomic
def upsert_channel(
    *, code: str, name: str, type: str, currency: str, legal_entity: str = ""
) -> Channel:
    channel, _ = _upsert(
        Channel,
        lookup={"code": code},
        values={"name": name, "type": type, "currency": currency, "legal_entity": legal_entity},
        reason="channel master data",
    )
    return channel


@domain_service
@transaction.atomic
def upsert_location(
    *,
    code: str,
    name: str,
    type: str,
    channel: Channel | None = None,
    city: str = "",
    country: str = "",
    is_active: bool = True,
) -> Location:
    location, _ = _upsert(
        Location,
        lookup={"code": code},
        values={
            "name": name,
            "type": type,
            "channel": channel,
            "city": city,
            "country": country,
            "is_active": is_active,
        },
        reason="location master data",
    )
    return location


@domain_service
@transaction.atomic
def upsert_product(
    *,
    code: str,
    name: str,
    brand: str = "",
    category: str = "",
    tax_class: str = "standard",
) -> Product:
    """Products are keyed by ``code``, held as ``external_id`` under ``PRODUCT_SOURCE_SYSTEM``."""
    product, _ = _upsert(
        Product,
        lookup={"source_system": PRODUCT_SOURCE_SYSTEM, "external_id": code},
        values={"name": name, "brand": brand, "category": category, "tax_class": tax_class},
        reason="product master data",
    )
    return product


@domain_service
@transaction.atomic
def upsert_sku(
    *,
    code: str,
    product: Product,
    name: str,
    attributes: dict[str, Any],
    price_amount: Decimal,
    currency: str,
    barcode: str = "",
    is_active: bool = True,
) -> SKU:
    if isinstance(price_amount, float):
        raise TypeError("price_amount must be a Decimal, not a float")
    sku, _ = _upsert(
        SKU,
        lookup={"code": code},
        values={
            "product": product,
            "name": name,
            "attributes": attributes,
            "price_amount": Decimal(price_amount),
            "currency": currency,
            "barcode": barcode,
            "is_active": is_active,
        },
        reason="SKU master data",
    )
    return sku


@domain_service
@transaction.atomic
def upsert_sku_cross_reference(*, sku: SKU, system: str, system_code: str) -> SKUCrossReference:
    """How ``system`` names ``sku``; keyed by (system, system_code), re-pointed if it moved."""
    reference, _ = _upsert(
        SKUCrossReference,
        lookup={"system": system, "system_code": system_code},
        values={"sku": sku},
        reason="SKU cross reference",
    )
    return reference


COST_PLACES = Decimal("0.0001")  # SKU.cost_amount: 20 digits, 4 places
MAX_COST = Decimal(10) ** 15


@domain_service
@transaction.atomic
def set_sku_costs(costs: Mapping[str, Decimal], *, reason: str = "unit cost from the ERP") -> int:
    """Set what a unit of each SKU costs us (``{code: cost}``; the ERP's item master), the value
    at cost of drift and margins at risk. Only the SKUs whose cost differs are written, each with
    a history row naming the old and the new cost; returns how many.

    All or nothing: a float, a negative or non-finite cost, more than 4 decimals, or a code we do
    not hold raises ``TypeError`` / ``ValueError`` naming every one, and nothing is written."""
    problems = []
    for code, cost in costs.items():
        if isinstance(cost, float) or not isinstance(cost, Decimal):
            raise TypeError(f"cost of {code!r} must be a Decimal, not {type(cost).__name__}")
        if not cost.is_finite() or cost < 0 or cost >= MAX_COST:
            problems.append(f"{code!r}: {cost} is not a unit cost")
        elif cost != cost.quantize(COST_PLACES):
            problems.append(f"{code!r}: {cost} has more than 4 decimals")
    skus = list(SKU.objects.select_for_update().filter(code__in=list(costs)).order_by("pk"))
    problems += [f"{code!r}: unknown SKU" for code in sorted(set(costs) - {s.code for s in skus})]
    if problems:
        raise ValueError(f"SKU costs refused, nothing written: {'; '.join(problems[:20])}")
    changed = []
    for sku in skus:
        cost = costs[sku.code].quantize(COST_PLACES)
        if sku.cost_amount != cost:
            stamp(sku, f"{reason}: cost {sku.cost_amount} → {cost}"[:100])
            sku.cost_amount = cost
            changed.append(sku)
    bulk_update(SKU, changed, ["cost_amount"])
    if changed:
        logger.info("%d SKU cost(s) set (%s)", len(changed), reason)
    return len(changed)


def known_tax_classes() -> frozenset[str]:
    """The tax classes the business charges (``CT_TAX_CLASSES``), as WooCommerce names them."""
    return frozenset(settings.CT_TAX_CLASSES)


@dataclass(frozen=True)
class ErpItemPrice:
    """One item of the ERP's item master: its base price, tax class and the ERP's change time."""

    price: Decimal
    tax_class: str
    updated_at: datetime
    currency: str = ""  # empty: the SKU's


@dataclass
class ErpPricesResult:
    changed: int = 0
    unchanged: int = 0
    superseded: int = 0  # older than (or as old as) the change we hold: not applied


@domain_service
@transaction.atomic
def set_sku_erp_prices(
    items: Mapping[str, ErpItemPrice], *, reason: str = "item price from the ERP"
) -> ErpPricesResult:
    """Hold the ERP's base price and tax class per SKU (``{code: ErpItemPrice}``); the pricing
    policy measures every storefront price against them. Only SKUs whose price or tax class
    differs are written, each with a history row naming old and new; an item no newer than the
    one held is superseded (a late page, a replay), never applied over it.

    All or nothing: a float, a negative, non-finite or over-precise price, a tax class not in
    ``CT_TAX_CLASSES``, another currency than the SKU's, a time without a zone or a code we do
    not hold raises ``TypeError`` /
    ``ValueError`` naming every one, and nothing is written."""
    problems = []
    known = known_tax_classes()
    for code, item in items.items():
        if isinstance(item.price, float) or not isinstance(item.price, Decimal):
            raise TypeError(f"price of {code!r} must be a Decimal, not {type(item.price).__name__}")
        if not item.price.is_finite() or item.price < 0 or item.price >= MAX_COST:
            problems.append(f"{code!r}: {item.price} is not a price")
        elif item.price != item.price.quantize(COST_PLACES):
            problems.append(f"{code!r}: {item.price} has more than 4 decimals")
        if item.tax_class not in known:
            problems.append(
                f"{code!r}: unknown tax class {item.tax_class[:40]!r} "
                f"(known: {', '.join(sorted(known))})"
            )
        if item.updated_at.tzinfo is None:
            problems.append(f"{code!r}: updated_at has no time zone")
    skus = list(SKU.objects.select_for_update().filter(code__in=list(items)).order_by("pk"))
    problems += [f"{code!r}: unknown SKU" for code in sorted(set(items) - {s.code for s in skus})]
    problems += [
        f"{sku.code!r}: price in {items[sku.code].currency[:8]!r}, the SKU sells in {sku.currency}"
        for sku in skus
        if items[sku.code].currency and items[sku.code].currency != sku.currency
    ]
    if problems:
        raise ValueError(f"ERP prices refused, nothing written: {'; '.join(problems[:20])}")
    result, changed, read = ErpPricesResult(), [], []
    for sku in skus:
        item = items[sku.code]
        if sku.erp_price_updated_at is not None and item.updated_at <= sku.erp_price_updated_at:
            result.superseded += 1
            continue
        read.append(sku.pk)
        price = item.price.quantize(COST_PLACES)
        if (sku.erp_price_amount, sku.erp_tax_class) == (price, item.tax_class):
            result.unchanged += 1  # nothing written: no history row for a re-read
            continue
        stamp(
            sku,
            f"{reason}: price {sku.erp_price_amount} → {price}, tax {sku.erp_tax_class or '∅'} → "
            f"{item.tax_class}"[:100],
        )
        sku.erp_price_amount, sku.erp_tax_class = price, item.tax_class
        sku.erp_price_updated_at = item.updated_at
        changed.append(sku)
        result.changed += 1
    bulk_update(SKU, changed, ["erp_price_amount", "erp_tax_class", "erp_price_updated_at"])
    if read:
        prices_read.send(sender=SKU, sku_ids=set(read))
    logger.info(
        "ERP prices: %d changed, %d unchanged, %d superseded (%s)",
        result.changed,
        result.unchanged,
        result.superseded,
        reason,
    )
    return result


# --- master data from a channel (a WooCommerce store) -----------------------------------------
@dataclass(frozen=True)
class ChannelSKUData:
    """One sellable item as a channel holds it: a simple product, or one variation."""

    external_id: str  # the channel's id for it (a WooCommerce product or variation id)
    code: str
    name: str
    attributes: dict[str, str]
    price: Decimal
    currency: str
    is_active: bool = True
    barcode: str = ""  # empty: keep the barcode we hold
    source_updated_at: datetime | None = None
    # The storefront's price fields (kept per channel in ChannelPrice when the product names
    # its channel): regular and sale price (None: not set), the sale's schedule, and the tax
    # class (empty: the product's).
    regular_price: Decimal | None = None
    sale_price: Decimal | None = None
    sale_from: datetime | None = None
    sale_to: datetime | None = None
    tax_class: str = ""


@dataclass(frozen=True)
class ChannelProductData:
    """A channel's product: a simple product (one SKU) or a variable parent (its variations).

    ``skus`` of a variable parent may be empty when only the parent is known yet (a webhook
    carries the parent; its variations are read afterwards).
    """

    system: str  # a SystemKind
    source_system: str  # e.g. "woocommerce:woo-web"
    external_id: str
    code: str
    name: str
    category: str = ""
    tax_class: str = "standard"
    is_variable: bool = False
    skus: tuple[ChannelSKUData, ...] = ()
    source_updated_at: datetime | None = None
    channel: str = ""  # the channel's code: its prices are kept per SKU (empty: not kept)


@dataclass
class ProductSync:
    product: Product
    created: bool = False
    changed: bool = False
    stale: bool = False
    skus: list[SKU] = field(default_factory=list)


def _xref_external_id(data: ChannelProductData, sku: ChannelSKUData) -> str:
    """Where the channel files a SKU: ``<product>`` or ``<parent>/<variation>``."""
    if data.is_variable:
        return f"{data.external_id}/{sku.external_id}"
    return data.external_id


def _held_skus(data: ChannelProductData) -> dict[str, SKU]:
    """The SKUs we already hold for the channel's items, by the channel's id for each."""
    references = SKUCrossReference.objects.filter(
        system=data.system, system_code__in=[s.external_id for s in data.skus]
    ).select_related("sku")
    held = {ref.system_code: ref.sku for ref in references}
    by_code = {
        sku.code: sku
        for sku in SKU.objects.filter(
            code__in=[s.code for s in data.skus if s.external_id not in held]
        )
    }
    for item in data.skus:
        if item.external_id not in held and item.code in by_code:
            held[item.external_id] = by_code[item.code]
    return held


def _find_product(data: ChannelProductData, held: dict[str, SKU]) -> Product | None:
    product = (
        Product.objects.select_for_update()
        .filter(source_system=data.source_system, external_id=data.external_id)
        .first()
    )
    if product is not None:
        return product
    for sku in held.values():
        return Product.objects.select_for_update().get(pk=sku.product_id)
    references = SKUCrossReference.objects.filter(
        source_system=data.source_system, external_id__startswith=f"{data.external_id}/"
    ).select_related("sku")
    for reference in references:
        return Product.objects.select_for_update().get(pk=reference.sku.product_id)
    return None


@domain_service
@transaction.atomic
def apply_channel_product(data: ChannelProductData) -> ProductSync:
    """Bring a channel's product and its SKUs into the catalog; idempotent.

    A product or SKU is found by where the channel files it (its cross reference), else by SKU
    code, else created under the channel's identity. Only differing fields are written, so the
    same data applied twice writes no history. Data older than what we hold is refused (stale).
    """
    reason = f"from {data.source_system}"
    held = _held_skus(data)
    product = _find_product(data, held)
    channel = Channel.objects.filter(code=data.channel).first() if data.channel else None
    read: set[int] = set()
    result: ProductSync
    values = {"name": data.name[:255], "category": data.category[:100], "tax_class": data.tax_class}
    if product is None:
        product = Product(
            source_system=data.source_system,
            external_id=data.external_id,
            source_updated_at=data.source_updated_at,
            **values,
        )
        stamp(product, f"{reason}: created")
        product.save()
        result = ProductSync(product=product, created=True, changed=True)
    elif product.is_stale(data.source_updated_at):
        return ProductSync(product=product, stale=True)
    else:
        if data.source_updated_at is not None:
            values["source_updated_at"] = data.source_updated_at
        product, changed = _upsert(Product, lookup={"pk": product.pk}, values=values, reason=reason)
        result = ProductSync(product=product, changed=changed)

    for item in data.skus:
        sku = held.get(item.external_id)
        if sku is not None and sku.is_stale(item.source_updated_at):
            result.skus.append(sku)
            continue
        sku_values: dict[str, Any] = {
            "product": product,
            "name": item.name[:255],
            "attributes": item.attributes,
            "price_amount": item.price,
            "currency": item.currency,
            "is_active": item.is_active,
        }
        if item.barcode:
            sku_values["barcode"] = item.barcode[:64]
        if item.source_updated_at is not None:
            sku_values["source_updated_at"] = item.source_updated_at
        if sku is None:
            sku = SKU(
                code=item.code[:64],
                source_system=data.source_system,
                external_id=item.external_id,
                **sku_values,
            )
            stamp(sku, f"SKU master data {reason}: created")
            sku.save()
            changed = True
        else:
            sku, changed = _upsert(
                SKU, lookup={"pk": sku.pk}, values=sku_values, reason=f"SKU master data {reason}"
            )
        _, xref_changed = _upsert(
            SKUCrossReference,
            lookup={"system": data.system, "system_code": item.external_id},
            values={
                "sku": sku,
                "source_system": data.source_system,
                "external_id": _xref_external_id(data, item),
            },
            reason=f"SKU cross reference {reason}",
        )
        result.changed = result.changed or changed or xref_changed
        result.skus.append(sku)
        if channel is not None:
            _upsert_channel_price(data, item, sku, channel, reason=reason)
            read.add(sku.pk)
    if read:
        prices_read.send(sender=ChannelPrice, sku_ids=read)
    return result


def _upsert_channel_price(
    data: ChannelProductData, item: ChannelSKUData, sku: SKU, channel: Channel, *, reason: str
) -> None:
    """The storefront's price fields of one SKU on its channel (a row per SKU × channel)."""
    values: dict[str, Any] = {
        "currency": item.currency,
        "price_amount": item.price,
        "regular_price_amount": item.regular_price,
        "sale_price_amount": item.sale_price,
        "sale_from": item.sale_from,
        "sale_to": item.sale_to,
        "tax_class": (item.tax_class or data.tax_class or "standard")[:32],
        "source_system": data.source_system,
        "external_id": _xref_external_id(data, item),
    }
    if item.source_updated_at is not None:
        values["source_updated_at"] = item.source_updated_at
    _upsert(
        ChannelPrice,
        lookup={"sku": sku, "channel": channel},
        values=values,
        reason=f"storefront price {reason}",
    )


@domain_service
@transaction.atomic
def deactivate_channel_product(
    *, system: str, source_system: str, external_id: str, reason: str
) -> list[SKU]:
    """The channel deleted a product (or variation): its SKUs stop being active, never deleted.

    Returns the SKUs it names (empty when we hold none: nothing to do).
    """
    references = SKUCrossReference.objects.filter(
        Q(system=system, system_code=external_id)
        | Q(source_system=source_system, external_id=external_id)
        | Q(source_system=source_system, external_id__startswith=f"{external_id}/")
    )
    sku_ids = set(references.values_list("sku_id", flat=True))
    product = Product.objects.filter(source_system=source_system, external_id=external_id).first()
    if product is not None:
        sku_ids.update(product.skus.values_list("pk", flat=True))
    skus = []
    for sku in SKU.objects.filter(pk__in=sku_ids).order_by("pk"):
        sku, _ = _upsert(SKU, lookup={"pk": sku.pk}, values={"is_active": False}, reason=reason)
        skus.append(sku)
    return skus


# --- admin-edited configuration ----------------------------------------------------------------


@domain_service
def save_payment_method(method: PaymentMethod, *, actor: Any, reason: str) -> PaymentMethod:
    """Create or change a payment method (when its money is taken is read on each order's next
    step), with the person and their reason in history."""
    with transaction.atomic(), acting_as(actor):
        stamp(method, reason[:100])
        method.save()
    return method


@domain_service
def delete_payment_method(method: PaymentMethod, *, actor: Any, reason: str) -> None:
    """Remove a payment method: orders paid with it are then expected at the gateway at
    checkout (the default for an unknown method)."""
    with transaction.atomic(), acting_as(actor):
        stamp(method, reason[:100])
        method.delete()
