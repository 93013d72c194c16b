"""Catalog data and the believable-order generator (EU customers, Stripe payments)."""

from __future__ import annotations

import hashlib
import logging
import random
import string
import time
import unicodedata
from decimal import Decimal, InvalidOperation
from typing import Any

logger = logging.getLogger(__name__)


class GeneratorMixin:
    def generate_orders(self, count: int, status: str = "processing") -> list[int]:
        """Create ``count`` random believable checkout orders and fire webhooks."""
        created: list[int] = []
        for _ in range(count):
            with self._lock:
                rng = self._rng
                lines: list[tuple[dict[str, Any], int]] = []
                pool = self._purchasable()
                for product in rng.sample(pool, k=min(rng.randint(1, 4), len(pool))):
                    quantity = rng.choices((1, 2, 3), weights=(75, 20, 5))[0]
                    lines.append((self._line_source(product), quantity))
                billing, shipping = random_customer(rng)
                extra = {
                    "customer_id": rng.choice([0, 0, rng.randint(2, 400)]),
                    "payment_method": "stripe",
                    "payment_method_title": "Credit Card (Stripe)",
                    "transaction_id": "pi_"
                    + "".join(rng.choice(string.ascii_letters + string.digits) for _ in range(24)),
                    "customer_ip_address": (
                        f"{rng.randint(31, 217)}.{rng.randint(0, 255)}."
                        f"{rng.randint(0, 255)}.{rng.randint(1, 254)}"
                    ),
                    "customer_user_agent": rng.choice(USER_AGENTS),
                    "cart_hash": hashlib.md5(
                        str(rng.random()).encode(), usedforsecurity=False
                    ).hexdigest(),
                    "customer_note": rng.choice(["", "", "", "", "Please leave at the door."]),
                    "meta_data": [{"key": "is_vat_exempt", "value": "no"}],
                    "set_paid": True,
                }
                order = self._create_order_locked(
                    lines, billing, shipping, status, "checkout", extra
                )
            created.append(order.id)
            self._fire("order.created", order.id)
        if created:
            logger.info("generated %s orders (%s..%s)", len(created), created[0], created[-1])
        return created

    @property
    def rate(self) -> float:
        return self._rate

    def set_rate(self, rate: float) -> None:
        self._rate = max(0.0, float(rate))
        self._rate_wake.set()

    def _rate_loop(self) -> None:
        next_at = time.monotonic()
        while not self.stopping.is_set():
            rate = self._rate
            if rate <= 0:
                self._rate_wake.wait(1.0)
                self._rate_wake.clear()
                next_at = time.monotonic()
                continue
            delay = next_at - time.monotonic()
            if delay > 0 and self._rate_wake.wait(delay):
                self._rate_wake.clear()
                next_at = time.monotonic() + 1.0 / max(self._rate, 1e-9)
                continue
            if self.stopping.is_set() or self._rate <= 0:
                continue
            try:
                self.generate_orders(1)
            except Exception:
                logger.exception("order generator failed")
            next_at = max(next_at + 1.0 / rate, time.monotonic() - 1.0)


