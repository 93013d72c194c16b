"""The demo retailer: Northwind Outfitters, a fashion and home brand selling online and in stores.

``seed_demo`` is idempotent: it upserts by natural key and writes only what differs, so a second
run with the same arguments changes nothing and leaves no history rows. Everything is written as
the ``system.demo`` service user. The catalog is generated from the tables in ``retailer.py`` with a
fixed random seed, so every install gets the same SKUs, barcodes, stock and WooCommerce ids.

Stock is not seeded here: like every figure it reaches Control Tower from the systems that count
it (``inventory.services.record_stock_reports``). :func:`opening_stock` is what the demo loads
into the WMS and ERP simulators (``estate.load_stock``), whose feeds then report it.
"""

from __future__ import annotations

import calendar
import logging
import random
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group
from django.db import models, transaction
from django.utils import timezone

from controltower.catalog import services as catalog_services
from controltower.catalog.choices import ChannelType, LocationType, SystemKind
from controltower.catalog.models import (
    SKU,
    Channel,
    Location,
    PaymentMethod,
    Product,
    SKUCrossReference,
)
from controltower.core.context import acting_as
from controltower.core.models import stamp
from controltower.demo.retailer import (
    BRAND,
    CURRENCY,
    DEMO_ACTOR,
    EMAIL_DOMAIN,
    ERP_CONNECTION,
    FLASH_SALE_ON_HAND,
    FLASH_SALE_SKUS,
    GATEWAY_CONNECTION,
    GL_ACCOUNTS,
    GL_MAPPINGS,
    LEDGER_CONNECTION,
    MAX_ON_HAND,
    PAYMENT_METHODS,
    PEOPLE,
    POS_CHANNEL,
    POS_CONNECTION,
    POS_STATUS_MAP,
    PROMOTION_MAX_DISCOUNT,
    RANDOM_SEED,
    STAGE_SLAS,
    STORE_MAX_ON_HAND,
    STORE_SKUS_EVERY,
    STORES,
    UNIT_COST_SHARE,
    WAREHOUSES,
    WEB_ALLOCATION_PERCENT,
    WEB_CHANNEL,
    WEB_SAFETY_STOCK,
    WEB_VIRTUAL_LOCATION,
    WMS_CONNECTION,
    WOO_CONNECTION,
    WOO_STATUS_MAP,
    catalog_specs,
)
from controltower.finance.choices import PeriodStatus
from controltower.finance.models import FiscalPeriod, GLAccount, GLMapping, PostingGate
from controltower.inventory.models import ChannelAllocationRule
from controltower.orders.models import ChannelStatusMapping, StageSLA
from controltower.pricing.models import PromotionRule
from controltower.pricing.services import save_promotion_rule
from integrations.runtime.crypto import CredentialsError
from integrations.runtime.models import Connection

logger = logging.getLogger(__name__)

# Every model the seed writes; history rows by the demo actor are counted per run.
_SEEDED_MODELS: tuple[type[models.Model], ...] = (
    Channel,
    Location,
    Product,
    SKU,
    SKUCrossReference,
    ChannelStatusMapping,
    ChannelAllocationRule,
    GLAccount,
    GLMapping,
    FiscalPeriod,
    PaymentMethod,
    StageSLA,
    PostingGate,
    PromotionRule,
    Connection,
)


# --- the seed -----------------------------------------------------------------------------------


