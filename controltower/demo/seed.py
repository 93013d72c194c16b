"""The demo retailer: Northwind Outfitters, a fashion and home brand selling online and in stores.

``seed_demo`` is idempotent: it upserts by natural key and writes only what differs, so a second
run with the same arguments changes nothing and leaves no history rows. Everything is written as
the ``system.demo`` service user. The catalog is generated from the tables below with a fixed
random seed, so every install gets the same SKUs, barcodes, stock and WooCommerce ids.
"""

from __future__ import annotations

import calendar
import logging
import random
from collections.abc import Iterator
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group
from django.db import models, transaction
from django.utils import timezone

from controltower.accounts import roles
from controltower.catalog import services as catalog_services
from controltower.catalog.choices import ChannelType, LocationType, SystemKind
from controltower.catalog.models import SKU, Channel, Location, Product, SKUCrossReference
from controltower.core.context import acting_as
from controltower.core.models import stamp
from controltower.finance.choices import AccountType, PeriodStatus, PostingEvent
from controltower.finance.models import FiscalPeriod, GLAccount, GLMapping
from controltower.inventory.choices import ReportingSystem
from controltower.inventory.models import ChannelAllocationRule, StockPosition
from controltower.orders.choices import OrderState
from controltower.orders.models import ChannelStatusMapping
from integrations.runtime.crypto import CredentialsError
from integrations.runtime.models import Connection
from integrations.woocommerce.translate import STATUS_MAPPING

logger = logging.getLogger(__name__)

DEMO_ACTOR = "system.demo"
RANDOM_SEED = 20_240_611
CURRENCY = "EUR"
BRAND = "Northwind Outfitters"
EMAIL_DOMAIN = "northwind-outfitters.example"

WEB_CHANNEL = "web"
POS_CHANNEL = "stores"
WOO_CONNECTION = "woo-web"
ERP_CONNECTION = "erp-main"

# WooCommerce ids: product ``WOO_PRODUCT_BASE + n`` (n = 1-based product number), its variations
# ``product_id * 100 + v`` (v = 1-based variant number). Stable as long as the tables only grow.
WOO_PRODUCT_BASE = 2000
# EAN-13: GS1 Netherlands prefix 87 + a made-up company prefix, then a running item number.
EAN_COMPANY_PREFIX = "871984"
ERP_ITEM_BASE = 400_000

WEB_ALLOCATION_PERCENT = Decimal("80.00")
WEB_SAFETY_STOCK = 2
MAX_ON_HAND = 120

# WooCommerce's core statuses, and the demo store's block-checkout drafts as received.
WOO_STATUS_MAP: dict[str, OrderState] = {**STATUS_MAPPING, "checkout-draft": OrderState.RECEIVED}

# --- the catalog --------------------------------------------------------------------------------

COLOUR_CODES: dict[str, str] = {
    "Black": "BLK",
    "White": "WHT",
    "Navy": "NAV",
    "Sand": "SND",
    "Navy Stripe": "NVS",
    "Red Stripe": "RDS",
    "Charcoal": "CHA",
    "Oatmeal": "OAT",
    "Forest": "FOR",
    "Cream": "CRM",
    "Light Blue": "LBL",
    "Sage": "SAG",
    "Khaki": "KHA",
    "Indigo": "IND",
    "Olive": "OLV",
    "Camel": "CAM",
    "Terracotta": "TER",
    "Grey": "GRY",
    "Mustard": "MUS",
    "Red": "RED",
    "Natural": "NAT",
    "Brown": "BRN",
    "Tan": "TAN",
    "Stone": "STN",
    "Slate": "SLT",
    "Clay": "CLY",
    "Rust": "RST",
    "Moss": "MOS",
    "Fig": "FIG",
    "Cedar": "CED",
    "Sea Salt": "SEA",
    "Indigo Stripe": "INS",
    "Ivory": "IVR",
    "Cobalt": "COB",
    "Clear": "CLR",
    "Smoke": "SMK",
}
SIZE_CODES: dict[str, str] = {
    "Hand": "HND",
    "Bath": "BTH",
    "Single": "SGL",
    "Double": "DBL",
    "King": "KNG",
    "36–40": "3640",
    "41–45": "4145",
    "120×170": "120",
    "160×230": "160",
}
TOPS = ("S", "M", "L", "XL")
WOMENS = ("XS", "S", "M", "L")
WAISTS = ("30", "32", "34", "36")