DEFAULT_CATALOG: list[dict[str, Any]] = [
    {"sku": "APP-TEE-001", "name": "Organic Cotton Tee", "price": "19.95", "product_id": 110},
    {"sku": "ACC-TOTE-01", "name": "Canvas Tote Bag", "price": "14.50", "product_id": 111},
    {"sku": "HOME-MUG-02", "name": "Ceramic Pour-Over Mug", "price": "12.00", "product_id": 112},
    {"sku": "HOME-PLT-03", "name": "Stoneware Dinner Plate", "price": "9.95", "product_id": 113},
    {"sku": "HOME-TT-04", "name": "Linen Tea Towel (2-pack)", "price": "16.00", "product_id": 114},
    {"sku": "HOME-CND-05", "name": "Beeswax Candle", "price": "11.50", "product_id": 115},
    {"sku": "ACC-CARD-06", "name": "Leather Card Holder", "price": "29.00", "product_id": 116},
    {"sku": "ACC-BEA-07", "name": "Wool Beanie", "price": "24.95", "product_id": 117},
    {"sku": "STA-NB-08", "name": "Recycled Notebook A5", "price": "7.95", "product_id": 118},
    {"sku": "ACC-SUN-09", "name": "Bamboo Sunglasses", "price": "39.00", "product_id": 119},
    {
        "sku": "FOOD-CB-10",
        "name": "Cold Brew Coffee Beans 500g",
        "price": "13.75",
        "product_id": 120,
    },
    {"sku": "ACC-BTL-11", "name": "Insulated Water Bottle", "price": "27.50", "product_id": 121},
    *(
        {
            "sku": f"KN-MER-{size}",
            "name": f"Merino Crew Sweater - {size}",
            "parent_name": "Merino Crew Sweater",
            "price": "79.00",
            "product_id": 130,
            "variation_id": 131 + index,
            "attributes": {"Size": size},
        }
        for index, size in enumerate(("S", "M", "L"))
    ),
    *(
        {
            "sku": f"TR-CHI-{waist}32",
            "name": f"Slim Chino - {waist}/32",
            "parent_name": "Slim Chino",
            "price": "59.95",
            "product_id": 140,
            "variation_id": 141 + index,
            "attributes": {"Size": f"{waist}/32"},
        }
        for index, waist in enumerate(("30", "32", "34"))
    ),
    {
        "sku": "OUT-RJ-NAV-M",
        "name": "Rain Jacket - Navy, M",
        "parent_name": "Rain Jacket",
        "price": "119.00",
        "product_id": 150,
        "variation_id": 151,
        "attributes": {"Colour": "Navy", "Size": "M"},
    },
    {
        "sku": "OUT-RJ-OLV-L",
        "name": "Rain Jacket - Olive, L",
        "parent_name": "Rain Jacket",
        "price": "119.00",
        "product_id": 150,
        "variation_id": 152,
        "attributes": {"Colour": "Olive", "Size": "L"},
    },
]


def normalize_catalog(items: Any) -> list[dict[str, Any]]:
    """Validate and normalize catalog items; raise ValueError with a readable message."""
    if isinstance(items, dict) and "items" in items:
        items = items["items"]
    if not isinstance(items, list) or not items:
        raise ValueError("catalog must be a non-empty list of items")
    seen: set[str] = set()
    normalized: list[dict[str, Any]] = []
    for index, item in enumerate(items):
        where = f"catalog[{index}]"
        if not isinstance(item, dict):
            raise ValueError(f"{where} must be an object")
        sku, name = item.get("sku"), item.get("name")
        if not isinstance(sku, str) or not sku.strip():
            raise ValueError(f"{where}.sku must be a non-empty string")
        if sku in seen:
            raise ValueError(f"{where}.sku {sku!r} is duplicated")
        seen.add(sku)
        if not isinstance(name, str) or not name.strip():
            raise ValueError(f"{where}.name must be a non-empty string")
        try:
            price = Decimal(str(item.get("price")))
        except InvalidOperation:
            raise ValueError(f"{where}.price must be a decimal") from None
        if not price.is_finite() or price < 0:
            raise ValueError(f"{where}.price must be a non-negative decimal")
        product_id = item.get("product_id")
        variation_id = item.get("variation_id", 0) or 0
        for key, value in (("product_id", product_id), ("variation_id", variation_id)):
            if isinstance(value, bool) or not isinstance(value, int) or value < 0:
                raise ValueError(f"{where}.{key} must be a non-negative integer")
        if product_id == 0:
            raise ValueError(f"{where}.product_id must be > 0")
        stock = item.get("stock_quantity", 100)
        if stock is not None and (isinstance(stock, bool) or not isinstance(stock, int)):
            raise ValueError(f"{where}.stock_quantity must be an integer or null")
        attributes = item.get("attributes") or {}
        if not isinstance(attributes, dict):
            raise ValueError(f"{where}.attributes must be an object")
        parent_name = item.get("parent_name")
        if parent_name is None and variation_id and " - " in name:
            parent_name = name.split(" - ", 1)[0]
        normalized.append(
            {
                "sku": sku,
                "name": name,
                "price": str(price.quantize(Decimal("0.01"))),
                "product_id": product_id,
                "variation_id": variation_id,
                "parent_name": parent_name if variation_id else None,
                "stock_quantity": stock,
                "attributes": {str(k): str(v) for k, v in attributes.items()},
            }
        )
    return normalized


