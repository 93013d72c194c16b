"""What a promotion-policy change would do: the price check run on the proposed rule or
exclusion inside a savepoint that is then rolled back — nothing is saved, no exception opened.
It lists the SKU × channel breaches the change would add and those it would clear."""

from __future__ import annotations

from django.db import transaction

from controltower.catalog.models import SKU, Channel
from controltower.core.writepath import service_scope
from controltower.dashboards.mappings_preview import SHOWN, Preview, PreviewGroup, PreviewRow
from controltower.pricing.checks import Found, find_breaches
from controltower.pricing.models import PromotionExclusion, PromotionRule


def _with(proposed: PromotionRule | PromotionExclusion) -> list[Found]:
    """The breaches with ``proposed`` saved, in a savepoint that is then rolled back."""
    with transaction.atomic():
        point = transaction.savepoint()
        try:
            with service_scope():
                proposed.save()
            return find_breaches()
        finally:
            transaction.savepoint_rollback(point)


def _rows(found: list[Found]) -> list[PreviewRow]:
    shown = found[:SHOWN]
    codes = dict(
        SKU.objects.filter(pk__in={f.row["sku_id"] for f in shown}).values_list("pk", "code")
    )
    channels = dict(Channel.objects.values_list("pk", "code"))
    return [
        PreviewRow(
            label=f"{codes.get(f.row['sku_id'], f.row['sku_id'])} on "
            f"{channels.get(f.row['channel_id'], f.row['channel_id'])}",
            url="",
            detail=f"{f.breach.label.lower()}: asks {f.row['lowest']:.2f} (ERP "
            f"{f.row['erp']:.2f}, floor {f.row['floor']:.2f}), "
            f"{f.margin_at_risk} {f.row['currency']} at risk",
        )
        for f in shown
    ]


def _preview(proposed: PromotionRule | PromotionExclusion, summary: str) -> Preview:
    before = {f.key: f for f in find_breaches()}
    after = {f.key: f for f in _with(proposed)}
    added = [after[key] for key in sorted(set(after) - set(before))]
    cleared = [before[key] for key in sorted(set(before) - set(after))]
    return Preview(
        summary=f"{summary} Breaches now {len(before)}, with this change {len(after)}.",
        groups=[
            PreviewGroup("SKUs that would breach the policy", len(added), _rows(added)),
            PreviewGroup("SKUs that would be back within policy", len(cleared), _rows(cleared)),
        ],
    )


def preview_promotion_rule(proposed: PromotionRule, original: PromotionRule | None) -> Preview:
    where = proposed.channel.code if proposed.channel_id else "every channel"
    what = proposed.category or "every category"
    return _preview(
        proposed,
        f"{what} on {where}: at most {proposed.max_discount_percent}% off the ERP price.",
    )


def preview_promotion_exclusion(
    proposed: PromotionExclusion, original: PromotionExclusion | None
) -> Preview:
    where = proposed.channel.code if proposed.channel_id else "every channel"
    return _preview(proposed, f"{proposed.sku.code} never on promotion on {where}.")