def seed_demo(
    *,
    woo_base_url: str,
    woo_webhook_secret: str,
    woo_consumer_key: str,
    woo_consumer_secret: str,
    erp_base_url: str,
    erp_token: str,
    password: str,
    erp_webhook_secret: str = "",
    systems: dict[str, tuple[str, dict[str, str]]] | None = None,
) -> dict[str, int]:
    """Create or bring up to date the Northwind Outfitters demo; returns counts of what it holds.

    ``history_rows`` is how many history rows this run wrote: 0 when nothing had to change.
    """
    started = timezone.now()
    with acting_as(DEMO_ACTOR) as actor, transaction.atomic():
        web, stores_channel = _seed_channels()
        status_mappings = _seed_status_mappings(web, WOO_STATUS_MAP)
        status_mappings += _seed_status_mappings(stores_channel, POS_STATUS_MAP)
        warehouses, stores, _virtual = _seed_locations(web=web, stores_channel=stores_channel)
        skus, products, references = _seed_catalog()
        rules = _seed_allocation_rules(channel=web, warehouses=warehouses)
        accounts, mappings, periods = _seed_finance(today=timezone.localdate())
        methods, slas = _seed_lifecycle()
        promotion_rules = _seed_price_policy(actor)
        connections = _seed_connections(
            web=web,
            stores_channel=stores_channel,
            woo_base_url=woo_base_url,
            woo_credentials={
                "webhook_secret": woo_webhook_secret,
                "consumer_key": woo_consumer_key,
                "consumer_secret": woo_consumer_secret,
            },
            erp_base_url=erp_base_url,
            erp_credentials={
                "token": erp_token,
                **({"webhook_secret": erp_webhook_secret} if erp_webhook_secret else {}),
            },
            systems=systems or {},
        )
        users = _seed_users(password=password)
        history_rows = sum(
            model.history.filter(history_user=actor, history_date__gte=started).count()  # type: ignore[attr-defined]
            for model in _SEEDED_MODELS
        )
    counts = {
        "channels": 2,
        "status_mappings": status_mappings,
        "locations": len(warehouses) + len(stores) + 1,  # + the web store's virtual location
        "warehouses": len(warehouses),
        "stores": len(stores),
        "products": products,
        "skus": len(skus),
        "sku_cross_references": references,
        "allocation_rules": rules,
        "gl_accounts": accounts,
        "gl_mappings": mappings,
        "fiscal_periods": periods,
        "payment_methods": methods,
        "stage_slas": slas,
        "promotion_rules": promotion_rules,
        "connections": connections,
        "users": users,
        "history_rows": history_rows,
    }
    logger.info("demo seeded: %s", ", ".join(f"{key}={value}" for key, value in counts.items()))
    return counts


def _seed_channels() -> tuple[Channel, Channel]:
    web = catalog_services.upsert_channel(
        code=WEB_CHANNEL,
        name="Northwind web store",
        type=ChannelType.WOOCOMMERCE,
        currency=CURRENCY,
    )
    stores = catalog_services.upsert_channel(
        code=POS_CHANNEL, name="Northwind stores", type=ChannelType.POS, currency=CURRENCY
    )
    return web, stores


def _seed_status_mappings(channel: Channel, mapping: dict[str, Any]) -> int:
    """The channel's statuses → order states (the store's, or the tills' completed / voided)."""
    for channel_status, state in mapping.items():
        _ensure(
            ChannelStatusMapping,
            lookup={"channel": channel, "channel_status": channel_status},
            values={"state": state.value},
            reason=f"demo {channel.code} status mapping",
        )
    return len(mapping)


def _seed_locations(
    *, web: Channel, stores_channel: Channel
) -> tuple[list[Location], list[Location], Location]:
    warehouses = [
        catalog_services.upsert_location(
            code=code, name=name, type=LocationType.WAREHOUSE, city=city, country=country
        )
        for code, name, city, country in WAREHOUSES
    ]
    stores = [
        catalog_services.upsert_location(
            code=code,
            name=name,
            type=LocationType.STORE,
            channel=stores_channel,
            city=city,
            country=country,
        )
        for code, name, city, country in STORES
    ]
    code, name = WEB_VIRTUAL_LOCATION
    virtual = catalog_services.upsert_location(
        code=code, name=name, type=LocationType.CHANNEL_VIRTUAL, channel=web
    )
    return warehouses, stores, virtual


def _seed_catalog() -> tuple[list[SKU], int, int]:
    products: dict[str, Product] = {}
    skus: list[SKU] = []
    references = 0
    for spec in catalog_specs():
        product = products.get(spec.product_code)
        if product is None:
            product = products[spec.product_code] = catalog_services.upsert_product(
                code=spec.product_code,
                name=spec.product.name,
                brand=BRAND,
                category=spec.product.category,
            )
        sku = catalog_services.upsert_sku(
            code=spec.code,
            product=product,
            name=spec.name,
            attributes=spec.attributes,
            price_amount=spec.price,
            currency=CURRENCY,
            barcode=spec.barcode,
        )
        _seed_woo_reference(sku, spec)
        catalog_services.upsert_sku_cross_reference(
            sku=sku, system=SystemKind.ERP, system_code=spec.erp_item
        )
        references += 2
        skus.append(sku)
    return skus, len(products), references


