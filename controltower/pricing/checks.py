"""The price-policy check: every storefront price (``catalog.ChannelPrice``) of a SKU the ERP
has priced, measured against the ERP base price and the governing promotion rule, set-based in
one statement; one exception per SKU × channel × breach, refreshed while it lasts and closed
when a later read shows the price in policy.

Breaches (docs/pricing.md):

- **below floor** — the lowest price the store asks (its current price, its regular price, or a
  sale price that is live or scheduled) is under ``ERP price × (1 − max discount %)``;
- **outside its window** — a live or scheduled sale the store shows outside its own schedule
  (WooCommerce's scheduled-sale job did not run), or that runs before the rule's window opens
  or past its end;
- **excluded** — a live or scheduled sale on a SKU excluded from promotion there;
- **tax class** — the store's tax class is not the ERP's.

Margin at risk: units × the money each unit gives away — ``floor − lowest price`` below the
floor, ``ERP price − sale price`` for a sale outside its window or on an excluded SKU, nothing
for a tax class (the rates are not ours to know). Units are the channel's available-to-sell
(``inventory.AvailableToSell``) when it has a figure, else 1.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from typing import Any

from django.db import connection, transaction
from django.utils import timezone

from controltower.catalog.models import SKU, Channel
from controltower.core.writepath import domain_service
from controltower.exceptions.models import OpsException
from controltower.exceptions.services import close_exceptions, open_exception
from controltower.pricing.choices import BREACH_SEVERITY, BREACH_TYPES, PRICING_TYPES, Breach

logger = logging.getLogger(__name__)

SUBJECT_TYPE = "catalog.channelprice"
CENTS = Decimal("0.01")

JUDGED_SQL = """
WITH priced AS (
    SELECT cp.sku_id, cp.channel_id, cp.currency, cp.price_amount AS price,
           cp.regular_price_amount AS regular, cp.sale_price_amount AS sale, cp.sale_from,
           cp.sale_to, cp.tax_class, s.erp_price_amount AS erp, s.erp_tax_class AS erp_tax,
           p.category
    FROM catalog_channelprice cp
    JOIN catalog_sku s ON s.id = cp.sku_id
    JOIN catalog_product p ON p.id = s.product_id
    WHERE s.erp_price_amount IS NOT NULL AND (%(all)s OR cp.sku_id = ANY(%(skus)s))
),
governed AS (
    SELECT pr.*, rule.id AS rule_id, COALESCE(rule.max_discount_percent, 0) AS max_pct,
           rule.starts_at, rule.ends_at,
           EXISTS (
               SELECT 1 FROM pricing_promotionexclusion x
               WHERE x.sku_id = pr.sku_id AND (x.channel_id IS NULL OR x.channel_id = pr.channel_id)
           ) AS excluded,
           COALESCE((
               SELECT GREATEST(a.quantity, 0) FROM inventory_availabletosell a
               WHERE a.sku_id = pr.sku_id AND a.channel_id = pr.channel_id
           ), 1) AS units,
           round(pr.erp * (100 - COALESCE(rule.max_discount_percent, 0)) / 100, 4) AS floor,
           pr.sale IS NOT NULL
               AND (pr.sale_to IS NULL OR pr.sale_to > %(now)s OR pr.price = pr.sale) AS promo
    FROM priced pr
    LEFT JOIN LATERAL (
        SELECT r.* FROM pricing_promotionrule r
        WHERE (r.channel_id IS NULL OR r.channel_id = pr.channel_id)
          AND (r.category = '' OR r.category = pr.category)
        ORDER BY (r.category <> '') DESC, (r.channel_id IS NOT NULL) DESC
        LIMIT 1
    ) rule ON true
),
judged AS (
    SELECT g.*,
           LEAST(g.price, COALESCE(g.regular, g.price), CASE WHEN g.promo THEN g.sale END)
               AS lowest,
           g.promo AND g.price = g.sale AND g.price <> COALESCE(g.regular, -1) AND (
               (g.sale_from IS NOT NULL AND %(now)s < g.sale_from)
               OR (g.sale_to IS NOT NULL AND %(now)s >= g.sale_to)
           ) AS shown_off_schedule,
           g.promo AND (
               (g.starts_at IS NOT NULL
                AND GREATEST(COALESCE(g.sale_from, %(now)s), %(now)s) < g.starts_at)
               OR (g.ends_at IS NOT NULL AND (g.sale_to IS NULL OR g.sale_to > g.ends_at))
           ) AS outside_rule
    FROM governed g
)
SELECT sku_id, channel_id, currency, price, regular, sale, sale_from, sale_to, tax_class, erp,
       erp_tax, category, rule_id, max_pct, starts_at, ends_at, units, floor, lowest,
       lowest < floor AS below_floor,
       shown_off_schedule, outside_rule,
       promo AND excluded AS excluded_promo,
       erp_tax <> '' AND tax_class <> erp_tax AS tax_mismatch