@dataclass(frozen=True)
class ProductSpec:
    code: str  # e.g. "TEE-001"; SKU codes are "NW-<code>-<colour>-<size>"
    name: str
    category: str
    price: str
    colours: tuple[str, ...] = ()
    sizes: tuple[str, ...] = ()
    colour_attribute: str = "Colour"
    size_prices: tuple[tuple[str, str], ...] = ()  # sizes priced differently from ``price``


PRODUCTS: tuple[ProductSpec, ...] = (
    # apparel
    ProductSpec("TEE-001", "Organic Cotton Tee", "Apparel / Tops", "24.95",
                ("Black", "White", "Navy"), TOPS),
    ProductSpec("TEE-002", "Heavyweight Pocket Tee", "Apparel / Tops", "29.95",
                ("Black", "Sand"), TOPS),
    ProductSpec("TEE-003", "Striped Breton Top", "Apparel / Tops", "39.95",
                ("Navy Stripe", "Red Stripe"), WOMENS),
    ProductSpec("SWT-001", "Merino Crew Sweater", "Apparel / Knitwear", "89.00",
                ("Charcoal", "Oatmeal"), TOPS),
    ProductSpec("SWT-002", "Brushed Fleece Hoodie", "Apparel / Sweats", "69.95",
                ("Black", "Forest"), TOPS),
    ProductSpec("SWT-003", "Cable Knit Cardigan", "Apparel / Knitwear", "99.00",
                ("Cream", "Navy"), ("S", "M", "L")),
    ProductSpec("SHI-001", "Oxford Button-Down Shirt", "Apparel / Shirts", "59.95",
                ("White", "Light Blue"), TOPS),
    ProductSpec("SHI-002", "Linen Camp Shirt", "Apparel / Shirts", "64.95",
                ("Sand", "Sage"), TOPS),
    ProductSpec("TRS-001", "Slim Chino", "Apparel / Trousers", "69.95",
                ("Navy", "Khaki"), WAISTS),
    ProductSpec("TRS-002", "Relaxed Denim Jeans", "Apparel / Trousers", "89.95",
                ("Indigo", "Black"), WAISTS),
    ProductSpec("OUT-001", "Packable Rain Jacket", "Apparel / Outerwear", "129.00",
                ("Navy", "Olive"), TOPS),
    ProductSpec("OUT-002", "Quilted Gilet", "Apparel / Outerwear", "89.00",
                ("Black", "Navy"), ("S", "M", "L")),
    ProductSpec("OUT-003", "Wool Overcoat", "Apparel / Outerwear", "249.00",
                ("Camel", "Charcoal"), ("S", "M", "L")),
    ProductSpec("DRS-001", "Linen Midi Dress", "Apparel / Dresses", "89.95",
                ("Terracotta", "Black"), WOMENS),
    ProductSpec("SKT-001", "Pleated Midi Skirt", "Apparel / Skirts", "64.95",
                ("Olive", "Black"), WOMENS),
    ProductSpec("SHO-001", "Canvas Low-Top Sneaker", "Footwear", "74.95",
                ("White", "Navy"), ("40", "41", "42", "43", "44")),
    ProductSpec("SOC-001", "Merino Socks (3-pack)", "Apparel / Socks", "19.95",
                ("Grey", "Navy"), ("36–40", "41–45")),
    # accessories
    ProductSpec("BEA-001", "Ribbed Wool Beanie", "Accessories", "24.95",
                ("Black", "Grey", "Mustard", "Navy")),
    ProductSpec("SCF-001", "Lambswool Scarf", "Accessories", "39.95",
                ("Camel", "Grey", "Red")),
    ProductSpec("TOT-001", "Canvas Tote Bag", "Accessories / Bags", "19.95",
                ("Natural", "Black")),
    ProductSpec("BPK-001", "Waxed Canvas Backpack", "Accessories / Bags", "119.00",
                ("Olive", "Black")),
    ProductSpec("BLT-001", "Leather Belt", "Accessories", "49.95",
                ("Brown", "Black"), ("85", "95", "105")),
    ProductSpec("CRD-001", "Leather Card Holder", "Accessories", "29.00",
                ("Tan", "Black", "Forest")),
    ProductSpec("CAP-001", "Organic Cotton Cap", "Accessories", "22.95",
                ("Navy", "Stone")),
    # home
    ProductSpec("MUG-001", "Stoneware Mug", "Home / Tableware", "14.50",
                ("Sage", "Sand", "Slate", "White")),
    ProductSpec("PLT-001", "Stoneware Dinner Plate", "Home / Tableware", "16.95",
                ("Sand", "Slate")),
    ProductSpec("BWL-001", "Stoneware Bowl", "Home / Tableware", "14.95",
                ("Sand", "Slate")),
    ProductSpec("TWL-001", "Waffle Towel", "Home / Bath", "29.95",
                ("White", "Sage", "Clay"), ("Hand", "Bath"), size_prices=(("Hand", "16.95"),)),
    ProductSpec("DUV-001", "Linen Duvet Cover", "Home / Bedding", "149.00",
                ("White", "Sage", "Stone"), ("Single", "Double", "King"),
                size_prices=(("Single", "119.00"), ("King", "179.00"))),
    ProductSpec("PIL-001", "Linen Pillowcase Pair", "Home / Bedding", "39.95",
                ("White", "Sage", "Stone")),
    ProductSpec("THR-001", "Wool Throw Blanket", "Home / Living", "89.00",
                ("Oatmeal", "Charcoal", "Rust")),
    ProductSpec("CUS-001", "Bouclé Cushion Cover", "Home / Living", "34.95",
                ("Cream", "Moss")),
    ProductSpec("CND-001", "Soy Wax Candle", "Home / Fragrance", "24.00",
                ("Fig", "Cedar", "Sea Salt"), colour_attribute="Scent"),
    ProductSpec("DIF-001", "Reed Diffuser", "Home / Fragrance", "29.95",
                ("Fig", "Cedar"), colour_attribute="Scent"),
    ProductSpec("TEA-001", "Linen Tea Towel (2-pack)", "Home / Kitchen", "17.95",
                ("Natural", "Indigo Stripe")),
    ProductSpec("VAS-001", "Glazed Bud Vase", "Home / Living", "22.00",
                ("Ivory", "Moss", "Cobalt")),
    ProductSpec("BSK-001", "Seagrass Storage Basket", "Home / Storage", "29.95",
                (), ("S", "M", "L"), size_prices=(("S", "24.95"), ("L", "39.95"))),
    ProductSpec("APR-001", "Linen Apron", "Home / Kitchen", "34.95",
                ("Natural", "Charcoal")),
    ProductSpec("GLS-001", "Recycled Glass Tumbler (set of 4)", "Home / Tableware", "27.50",
                ("Clear", "Smoke")),
    ProductSpec("RUG-001", "Jute Area Rug", "Home / Living", "149.00",
                (), ("120×170", "160×230"), size_prices=(("160×230", "229.00"),)),
)  # fmt: skip