def _seed_woo_reference(sku: SKU, spec: Any) -> None:
    """The store's id for the SKU filed exactly as the product pull files it
    (``catalog.services.apply_channel_product``): ``system_code`` the variation, ``source_system``
    the connection, ``external_id`` ``<parent>/<variation>``. Stock publishing finds a SKU's place
    in the shop by these, so the demo publishes from its first figure (and the pull, when it
    runs, finds nothing to change)."""
    _ensure(
        SKUCrossReference,
        lookup={"system": SystemKind.WOOCOMMERCE.value, "system_code": str(spec.woo_variation_id)},
        values={
            "sku": sku,
            "source_system": f"{SystemKind.WOOCOMMERCE.value}:{WOO_CONNECTION}",
            "external_id": f"{spec.woo_product_id}/{spec.woo_variation_id}",
        },
        reason="SKU cross reference as the product pull files it",
    )


@dataclass(frozen=True)
class OpeningStock:
    """One SKU's count at one warehouse, as the WMS and the ERP hold it when the demo starts."""

    sku: str
    location: str
    on_hand: int
    unit_cost: Decimal


def opening_stock() -> list[OpeningStock]:
    """A believable on-hand per SKU and warehouse, the same on every install (fixed seed); the
    flash-sale SKUs have ``FLASH_SALE_ON_HAND`` at the first DC and none elsewhere. The unit cost
    is ``UNIT_COST_SHARE`` of the price.

    Stores are not here: their counts come from the POS (:func:`store_opening_stock`)."""
    rng = random.Random(RANDOM_SEED)
    first = WAREHOUSES[0][0]
    rows = []
    for spec in catalog_specs():
        cost = (spec.price * UNIT_COST_SHARE).quantize(Decimal("0.01"))
        for code, *_ in WAREHOUSES:
            on_hand = rng.randint(0, MAX_ON_HAND)  # drawn for every pair, so values are stable
            if spec.code in FLASH_SALE_SKUS:
                on_hand = FLASH_SALE_ON_HAND if code == first else 0
            rows.append(OpeningStock(spec.code, code, on_hand, cost))
    return rows


def store_opening_stock() -> dict[str, list[tuple[str, int]]]:
    """Each store's opening count as its POS reports it (``tills.Tills.count_stock``): every
    ``STORE_SKUS_EVERY``-th SKU (a different selection per store), 3 to ``STORE_MAX_ON_HAND``
    on the shelf, the same on every install. The flash-sale SKUs are web-only."""
    rng = random.Random(RANDOM_SEED + 1)
    specs = [spec for spec in catalog_specs() if spec.code not in FLASH_SALE_SKUS]
    return {
        code: [
            (spec.code, rng.randint(3, STORE_MAX_ON_HAND))
            for position, spec in enumerate(specs)
            if position % STORE_SKUS_EVERY == number % STORE_SKUS_EVERY
        ]
        for number, (code, *_) in enumerate(STORES)
    }


def erp_items() -> list[dict[str, str]]:
    """The ERP's item master for the demo: every SKU at its catalog price (the store's regular
    price), standard tax class, loaded into the ERP simulator (``prices.load_prices``)."""
    return [
        {"sku": spec.code, "price": f"{spec.price:.4f}", "currency": CURRENCY,
         "tax_class": "standard"}
        for spec in catalog_specs()
    ]  # fmt: skip


def _seed_price_policy(actor: Any) -> int:
    """One promotion rule for every channel and category: at most ``PROMOTION_MAX_DISCOUNT`` %
    off the ERP price (without a rule no discount at all is allowed). Through the pricing
    service, so a changed rule is checked at once; left alone when it already says that."""
    rule = PromotionRule.objects.filter(channel__isnull=True, category="").first()
    if rule is not None and rule.max_discount_percent == PROMOTION_MAX_DISCOUNT:
        return 1
    rule = rule or PromotionRule(channel=None, category="")
    rule.max_discount_percent = PROMOTION_MAX_DISCOUNT
    rule.note = "Demo policy: promotions at most 20 % off the ERP price"
    save_promotion_rule(rule, actor=actor, reason="demo promotion policy")
    return 1


