"""Catalog services: the only write path for master data (channels, locations, products, SKUs).

Every function is an idempotent upsert by natural key: it loads the row (locked), writes only
the fields that differ with ``save(update_fields=...)`` and otherwise creates it. A call that
changes nothing writes nothing, so no history row appears. The actor recorded in history is
the contextvar actor (see ``controltower.core.context.acting_as``).
"""

from __future__ import annotations

import logging
from decimal import Decimal
from typing import Any

from django.db import models, transaction

from controltower.catalog.models import SKU, Channel, Location, Product, SKUCrossReference
from controltower.core.models import stamp
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
        stamp(instance, f"{reason}: created")
        instance.save()
        logger.debug("created %s %s", model._meta.label, instance.pk)
        return instance, True
    changed = sorted(name for name, value in values.items() if _differs(instance, name, value))
    if not changed:
        return instance, False
    for name in changed:
        setattr(instance, name, values[name])
    stamp(instance, f"{reason}: updated {', '.join(changed)}")
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
