"""Who Northwind Outfitters is: the demo retailer's channels, catalog (generated from the tables
below with a fixed random seed, so every install gets the same SKUs, barcodes and prices),
warehouses and stores, chart of accounts and people. Data only; ``seed.py`` writes it."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from decimal import Decimal

from controltower.accounts import roles
from controltower.catalog.choices import CaptureMode
from controltower.finance.choices import AccountType, PostingEvent
from controltower.orders.choices import OrderStage, OrderState
from integrations.woocommerce.translate import STATUS_MAPPING

DEMO_ACTOR = "system.demo"
RANDOM_SEED = 20_240_611
CURRENCY = "EUR"
BRAND = "Northwind Outfitters"
EMAIL_DOMAIN = "northwind-outfitters.example"

WEB_CHANNEL = "web"
POS_CHANNEL = "stores"
WOO_CONNECTION = "woo-web"
ERP_CONNECTION = "erp-main"
GATEWAY_CONNECTION = "gateway"
WMS_CONNECTION = "wms-main"
LEDGER_CONNECTION = "ledger-main"
POS_CONNECTION = "pos-stores"

# WooCommerce ids: product ``WOO_PRODUCT_BASE + n`` (n = 1-based product number), its variations
# ``product_id * 100 + v`` (v = 1-based variant number). Stable as long as the tables only grow.
WOO_PRODUCT_BASE = 2000
# EAN-13: GS1 Netherlands prefix 87 + a made-up company prefix, then a running item number.
EAN_COMPANY_PREFIX = "871984"
ERP_ITEM_BASE = 400_000

WEB_ALLOCATION_PERCENT = Decimal("80.00")
WEB_SAFETY_STOCK = 2
MAX_ON_HAND = 120
# What a unit costs us, as a share of its price: the ERP's ``unit_cost`` (drift's value at cost).
UNIT_COST_SHARE = Decimal("0.42")

# Stock: the WMS counts every SKU at the three DCs and sends a snapshot every minute; the ERP
# holds the same figures. The flash-sale SKUs are stocked at one DC only: 9 on hand there is 5
# for the web (80 % of what is above the safety stock of 2), then a burst sells it out.
SNAPSHOT_EVERY_S = 60
FLASH_SALE_SKUS = ("NW-SWT-002-BLK-M", "NW-SHO-001-WHT-42", "NW-BPK-001-OLV")
FLASH_SALE_ON_HAND = 9
FLASH_SALE_ORDERS = 12  # one unit each, placed at once: more than the web may sell
# The drifting warehouse: the WMS miscounts these SKUs by DRIFT_UNITS (the ERP does not).
DRIFT_SKUS = ("NW-TEE-001-WHT-L", "NW-MUG-001-SAG", "NW-CND-001-FIG")
DRIFT_UNITS = 3

# The stores: each starts with a POS count of STORE_MAX_ON_HAND or fewer of every SKU it sells
# (STORE_SKUS_EVERY: one SKU in n, so a store's range is a selection); the tills ring up sales live.
STORE_MAX_ON_HAND = 12
STORE_SKUS_EVERY = 3
# What the till states map to (a voided transaction we never saw is born cancelled).
POS_STATUS_MAP: dict[str, OrderState] = {
    "completed": OrderState.ACCEPTED,
    "voided": OrderState.CANCELLED,
}
# The price policy: promotions may take at most this much off the ERP price, on every channel
# and category. The breach: a sale price at PRICE_BREACH_SHARE of the ERP price on these SKUs.
PROMOTION_MAX_DISCOUNT = Decimal("20.00")
PRICE_BREACH_SKUS = ("NW-OUT-001-NAV-L", "NW-DRS-001-BLK-S", "NW-THR-001-OAT")
PRICE_BREACH_SHARE = Decimal("0.60")

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
# The POS estate's store ids (its simulator's ``store-01`` … ``store-10``): a till names its store
# by the Location code, so the codes are the POS's.
STORES: tuple[tuple[str, str, str, str], ...] = (
    ("store-01", "Northwind Amsterdam Jordaan", "Amsterdam", "NL"),
    ("store-02", "Northwind Utrecht Oudegracht", "Utrecht", "NL"),
    ("store-03", "Northwind Antwerp Meir", "Antwerp", "BE"),
    ("store-04", "Northwind Berlin Mitte", "Berlin", "DE"),
    ("store-05", "Northwind Hamburg Schanze", "Hamburg", "DE"),
    ("store-06", "Northwind Munich Glockenbach", "Munich", "DE"),
    ("store-07", "Northwind Copenhagen Vesterbro", "Copenhagen", "DK"),
    ("store-08", "Northwind Paris Le Marais", "Paris", "FR"),
    ("store-09", "Northwind Milan Brera", "Milan", "IT"),
    ("store-10", "Northwind Barcelona El Born", "Barcelona", "ES"),
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


# How each storefront payment method takes its money (admins edit them on the mappings page).
PAYMENT_METHODS: tuple[tuple[str, str, CaptureMode], ...] = (
    ("stripe", "Credit card (Stripe)", CaptureMode.AT_CHECKOUT),
    ("klarna", "Pay after delivery (Klarna)", CaptureMode.AT_SHIPMENT),
    ("bacs", "Bank transfer", CaptureMode.OFFLINE),
)
# How long an order may stay in a stage before the sweep calls it stuck (minutes).
STAGE_SLAS: tuple[tuple[OrderStage, int, str], ...] = (
    (OrderStage.ACCEPTED, 15, "paid at the gateway within 15 minutes of acceptance"),
    (OrderStage.PAYMENT_AUTHORIZED, 5, "registered in the ERP within 5 minutes of payment"),
    (OrderStage.PAYMENT_CAPTURED, 5, "registered in the ERP within 5 minutes of payment"),
    (OrderStage.REGISTERED, 10, "released to the warehouse within 10 minutes of registration"),
    (OrderStage.RELEASED, 48 * 60, "shipped within 48 h of release"),
    (OrderStage.PARTIALLY_SHIPPED, 72 * 60, "the rest shipped within 72 h"),
    (OrderStage.SHIPPED, 60, "invoiced within an hour of shipping"),
    (OrderStage.INVOICED, 60, "posted to the ledger within an hour of the invoice"),
)


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