@dataclass(frozen=True)
class SKUSpec:
    code: str
    product: ProductSpec
    product_code: str
    name: str
    attributes: dict[str, str]
    price: Decimal
    barcode: str
    woo_product_id: int
    woo_variation_id: int
    erp_item: str


def ean13(first_twelve: str) -> str:
    """``first_twelve`` digits plus the EAN-13 check digit."""
    if len(first_twelve) != 12 or not first_twelve.isdigit():
        raise ValueError(f"EAN-13 needs 12 digits before the check digit, got {first_twelve!r}")
    total = sum(int(d) * (3 if i % 2 else 1) for i, d in enumerate(first_twelve))
    return f"{first_twelve}{(10 - total % 10) % 10}"


def _variants(spec: ProductSpec) -> Iterator[tuple[str | None, str | None]]:
    for colour in spec.colours or (None,):
        for size in spec.sizes or (None,):
            yield colour, size


def catalog_specs() -> list[SKUSpec]:
    """Every demo SKU, in a fixed order, with its stable barcode and external ids."""
    specs: list[SKUSpec] = []
    item = 0
    for number, product in enumerate(PRODUCTS, start=1):
        product_id = WOO_PRODUCT_BASE + number
        size_prices = dict(product.size_prices)
        for variant, (colour, size) in enumerate(_variants(product), start=1):
            item += 1
            parts = [f"NW-{product.code}"]
            labels: list[str] = []
            attributes: dict[str, str] = {}
            if colour is not None:
                parts.append(COLOUR_CODES[colour])
                labels.append(colour)
                attributes[product.colour_attribute] = colour
            if size is not None:
                parts.append(SIZE_CODES.get(size, size))
                labels.append(size)
                attributes["Size"] = size
            specs.append(
                SKUSpec(
                    code="-".join(parts),
                    product=product,
                    product_code=f"NW-{product.code}",
                    name=f"{product.name} — {' / '.join(labels)}",
                    attributes=attributes,
                    price=Decimal(size_prices.get(size or "", product.price)),
                    barcode=ean13(f"{EAN_COMPANY_PREFIX}{item:06d}"),
                    woo_product_id=product_id,
                    woo_variation_id=product_id * 100 + variant,
                    erp_item=str(ERP_ITEM_BASE + item),
                )
            )
    return specs