def _seed_allocation_rules(*, channel: Channel, warehouses: list[Location]) -> int:
    for warehouse in warehouses:
        _ensure(
            ChannelAllocationRule,
            lookup={"channel": channel, "location": warehouse},
            values={
                "percent": WEB_ALLOCATION_PERCENT,
                "safety_stock": WEB_SAFETY_STOCK,
                "cap": None,
            },
            reason="demo allocation rule",
        )
    return len(warehouses)


def _seed_finance(*, today: Any) -> tuple[int, int, int]:
    accounts = {
        code: _ensure(
            GLAccount,
            lookup={"code": code},
            values={"name": name, "type": account_type.value},
            reason="demo chart of accounts",
        )
        for code, name, account_type in GL_ACCOUNTS
    }
    for event, code in GL_MAPPINGS.items():
        _ensure(
            GLMapping,
            lookup={"event": event.value, "channel": None},
            values={"account": accounts[code]},
            reason="demo posting rule",
        )
    starts_on = today.replace(day=1)
    ends_on = today.replace(day=calendar.monthrange(today.year, today.month)[1])
    period = FiscalPeriod.objects.filter(legal_entity="default", starts_on=starts_on).first()
    if period is None:  # an existing period is left alone: it may have been closed on purpose
        period = FiscalPeriod(
            legal_entity="default", starts_on=starts_on, ends_on=ends_on, status=PeriodStatus.OPEN
        )
        stamp(period, "demo fiscal period")
        period.save()
    return len(accounts), len(GL_MAPPINGS), 1


def _seed_lifecycle() -> tuple[int, int]:
    """Payment methods, stage SLAs and the default posting gate (captured, shipped, invoiced)."""
    for code, name, mode in PAYMENT_METHODS:
        _ensure(
            PaymentMethod,
            lookup={"code": code},
            values={"name": name, "capture_mode": mode.value},
            reason="demo payment method",
        )
    for stage, minutes, description in STAGE_SLAS:
        _ensure(
            StageSLA,
            lookup={"stage": stage.value},
            values={"minutes": minutes, "description": description},
            reason="demo stage SLA",
        )
    _ensure(PostingGate, lookup={"channel": None}, values={}, reason="demo posting gate")
    return len(PAYMENT_METHODS), len(STAGE_SLAS)


def _seed_connections(
    *,
    web: Channel,
    stores_channel: Channel,
    woo_base_url: str,
    woo_credentials: dict[str, str],
    erp_base_url: str,
    erp_credentials: dict[str, str],
    systems: dict[str, tuple[str, dict[str, str]]],
) -> int:
    """The store and the ERP always; the gateway, warehouse, ledger and the stores' tills (on
    the stores' channel) when ``systems`` names them (kind → (base URL, credentials))."""
    specs = [
        (WOO_CONNECTION, "WooCommerce — Northwind web store", SystemKind.WOOCOMMERCE, web,
         woo_base_url, woo_credentials),
        (ERP_CONNECTION, "Northwind ERP", SystemKind.ERP, None, erp_base_url, erp_credentials),
    ]  # fmt: skip
    names = {
        SystemKind.PAYMENTS: (GATEWAY_CONNECTION, "Payment gateway (Stripe-shaped)"),
        SystemKind.WMS: (WMS_CONNECTION, "Northwind warehouse (WMS)"),
        SystemKind.FINANCE: (LEDGER_CONNECTION, "Northwind general ledger"),
        SystemKind.POS: (POS_CONNECTION, "Northwind store tills (POS)"),
    }
    for kind, (slug, display_name) in names.items():
        if kind.value in systems:
            base_url, credentials = systems[kind.value]
            channel = stores_channel if kind == SystemKind.POS else None
            specs.append((slug, display_name, kind, channel, base_url, credentials))
    for slug, display_name, kind, channel, base_url, credentials in specs:
        values = {
            "name": display_name,
            "kind": kind.value,
            "channel": channel,
            "base_url": base_url,
        }
        connection = Connection.objects.filter(slug=slug).first()
        if connection is None:
            connection = Connection(slug=slug, **values)
            connection.set_credentials(credentials)
            stamp(connection, "demo connection: created")
            connection.save()
            continue
        changed = sorted(key for key, value in values.items() if _differs(connection, key, value))
        for key in changed:
            setattr(connection, key, values[key])
        # Encryption is not deterministic: compare plain values and re-encrypt only on change.
        if _stored_credentials(connection) != credentials:
            connection.set_credentials(credentials)
            changed.append("credentials_encrypted")
        if changed:
            stamp(connection, f"demo connection: updated {', '.join(changed)}")
            connection.save(update_fields=[*changed, "updated_at"])
    return len(specs)