# country code -> (state code, city, postcode) choices and name pools
COUNTRIES: dict[str, dict[str, Any]] = {
    "NL": {
        "first": ["Daan", "Sem", "Emma", "Julia", "Lotte", "Bram", "Sanne", "Thijs", "Fleur"],
        "last": ["de Vries", "Jansen", "van den Berg", "Bakker", "Visser", "Smit", "de Boer"],
        "places": [
            ("", "Amsterdam", "1016 GV"),
            ("", "Utrecht", "3511 LX"),
            ("", "Rotterdam", "3011 AD"),
            ("", "Haarlem", "2011 PM"),
            ("", "Eindhoven", "5611 AZ"),
        ],
        "streets": ["Prinsengracht", "Oudegracht", "Coolsingel", "Grote Markt", "Dorpsstraat"],
        "style": "street_number",
        "phone": "+31 6 {d8}",
        "tld": "nl",
    },
    "BE": {
        "first": ["Lucas", "Noah", "Louise", "Elise", "Arthur", "Marie", "Jules", "Ines"],
        "last": ["Peeters", "Janssens", "Maes", "Jacobs", "Mertens", "Willems", "Claes"],
        "places": [
            ("", "Antwerpen", "2000"),
            ("", "Gent", "9000"),
            ("", "Brussel", "1000"),
            ("", "Leuven", "3000"),
            ("", "Brugge", "8000"),
        ],
        "streets": ["Meir", "Veldstraat", "Bondgenotenlaan", "Steenstraat", "Kerkstraat"],
        "style": "street_number",
        "phone": "+32 4{d2} {d2} {d2} {d2}",
        "tld": "be",
    },
    "DE": {
        "first": ["Lukas", "Anna", "Felix", "Marie", "Jonas", "Lea", "Paul", "Sophie"],
        "last": ["Müller", "Schmidt", "Schneider", "Fischer", "Weber", "Meyer", "Wagner"],
        "places": [
            ("BE", "Berlin", "10115"),
            ("BY", "München", "80331"),
            ("HH", "Hamburg", "20095"),
            ("NW", "Köln", "50667"),
            ("HE", "Frankfurt am Main", "60311"),
        ],
        "streets": ["Hauptstraße", "Bahnhofstraße", "Schillerstraße", "Gartenstraße"],
        "style": "street_number",
        "phone": "+49 15{d1} {d8}",
        "tld": "de",
    },
    "FR": {
        "first": ["Jules", "Camille", "Louis", "Léa", "Hugo", "Chloé", "Gabriel", "Manon"],
        "last": ["Martin", "Bernard", "Dubois", "Thomas", "Robert", "Petit", "Durand"],
        "places": [
            ("", "Paris", "75003"),
            ("", "Lyon", "69002"),
            ("", "Lille", "59000"),
            ("", "Bordeaux", "33000"),
            ("", "Nantes", "44000"),
        ],
        "streets": ["rue de la République", "avenue Jean Jaurès", "rue Victor Hugo"],
        "style": "number_street",
        "phone": "+33 6 {d2} {d2} {d2} {d2}",
        "tld": "fr",
    },
    "ES": {
        "first": ["Lucía", "Hugo", "Martina", "Daniel", "Sofía", "Pablo", "Alba", "Mateo"],
        "last": ["García", "Fernández", "González", "Rodríguez", "López", "Martínez"],
        "places": [
            ("M", "Madrid", "28013"),
            ("B", "Barcelona", "08002"),
            ("V", "Valencia", "46002"),
            ("SE", "Sevilla", "41004"),
            ("BI", "Bilbao", "48001"),
        ],
        "streets": ["Calle Mayor", "Gran Vía", "Calle de Alcalá", "Calle Real"],
        "style": "street_comma_number",
        "phone": "+34 6{d2} {d3} {d3}",
        "tld": "es",
    },
}

