"""The inventory domain's admin-edited configuration: allocation rules (percent, safety stock,
cap per channel × location), freshness SLAs and drift tolerances.

One save or delete in a transaction, with the person as the actor and their reason in history,
as every configuration table. A changed allocation rule changes what every channel may sell:
ATS is recomputed at once (one statement) and what changed is published; a changed tolerance or
freshness SLA is applied by the next check (each feed's own, or beat's within minutes).
"""

from __future__ import annotations

from typing import Any

from django.db import transaction

from controltower.core.context import acting_as
from controltower.core.models import stamp
from controltower.core.writepath import domain_service
from controltower.inventory import ats
from controltower.inventory.models import ChannelAllocationRule, DriftTolerance, StockFreshnessRule
from controltower.inventory.services import mark_publications

Rule = ChannelAllocationRule | DriftTolerance | StockFreshnessRule


def _after_change(row: Rule) -> None:
    if isinstance(row, ChannelAllocationRule):
        mark_publications(ats.recompute())


def _save[M: (ChannelAllocationRule, DriftTolerance, StockFreshnessRule)](
    row: M, *, actor: Any, reason: str
) -> M:
    with transaction.atomic(), acting_as(actor):
        stamp(row, reason[:100])
        row.save()
        _after_change(row)
    return row


def _delete(row: Rule, *, actor: Any, reason: str) -> None:
    with transaction.atomic(), acting_as(actor):
        stamp(row, reason[:100])
        row.delete()
        _after_change(row)


@domain_service
def save_allocation_rule(
    rule: ChannelAllocationRule, *, actor: Any, reason: str
) -> ChannelAllocationRule:
    return _save(rule, actor=actor, reason=reason)


@domain_service
def delete_allocation_rule(rule: ChannelAllocationRule, *, actor: Any, reason: str) -> None:
    """The channel no longer sells from the location (without any rule it is not
    stock-controlled at all)."""
    _delete(rule, actor=actor, reason=reason)


@domain_service
def save_freshness_rule(rule: StockFreshnessRule, *, actor: Any, reason: str) -> StockFreshnessRule:
    return _save(rule, actor=actor, reason=reason)


@domain_service
def delete_freshness_rule(rule: StockFreshnessRule, *, actor: Any, reason: str) -> None:
    _delete(rule, actor=actor, reason=reason)


@domain_service
def save_drift_tolerance(rule: DriftTolerance, *, actor: Any, reason: str) -> DriftTolerance:
    return _save(rule, actor=actor, reason=reason)


@domain_service
def delete_drift_tolerance(rule: DriftTolerance, *, actor: Any, reason: str) -> None:
    _delete(rule, actor=actor, reason=reason)
