"""Available-to-sell, set-based in PostgreSQL: one statement recomputes it for some SKUs or all.

ATS per SKU per channel = Σ over the channel's locations (its ``ChannelAllocationRule`` rows) of

    max(0, min(entitled − its own held, on-hand − all held − safety stock))
    entitled = min(cap, floor(max(0, on-hand − safety stock) × percent / 100))

so a channel never takes more than its share of a location (its own reservations use up its
entitlement: a flash sale of one-unit orders reserves exactly what the allocation allows, not a
share of what is left after each one) nor more than is physically free there, where

- *on-hand* is the figure of the location's authoritative system (``Location.stock_authority``,
  else by type: a warehouse's WMS, a store's POS, the ERP otherwise); a location whose
  authoritative system never reported contributes nothing (never sell what nobody counted);
- *held* is the open reservations at the location, plus the ones consumed by a shipment after
  that figure was counted (the units left the shelf, but the count that shows it has not come
  in yet: without this, a shipment would make stock available again until the next count);
  *its own held* is the part of it taken by the channel's orders.

The result is written to ``AvailableToSell`` (``INSERT … ON CONFLICT DO UPDATE`` only where the
figure changed) and the changed rows come back, for publishing.
"""

from __future__ import annotations

from collections.abc import Iterable

from django.db import connection, transaction

from controltower.inventory.choices import DEFAULT_AUTHORITY

_AUTHORITY = "COALESCE(NULLIF(l.stock_authority, ''), CASE l.type {} ELSE 'erp' END)".format(
    " ".join(f"WHEN '{kind}' THEN '{system}'" for kind, system in DEFAULT_AUTHORITY.items())
)
INT_MAX = 2147483647

# What every statement starts from: the authoritative figures and what is held against them,
# in total and per channel (the channel of a reservation is its order's).
_FIGURES = f"""
onhand AS NOT MATERIALIZED (
    SELECT p.sku_id, p.location_id, p.on_hand, p.as_of
    FROM inventory_stockposition p
    JOIN catalog_location l ON l.id = p.location_id AND l.is_active
    WHERE p.reporting_system = {_AUTHORITY}
      AND (%(all)s OR p.sku_id = ANY(%(skus)s))
),
held_by AS (
    SELECT r.sku_id, r.location_id, o2.channel_id, SUM(r.quantity) AS quantity
    FROM inventory_reservation r
    JOIN onhand o ON o.sku_id = r.sku_id AND o.location_id = r.location_id
    JOIN orders_orderline ol ON ol.id = r.order_line_id
    JOIN orders_order o2 ON o2.id = ol.order_id
    WHERE r.status = 'open' OR (r.status = 'consumed' AND r.updated_at > o.as_of)
    GROUP BY r.sku_id, r.location_id, o2.channel_id
),
held AS (
    SELECT sku_id, location_id, SUM(quantity) AS quantity
    FROM held_by GROUP BY sku_id, location_id
),
available AS (
    SELECT o.sku_id, o.location_id, a.channel_id,
           GREATEST(0, LEAST(
               LEAST(COALESCE(a.cap, {INT_MAX}),
                     GREATEST(0, o.on_hand - a.safety_stock) * a.bp / 10000)
                   - COALESCE(mine.quantity, 0),
               o.on_hand - COALESCE(h.quantity, 0) - a.safety_stock
           ))::integer AS quantity
    FROM onhand o
    -- the percent in basis points: integer arithmetic over every row, not numeric
    JOIN (SELECT channel_id, location_id, safety_stock, cap, (percent * 100)::integer AS bp
          FROM inventory_channelallocationrule) a ON a.location_id = o.location_id
    LEFT JOIN held h ON h.sku_id = o.sku_id AND h.location_id = o.location_id
    LEFT JOIN held_by mine ON mine.sku_id = o.sku_id AND mine.location_id = o.location_id
        AND mine.channel_id = a.channel_id
)
"""

# %(all)s: recompute every SKU; else only those in %(skus)s.
_RECOMPUTE = f"""
WITH {_FIGURES},
computed AS (
    SELECT sku_id, channel_id, SUM(quantity)::integer AS quantity
    FROM available GROUP BY sku_id, channel_id
),
target AS (
    SELECT sku_id, channel_id, quantity FROM computed
    UNION ALL
    SELECT s.sku_id, s.channel_id, 0
    FROM inventory_availabletosell s
    WHERE (%(all)s OR s.sku_id = ANY(%(skus)s))
      AND NOT EXISTS (
          SELECT 1 FROM computed c WHERE c.sku_id = s.sku_id AND c.channel_id = s.channel_id
      )
)
INSERT INTO inventory_availabletosell AS ats (sku_id, channel_id, quantity, computed_at)
SELECT sku_id, channel_id, quantity, now() FROM target
ON CONFLICT (sku_id, channel_id) DO UPDATE
    SET quantity = EXCLUDED.quantity, computed_at = EXCLUDED.computed_at
    WHERE ats.quantity IS DISTINCT FROM EXCLUDED.quantity
RETURNING sku_id, channel_id, quantity
"""

# Per location, what one channel may still take of each SKU (for placing a reservation).
_AVAILABLE_AT = f"""
WITH {_FIGURES}
SELECT sku_id, location_id, quantity FROM available
WHERE channel_id = %(channel)s
ORDER BY sku_id, quantity DESC, location_id
"""


# A full recompute hashes every position: with PostgreSQL's default 4 MB per hash it spills to
# disk; this much memory for that one statement's transaction keeps it in memory. Its plan is
# serial: gathering two million rows from parallel workers costs more than it saves here.
FULL_WORK_MEM = "256MB"


def recompute(sku_ids: Iterable[int] | None = None) -> list[tuple[int, int, int]]:
    """Recompute ATS for ``sku_ids`` (every SKU when None): ``(sku, channel, quantity)`` of the
    rows that changed (or appeared). One statement, in the caller's transaction (or its own)."""
    skus = sorted(set(sku_ids)) if sku_ids is not None else []
    if sku_ids is not None and not skus:
        return []
    with transaction.atomic(savepoint=False), connection.cursor() as cursor:
        if sku_ids is None:
            cursor.execute(
                "SELECT set_config('work_mem', %s, true), "
                "set_config('max_parallel_workers_per_gather', '0', true)",
                [FULL_WORK_MEM],
            )
        cursor.execute(_RECOMPUTE, {"all": sku_ids is None, "skus": skus})
        return [(int(s), int(c), int(q)) for s, c, q in cursor.fetchall()]


def available_at(sku_ids: Iterable[int], channel_id: int) -> dict[int, list[tuple[int, int]]]:
    """``{sku: [(location, available), …]}`` for one channel, most available first."""
    skus = sorted(set(sku_ids))
    if not skus:
        return {}
    found: dict[int, list[tuple[int, int]]] = {}
    with connection.cursor() as cursor:
        cursor.execute(_AVAILABLE_AT, {"all": False, "skus": skus, "channel": channel_id})
        for sku, location, available in cursor.fetchall():
            found.setdefault(int(sku), []).append((int(location), int(available)))
    return found


def authority_sql() -> str:
    """The SQL expression (over ``catalog_location l``) naming a location's authoritative system."""
    return _AUTHORITY