FROM judged
WHERE lowest < floor OR shown_off_schedule OR outside_rule OR (promo AND excluded)
   OR (erp_tax <> '' AND tax_class <> erp_tax)
"""
COLUMNS = (
    "sku_id",
    "channel_id",
    "currency",
    "price",
    "regular",
    "sale",
    "sale_from",
    "sale_to",
    "tax_class",
    "erp",
    "erp_tax",
    "category",
    "rule_id",
    "max_pct",
    "starts_at",
    "ends_at",
    "units",
    "floor",
    "lowest",
    "below_floor",
    "shown_off_schedule",
    "outside_rule",
    "excluded_promo",
    "tax_mismatch",
)


@dataclass(frozen=True)
class Found:
    """One breach of one SKU × channel, with what the exception says about it."""

    breach: Breach
    row: dict[str, Any]

    @property
    def key(self) -> str:
        return breach_key(self.breach, self.row["sku_id"], self.row["channel_id"])

    @property
    def margin_at_risk(self) -> Decimal:
        row, units = self.row, Decimal(self.row["units"])
        if self.breach == Breach.BELOW_FLOOR:
            each = row["floor"] - row["lowest"]
        elif self.breach in (Breach.OUT_OF_WINDOW, Breach.EXCLUDED):
            each = row["erp"] - row["sale"]
        else:
            each = Decimal(0)
        return max(units * each, Decimal(0)).quantize(CENTS)


def breach_key(breach: str, sku_id: int, channel_id: int) -> str:
    return f"price:{breach}:{sku_id}:{channel_id}"


def find_breaches(*, sku_ids: set[int] | None = None, now: datetime | None = None) -> list[Found]:
    """Every breach of the SKUs' storefront prices (every SKU when None), read, not recorded."""
    params = {"all": sku_ids is None, "skus": sorted(sku_ids or []), "now": now or timezone.now()}
    with connection.cursor() as cursor:
        cursor.execute(JUDGED_SQL, params)
        rows = [dict(zip(COLUMNS, values, strict=True)) for values in cursor.fetchall()]
    found = []
    for row in rows:
        if row["below_floor"]:
            found.append(Found(Breach.BELOW_FLOOR, row))
        if row["shown_off_schedule"] or row["outside_rule"]:
            found.append(Found(Breach.OUT_OF_WINDOW, row))
        if row["excluded_promo"]:
            found.append(Found(Breach.EXCLUDED, row))
        if row["tax_mismatch"]:
            found.append(Found(Breach.TAX_CLASS, row))
    return found


@domain_service
def check_prices(*, sku_ids: set[int] | None = None, now: datetime | None = None) -> dict[str, int]:
    """Open / refresh / close the price-policy exceptions of ``sku_ids`` (every SKU when None)."""
    if sku_ids is not None and not sku_ids:
        return {"breaches": 0, "closed": 0}
    with transaction.atomic(savepoint=False):
        found = find_breaches(sku_ids=sku_ids, now=now)
        for row in _described(found):
            open_exception(**row)
        keys = {item.key for item in found}
        held = OpsException.objects.open().filter(type__in=PRICING_TYPES)
        if sku_ids is not None:
            held = held.filter(subject_type=SUBJECT_TYPE, context__sku_id__in=sorted(sku_ids))
        cleared = {
            key: "the storefront price is within the policy again"
            for key in held.values_list("dedupe_key", flat=True)
            if key not in keys
        }
        closed = close_exceptions(cleared) if cleared else 0
    if found or closed:
        logger.info("price check: %d breach(es) open, %d closed", len(found), closed)
    return {"breaches": len(found), "closed": closed}


def _money(value: Decimal | None) -> str:
    return "—" if value is None else f"{value.quantize(CENTS)}"


