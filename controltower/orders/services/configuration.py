"""The order domain's admin-edited configuration: channel status mappings and stage SLAs.

They are rows people change (the mappings page), not rows a process derives, so the service is
small: one save or delete in a transaction, with the person as the actor and their reason in the
history row, the same audit every other write path leaves. Validation is the caller's form; the
database constraints stay the last word (an ``IntegrityError`` reaches the caller).
"""

from __future__ import annotations

from typing import Any

from django.db import transaction

from controltower.core.context import acting_as
from controltower.core.models import stamp
from controltower.core.writepath import domain_service
from controltower.orders.models import ChannelStatusMapping, StageSLA


def _save[M: (ChannelStatusMapping, StageSLA)](row: M, *, actor: Any, reason: str) -> M:
    with transaction.atomic(), acting_as(actor):
        stamp(row, reason[:100])
        row.save()
    return row


def _delete(row: ChannelStatusMapping | StageSLA, *, actor: Any, reason: str) -> None:
    with transaction.atomic(), acting_as(actor):
        stamp(row, reason[:100])
        row.delete()


@domain_service
def save_status_mapping(
    mapping: ChannelStatusMapping, *, actor: Any, reason: str
) -> ChannelStatusMapping:
    """Create or change which canonical state a channel status means (read on the next update
    of each order in that status)."""
    return _save(mapping, actor=actor, reason=reason)


@domain_service
def delete_status_mapping(mapping: ChannelStatusMapping, *, actor: Any, reason: str) -> None:
    """Remove a mapping: the channel's next order in that status is refused as unmapped."""
    _delete(mapping, actor=actor, reason=reason)


@domain_service
def save_stage_sla(sla: StageSLA, *, actor: Any, reason: str) -> StageSLA:
    """Create or change how long an order may stay in a stage before it counts as stuck."""
    return _save(sla, actor=actor, reason=reason)


@domain_service
def delete_stage_sla(sla: StageSLA, *, actor: Any, reason: str) -> None:
    _delete(sla, actor=actor, reason=reason)
