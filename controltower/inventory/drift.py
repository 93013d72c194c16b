"""Inventory drift: the ERP's, the WMS's and the POS's figures for one SKU × location compared,
set-based; past the tolerance (``DriftTolerance``: the larger of its units and its percent of the
highest figure; a location's own rule, else the default, else exact), one exception per SKU ×
location naming each system's figure, the difference and its value at cost. It closes itself
when the figures agree again. A full run also samples stock accuracy (the share of SKU ×
location pairs within tolerance) for the executives' chart.
"""

from __future__ import annotations

import json
from decimal import Decimal
from typing import Any

from django.db import connection, transaction
from django.utils import timezone

from controltower.catalog.models import SKU, Location
from controltower.core.writepath import domain_service
from controltower.exceptions.choices import ExceptionType, Severity
from controltower.exceptions.models import OpsException
from controltower.exceptions.services import close_exceptions, open_exception
from controltower.inventory.models import StockAccuracySample

COMPARED = ("erp", "wms", "pos")

PAIRS_SQL = """
WITH pairs AS (
    SELECT p.sku_id, p.location_id, max(p.on_hand) AS hi, min(p.on_hand) AS lo,
           jsonb_object_agg(p.reporting_system, p.on_hand) AS figures
    FROM inventory_stockposition p
    WHERE p.reporting_system = ANY(%(systems)s) AND (%(all)s OR p.sku_id = ANY(%(skus)s))
    GROUP BY p.sku_id, p.location_id
    HAVING count(*) >= 2
),
judged AS (
    SELECT pr.*,
           (pr.hi - pr.lo) > GREATEST(
               COALESCE(own.units, base.units, 0),
               CEIL(pr.hi * COALESCE(own.percent, base.percent, 0) / 100)
           ) AS drifting
    FROM pairs pr
    LEFT JOIN inventory_drifttolerance own ON own.location_id = pr.location_id
    LEFT JOIN inventory_drifttolerance base ON base.location_id IS NULL
)
"""
_DRIFTING = PAIRS_SQL + "SELECT sku_id, location_id, hi, lo, figures FROM judged WHERE drifting"
_COUNTS = PAIRS_SQL + "SELECT count(*), count(*) FILTER (WHERE NOT drifting) FROM judged"


def drift_key(sku_id: int, location_id: int) -> str:
    return f"drift:{sku_id}:{location_id}"


@domain_service
def check_drift(*, sku_ids: set[int] | None = None) -> dict[str, int]:
    """Open / refresh / close drift exceptions for ``sku_ids`` (every SKU when None; a full run
    also records a ``StockAccuracySample``)."""
    params: dict[str, Any] = {
        "systems": list(COMPARED),
        "all": sku_ids is None,
        "skus": sorted(sku_ids or []),
    }
    with transaction.atomic(savepoint=False):
        with connection.cursor() as cursor:
            cursor.execute(_DRIFTING, params)
            drifting = cursor.fetchall()
        keys = {drift_key(s, loc) for s, loc, *_ in drifting}
        for row in _described(drifting):
            open_exception(**row)
        held = OpsException.objects.open().filter(type=ExceptionType.INVENTORY_DRIFT)
        if sku_ids is not None:
            held = held.filter(subject_type="inventory.sku_location").filter(
                context__sku_id__in=sorted(sku_ids)
            )
        cleared = {
            key: "the systems agree again"
            for key in held.values_list("dedupe_key", flat=True)
            if key not in keys
        }
        closed = close_exceptions(cleared) if cleared else 0
        result = {"drifting": len(drifting), "closed": closed}
        if sku_ids is None:
            with connection.cursor() as cursor:
                cursor.execute(_COUNTS, params)
                pairs, within = cursor.fetchone()
            StockAccuracySample.objects.create(
                taken_at=timezone.now(), pairs=pairs, within_tolerance=within
            )
            result.update(pairs=pairs, within=within)
    return result


def _described(drifting: list[tuple[Any, ...]]) -> list[dict[str, Any]]:
    if not drifting:
        return []
    skus = {s.pk: s for s in SKU.objects.filter(pk__in={row[0] for row in drifting})}
    places = {p.pk: p for p in Location.objects.filter(pk__in={row[1] for row in drifting})}
    rows = []
    for sku_id, location_id, hi, lo, raw in drifting:
        figures = json.loads(raw) if isinstance(raw, str) else raw  # jsonb comes back as text
        sku, place = skus[sku_id], places[location_id]
        difference = hi - lo
        value = (sku.cost_amount or Decimal(0)) * difference
        shown = ", ".join(f"{system.upper()} {figures[system]}" for system in sorted(figures))
        rows.append(
            {
                "type": ExceptionType.INVENTORY_DRIFT,
                "dedupe_key": drift_key(sku_id, location_id),
                "title": f"Stock drift: {sku.code} at {place.name} differs by {difference}",
                "detail": f"{shown}: a difference of {difference} unit(s), {value:.2f} "
                f"{sku.currency} at cost.",
                "severity": Severity.MEDIUM,
                "money_at_risk": value,
                "currency": sku.currency,
                "subject_type": "inventory.sku_location",
                "subject_id": f"{sku_id}:{location_id}",
                "context": {
                    "sku_id": sku_id,
                    "sku": sku.code,
                    "location_id": location_id,
                    "location": place.code,
                    "figures": figures,
                    "difference": difference,
                    "value_at_cost": f"{value:.2f}",
                },
            }
        )
    return rows