def _window(start: datetime | None, end: datetime | None) -> str:
    def shown(moment: datetime | None, open_end: str) -> str:
        return moment.isoformat(timespec="minutes") if moment else open_end

    return f"{shown(start, 'open')} – {shown(end, 'open')}"


def _words(item: Found, sku: SKU, channel: Channel) -> tuple[str, str]:
    """The exception's title and detail, in a person's words."""
    row, currency = item.row, item.row["currency"]
    where = f"{sku.code} on {channel.code}"
    base = f"ERP price {_money(row['erp'])} {currency}"
    rule = (
        f"the rule allows {row['max_pct']}% off"
        if row["rule_id"]
        else "no promotion rule covers it, so no discount is allowed"
    )
    if item.breach == Breach.BELOW_FLOOR:
        return (
            f"Price below floor: {where} at {_money(row['lowest'])} (floor {_money(row['floor'])})",
            f"The store asks {_money(row['lowest'])} {currency} (regular "
            f"{_money(row['regular'])}, sale {_money(row['sale'])}); {base}, {rule}: the floor "
            f"is {_money(row['floor'])}. Margin at risk {item.margin_at_risk} {currency} over "
            f"{row['units']} unit(s).",
        )
    if item.breach == Breach.OUT_OF_WINDOW:
        why = []
        if row["shown_off_schedule"]:
            why.append(
                f"the store charges the sale price outside its own schedule "
                f"({_window(row['sale_from'], row['sale_to'])})"
            )
        if row["outside_rule"]:
            why.append(
                f"the sale ({_window(row['sale_from'], row['sale_to'])}) runs outside the "
                f"promotion window {_window(row['starts_at'], row['ends_at'])}"
            )
        return (
            f"Promotion outside its window: {where} at {_money(row['sale'])}",
            f"{'; '.join(why).capitalize()}. {base}; margin at risk {item.margin_at_risk} "
            f"{currency} over {row['units']} unit(s).",
        )
    if item.breach == Breach.EXCLUDED:
        return (
            f"Promotion on an excluded SKU: {where} at {_money(row['sale'])}",
            f"{sku.code} is excluded from promotion on {channel.code}, yet the store has a sale "
            f"price of {_money(row['sale'])} {currency}. {base}; margin at risk "
            f"{item.margin_at_risk} {currency} over {row['units']} unit(s).",
        )
    return (
        f"Tax class differs: {where} is {row['tax_class']!r}, the ERP says {row['erp_tax']!r}",
        f"The store charges {sku.code} under tax class {row['tax_class']!r}; the ERP's is "
        f"{row['erp_tax']!r}. Orders at this class are taxed wrongly.",
    )


def _described(found: list[Found]) -> list[dict[str, Any]]:
    if not found:
        return []
    skus = {s.pk: s for s in SKU.objects.filter(pk__in={f.row["sku_id"] for f in found})}
    channels = {
        c.pk: c for c in Channel.objects.filter(pk__in={f.row["channel_id"] for f in found})
    }
    rows = []
    for item in found:
        row = item.row
        sku, channel = skus[row["sku_id"]], channels[row["channel_id"]]
        title, detail = _words(item, sku, channel)
        rows.append(
            {
                "type": BREACH_TYPES[item.breach],
                "dedupe_key": item.key,
                "title": title,
                "detail": detail,
                "severity": BREACH_SEVERITY[item.breach],
                "money_at_risk": item.margin_at_risk,
                "currency": row["currency"],
                "subject_type": SUBJECT_TYPE,
                "subject_id": f"{sku.pk}:{channel.pk}",
                "correlation_id": sku.correlation_id,
                "context": {
                    "breach": str(item.breach),
                    "sku_id": sku.pk,
                    "sku": sku.code,
                    "channel_id": channel.pk,
                    "channel": channel.code,
                    "erp_price": _money(row["erp"]),
                    "erp_tax_class": row["erp_tax"],
                    "floor": _money(row["floor"]),
                    "price": _money(row["price"]),
                    "regular_price": _money(row["regular"]),
                    "sale_price": _money(row["sale"]),
                    "tax_class": row["tax_class"],
                    "rule_id": row["rule_id"],
                    "units": int(row["units"]),
                    "price_push": True,
                },
            }
        )
    return rows
