"""What a stock rule change would do, computed by the domain's own statements on the proposed
rule inside a savepoint that is rolled back: nothing is saved, nothing is published.

- an allocation rule: ATS per channel before → after, and the SKUs whose figure changes;
- a freshness SLA: the sources at the location(s) it covers that would be stale now;
- a drift tolerance: how many SKU × location pairs would be drifting, before → after.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta

from django.db import connection, transaction
from django.utils import timezone

from controltower.catalog.models import SKU, Channel, Location
from controltower.core.writepath import service_scope
from controltower.dashboards.mappings_preview import SHOWN, Preview, PreviewGroup, PreviewRow
from controltower.inventory import ats
from controltower.inventory.drift import COMPARED, PAIRS_SQL
from controltower.inventory.models import ChannelAllocationRule, DriftTolerance, StockFreshnessRule

_TOTALS = (
    "SELECT channel_id, COALESCE(sum(quantity), 0), count(*) FILTER (WHERE quantity > 0) "
    "FROM inventory_availabletosell GROUP BY channel_id"
)
_DRIFTING_COUNT = PAIRS_SQL + "SELECT count(*) FILTER (WHERE drifting) FROM judged"


def _rolled_back[T](change: Callable[[], None], measure: Callable[[], T]) -> T:
    """``measure()`` with ``change()`` applied, in a savepoint that is then rolled back."""
    with transaction.atomic():
        point = transaction.savepoint()
        try:
            with service_scope():
                change()
            return measure()
        finally:
            transaction.savepoint_rollback(point)


def _totals() -> dict[int, tuple[int, int]]:
    with connection.cursor() as cursor:
        cursor.execute(_TOTALS)
        return {channel: (int(units), int(skus)) for channel, units, skus in cursor.fetchall()}


def preview_allocation_rule(
    proposed: ChannelAllocationRule, original: ChannelAllocationRule | None
) -> Preview:
    """ATS per channel now and with the proposed rule, and the SKUs whose figure changes."""
    before = _totals()

    def measure() -> tuple[dict[int, tuple[int, int]], list[tuple[int, int, int]]]:
        changed = ats.recompute()
        return _totals(), changed

    with transaction.atomic():
        with connection.cursor() as cursor:
            cursor.execute("SELECT sku_id, channel_id, quantity FROM inventory_availabletosell")
            before_rows = {(s, c): q for s, c, q in cursor.fetchall()}
        after, changed = _rolled_back(proposed.save, measure)
    channels = dict(Channel.objects.values_list("pk", "code"))
    codes = dict(
        SKU.objects.filter(pk__in={s for s, _, _ in changed[: SHOWN * 4]}).values_list("pk", "code")
    )
    groups = []
    for channel_id in sorted(set(before) | set(after), key=lambda pk: channels.get(pk, "")):
        mine = [row for row in changed if row[1] == channel_id]
        units_before, _ = before.get(channel_id, (0, 0))
        units_after, skus_after = after.get(channel_id, (0, 0))
        rows = [
            PreviewRow(
                label=codes.get(sku_id, f"SKU {sku_id}"),
                url="",
                detail=f"{before_rows.get((sku_id, channel_id), 0)} → {quantity}",
            )
            for sku_id, _, quantity in mine[:SHOWN]
        ]
        groups.append(
            PreviewGroup(
                title=f"{channels.get(channel_id, channel_id)}: {units_before} → {units_after} "
                f"units to sell ({skus_after} SKUs with stock)",
                count=len(mine),
                rows=rows,
                note="" if mine else "no SKU's figure changes",
            )
        )
    where = Location.objects.get(pk=proposed.location_id)
    summary = (
        f"{proposed.channel.code} would sell {proposed.percent}% of {where.code}, keeping "
        f"{proposed.safety_stock} back" + (f", at most {proposed.cap}" if proposed.cap else "")
    )
    return Preview(summary=summary + ".", groups=groups)


def preview_freshness_rule(
    proposed: StockFreshnessRule, original: StockFreshnessRule | None
) -> Preview:
    limit = timezone.now() - timedelta(minutes=proposed.max_age_minutes)
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT location_id, max(as_of) FROM inventory_stockposition "
            "WHERE reporting_system = %s AND (%s OR location_id = %s) GROUP BY location_id",
            [proposed.reporting_system, proposed.location_id is None, proposed.location_id],
        )
        newest = dict(cursor.fetchall())
    stale = {loc: at for loc, at in newest.items() if at < limit}
    names = dict(Location.objects.filter(pk__in=stale).values_list("pk", "name"))
    rows = [
        PreviewRow(
            label=names.get(loc, str(loc)), url="", detail=f"newest figure {at:%Y-%m-%d %H:%M}"
        )
        for loc, at in sorted(stale.items(), key=lambda item: item[1])[:SHOWN]
    ]
    system = proposed.get_reporting_system_display()
    return Preview(
        summary=f"{system} figures older than {proposed.max_age_minutes} min would be stale.",
        groups=[
            PreviewGroup(f"Locations whose {system} figures would be stale now", len(stale), rows)
        ],
    )


def _drifting() -> int:
    with connection.cursor() as cursor:
        cursor.execute(_DRIFTING_COUNT, {"systems": list(COMPARED), "all": True, "skus": []})
        return int(cursor.fetchone()[0])


def preview_drift_tolerance(proposed: DriftTolerance, original: DriftTolerance | None) -> Preview:
    before = _drifting()
    after = _rolled_back(proposed.save, _drifting)
    where = proposed.location.code if proposed.location_id else "every location"
    return Preview(
        summary=f"At {where}, figures may differ by {proposed.units} unit(s) or "
        f"{proposed.percent}% of the highest.",
        groups=[
            PreviewGroup(
                f"SKU × location pairs drifting: {before} → {after}",
                count=abs(after - before),
                note="the next check opens or closes their exceptions",
            )
        ],
    )