# --- locations, finance, people -----------------------------------------------------------------

WAREHOUSES: tuple[tuple[str, str, str, str], ...] = (
    ("dc-rotterdam", "Rotterdam DC", "Rotterdam", "NL"),
    ("dc-leipzig", "Leipzig DC", "Leipzig", "DE"),
    ("dc-milan", "Milan DC", "Milan", "IT"),
)
STORES: tuple[tuple[str, str, str, str], ...] = (
    ("store-amsterdam", "Northwind Amsterdam Jordaan", "Amsterdam", "NL"),
    ("store-utrecht", "Northwind Utrecht Oudegracht", "Utrecht", "NL"),
    ("store-antwerp", "Northwind Antwerp Meir", "Antwerp", "BE"),
    ("store-berlin", "Northwind Berlin Mitte", "Berlin", "DE"),
    ("store-hamburg", "Northwind Hamburg Schanze", "Hamburg", "DE"),
    ("store-munich", "Northwind Munich Glockenbach", "Munich", "DE"),
    ("store-copenhagen", "Northwind Copenhagen Vesterbro", "Copenhagen", "DK"),
    ("store-paris", "Northwind Paris Le Marais", "Paris", "FR"),
    ("store-milan", "Northwind Milan Brera", "Milan", "IT"),
    ("store-barcelona", "Northwind Barcelona El Born", "Barcelona", "ES"),
)
WEB_VIRTUAL_LOCATION = ("web-virtual", "Northwind web store (virtual)")

GL_ACCOUNTS: tuple[tuple[str, str, AccountType], ...] = (
    ("1100", "Receivables / payment clearing", AccountType.ASSET),
    ("1200", "Inventory", AccountType.ASSET),
    ("2100", "VAT payable", AccountType.LIABILITY),
    ("2300", "Gift cards and store credit", AccountType.LIABILITY),
    ("4000", "Gross sales", AccountType.REVENUE),
    ("4100", "Discounts", AccountType.REVENUE),
    ("4200", "Shipping revenue", AccountType.REVENUE),
    ("4900", "Refunds", AccountType.REVENUE),
    ("5000", "Cost of goods sold", AccountType.EXPENSE),
    ("6100", "Payment gateway fees", AccountType.EXPENSE),
)
GL_MAPPINGS: dict[PostingEvent, str] = {
    PostingEvent.GROSS_SALES: "4000",
    PostingEvent.DISCOUNTS: "4100",
    PostingEvent.SHIPPING_REVENUE: "4200",
    PostingEvent.TAX_PAYABLE: "2100",
    PostingEvent.PAYMENT_CLEARING: "1100",
    PostingEvent.GATEWAY_FEES: "6100",
    PostingEvent.GIFT_CARDS: "2300",
    PostingEvent.REFUNDS: "4900",
    PostingEvent.INVENTORY: "1200",
    PostingEvent.COGS: "5000",
}


@dataclass(frozen=True)
class PersonSpec:
    username: str
    first_name: str
    last_name: str
    role: str
    is_staff: bool = False


PEOPLE: tuple[PersonSpec, ...] = (
    PersonSpec("ops", "Sanne", "Visser", roles.OPS),
    PersonSpec("finance", "Lukas", "Hoffmann", roles.FINANCE),
    PersonSpec("finance2", "Giulia", "Romano", roles.FINANCE),
    PersonSpec("exec", "Claire", "Dubois", roles.EXECUTIVE),
    PersonSpec("admin", "Mads", "Jensen", roles.ADMIN, is_staff=True),
)