def _stored_credentials(connection: Connection) -> dict[str, Any] | None:
    try:
        return connection.credentials
    except CredentialsError:  # encrypted with a key that is no longer configured: replace them
        return None


def _seed_users(*, password: str) -> int:
    user_model = get_user_model()
    for person in PEOPLE:
        group, _ = Group.objects.get_or_create(name=person.role)
        values = {
            "first_name": person.first_name,
            "last_name": person.last_name,
            "email": f"{person.first_name.lower()}.{person.last_name.lower()}@{EMAIL_DOMAIN}",
            "is_active": True,
            "is_staff": person.is_staff,
            "is_superuser": False,
        }
        user = user_model.objects.filter(username=person.username).first()
        if user is None:
            user = user_model(username=person.username, **values)
            user.set_password(password)
            user.save()
        else:
            changed = [name for name, value in values.items() if getattr(user, name) != value]
            if not user.check_password(password):
                user.set_password(password)
                changed.append("password")
            if changed:
                for name in changed:
                    if name != "password":
                        setattr(user, name, values[name])
                user.save(update_fields=changed)
        if set(user.groups.values_list("pk", flat=True)) != {group.pk}:
            user.groups.set([group])
    return len(PEOPLE)


def _ensure[M: models.Model](
    model: type[M], *, lookup: dict[str, Any], values: dict[str, Any], reason: str
) -> M:
    """Upsert for models without a services module yet (get, write what differs, or create)."""
    instance = model._default_manager.filter(**_query(lookup)).first()
    if instance is None:
        instance = model(**lookup, **values)
        stamp(instance, f"{reason}: created")
        instance.save()
        return instance
    changed = sorted(name for name, value in values.items() if _differs(instance, name, value))
    if changed:
        for name in changed:
            setattr(instance, name, values[name])
        stamp(instance, f"{reason}: updated {', '.join(changed)}")
        instance.save(update_fields=[*changed, "updated_at"])
    return instance


def _query(lookup: dict[str, Any]) -> dict[str, Any]:
    """``field=None`` must be ``field__isnull=True`` in a filter."""
    return {
        (f"{k}__isnull" if v is None else k): (True if v is None else v) for k, v in lookup.items()
    }


def _differs(instance: models.Model, name: str, value: Any) -> bool:
    field = instance._meta.get_field(name)
    if field.many_to_one:
        return getattr(instance, field.attname) != (value.pk if value is not None else None)
    return getattr(instance, name) != value


# --- the WooCommerce simulator's catalog --------------------------------------------------------


def catalog_for_woocommerce() -> list[dict[str, Any]]:
    """The web-sellable SKUs as the WooCommerce simulator's ``--catalog`` items.

    Ids are the stable ones from ``catalog_specs``; name, price and attributes come from the
    database, so an edited price shows up in the store. Inactive SKUs are left out.
    """
    specs = {spec.code: spec for spec in catalog_specs()}
    items: list[dict[str, Any]] = []
    for sku in SKU.objects.filter(code__in=specs, is_active=True).select_related("product"):
        spec = specs[sku.code]
        items.append(
            {
                "sku": sku.code,
                "name": sku.name,
                "price": str(sku.price_amount.quantize(Decimal("0.01"))),
                "product_id": spec.woo_product_id,
                "variation_id": spec.woo_variation_id,
                "parent_name": sku.product.name,
                "attributes": dict(sku.attributes),
            }
        )
    items.sort(key=lambda item: (item["product_id"], item["variation_id"]))
    return items