COMPANIES = ["Studio Noord", "Atelier Lumière", "Kaffeehaus GmbH", "Bureau Verde", "Casa Sol"]
USER_AGENTS = [
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) "
    "Chrome/130.0.0.0 Safari/537.36",
    "Mozilla/5.0 (Macintosh; Intel Mac OS X 14_6) AppleWebKit/605.1.15 (KHTML, like Gecko) "
    "Version/18.0 Safari/605.1.15",
    "Mozilla/5.0 (iPhone; CPU iPhone OS 18_0 like Mac OS X) AppleWebKit/605.1.15 "
    "(KHTML, like Gecko) Version/18.0 Mobile/15E148 Safari/604.1",
    "Mozilla/5.0 (X11; Linux x86_64; rv:132.0) Gecko/20100101 Firefox/132.0",
]


def _ascii(text: str) -> str:
    decomposed = unicodedata.normalize("NFKD", text.replace("ß", "ss"))
    cleaned = "".join(c for c in decomposed if not unicodedata.combining(c))
    return "".join(c for c in cleaned.lower() if c.isalnum())


def _ascii_slug(text: str) -> str:
    decomposed = unicodedata.normalize("NFKD", text.replace("ß", "ss"))
    return "".join(c for c in decomposed if not unicodedata.combining(c)).lower()


def _digits(rng: random.Random, template: str) -> str:
    out = template
    for marker, count in (("{d8}", 8), ("{d3}", 3), ("{d2}", 2), ("{d1}", 1)):
        while marker in out:
            out = out.replace(marker, "".join(rng.choice("0123456789") for _ in range(count)), 1)
    return out


def random_customer(rng: random.Random) -> tuple[dict[str, str], dict[str, str]]:
    """Return (billing, shipping) dicts in WooCommerce's address shape."""
    country = rng.choice(list(COUNTRIES))
    data = COUNTRIES[country]
    first, last = rng.choice(data["first"]), rng.choice(data["last"])
    state, city, postcode = rng.choice(data["places"])
    street, number = rng.choice(data["streets"]), rng.randint(1, 240)
    if data["style"] == "number_street":
        address_1 = f"{number} {street}"
    elif data["style"] == "street_comma_number":
        address_1 = f"{street}, {number}"
    else:
        address_1 = f"{street} {number}"
    address_2 = rng.choice(["", "", "", f"{rng.randint(1, 5)}e verdieping", "Apt. 3"])
    if country not in ("NL", "BE"):
        address_2 = rng.choice(["", "", "", f"Apt. {rng.randint(1, 30)}"])
    company = rng.choice(COMPANIES) if rng.random() < 0.15 else ""
    email = f"{_ascii(first)}.{_ascii(last)}{rng.randint(1, 99)}@example.{data['tld']}"
    phone = _digits(rng, data["phone"])
    billing = {
        "first_name": first,
        "last_name": last,
        "company": company,
        "address_1": address_1,
        "address_2": address_2,
        "city": city,
        "state": state,
        "postcode": postcode,
        "country": country,
        "email": email,
        "phone": phone,
    }
    shipping = {k: v for k, v in billing.items() if k != "email"}
    return billing, shipping