# Every model the seed writes; history rows by the demo actor are counted per run.
_SEEDED_MODELS: tuple[type[models.Model], ...] = (
    Channel,
    Location,
    Product,
    SKU,
    SKUCrossReference,
    ChannelStatusMapping,
    StockPosition,
    ChannelAllocationRule,
    GLAccount,
    GLMapping,
    FiscalPeriod,
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
) -> dict[str, int]:
    """Create or bring up to date the Northwind Outfitters demo; returns counts of what it holds.

    ``history_rows`` is how many history rows this run wrote: 0 when nothing had to change.
    """
    started = timezone.now()
    with acting_as(DEMO_ACTOR) as actor, transaction.atomic():
        web, stores_channel = _seed_channels()
        status_mappings = _seed_status_mappings(web)
        warehouses, stores, _virtual = _seed_locations(web=web, stores_channel=stores_channel)
        skus, products, references = _seed_catalog()
        positions = _seed_stock(skus=skus, warehouses=warehouses, as_of=started)
        rules = _seed_allocation_rules(channel=web, warehouses=warehouses)
        accounts, mappings, periods = _seed_finance(today=timezone.localdate())
        connections = _seed_connections(
            web=web,
            woo_base_url=woo_base_url,
            woo_credentials={
                "webhook_secret": woo_webhook_secret,
                "consumer_key": woo_consumer_key,
                "consumer_secret": woo_consumer_secret,
            },
            erp_base_url=erp_base_url,
            erp_credentials={"token": erp_token},
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
        "stock_positions": positions,
        "allocation_rules": rules,
        "gl_accounts": accounts,
        "gl_mappings": mappings,
        "fiscal_periods": periods,
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


def _seed_status_mappings(channel: Channel) -> int:
    for channel_status, state in WOO_STATUS_MAP.items():
        _ensure(
            ChannelStatusMapping,
            lookup={"channel": channel, "channel_status": channel_status},
            values={"state": state.value},
            reason="demo WooCommerce status mapping",
        )
    return len(WOO_STATUS_MAP)


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
        for system, system_code in (
            (SystemKind.WOOCOMMERCE, str(spec.woo_variation_id)),
            (SystemKind.ERP, spec.erp_item),
        ):
            catalog_services.upsert_sku_cross_reference(
                sku=sku, system=system, system_code=system_code
            )
            references += 1
        skus.append(sku)
    return skus, len(products), references


def _seed_stock(*, skus: list[SKU], warehouses: list[Location], as_of: Any) -> int:
    """ERP and WMS agree on a believable on-hand per SKU and warehouse; existing rows are kept
    (they belong to the stock syncs once the demo runs)."""
    rng = random.Random(RANDOM_SEED)
    existing = set(
        StockPosition.objects.filter(
            sku__in=skus,
            location__in=warehouses,
            reporting_system__in=(ReportingSystem.ERP, ReportingSystem.WMS),
        ).values_list("sku_id", "location_id", "reporting_system")
    )
    total = 0
    for sku in skus:
        for warehouse in warehouses:
            on_hand = rng.randint(0, MAX_ON_HAND)  # drawn for every pair, so values are stable
            for system in (ReportingSystem.ERP, ReportingSystem.WMS):
                total += 1
                if (sku.pk, warehouse.pk, system.value) in existing:
                    continue
                position = StockPosition(
                    sku=sku,
                    location=warehouse,
                    reporting_system=system,
                    on_hand=on_hand,
                    as_of=as_of,
                )
                stamp(position, "demo opening stock")
                position.save()
    return total


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


def _seed_connections(
    *,
    web: Channel,
    woo_base_url: str,
    woo_credentials: dict[str, str],
    erp_base_url: str,
    erp_credentials: dict[str, str],
) -> int:
    specs = (
        (WOO_CONNECTION, "WooCommerce — Northwind web store", SystemKind.WOOCOMMERCE, web,
         woo_base_url, woo_credentials),
        (ERP_CONNECTION, "Northwind ERP", SystemKind.ERP, None, erp_base_url, erp_credentials),
    )  # fmt: skip
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
