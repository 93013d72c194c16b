"""A seam for the transaction trace: packages contribute timeline entries for a correlation id.

The domain does not import ``integrations``; the runtime registers a source here that returns
its inbound events and outbound messages, and pages/API read ``collect()``.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any


@dataclass(frozen=True)
class TraceEntry:
    at: datetime
    system: str
    kind: str
    title: str
    status: str = ""
    detail: dict[str, Any] = field(default_factory=dict)
    payload: str = ""
    actor: str = ""

    def as_dict(self) -> dict[str, Any]:
        return {
            "at": self.at.isoformat(),
            "system": self.system,
            "kind": self.kind,
            "title": self.title,
            "status": self.status,
            "actor": self.actor,
            "detail": self.detail,
            "payload": self.payload,
        }


TraceSource = Callable[[str], list[TraceEntry]]
_SOURCES: dict[str, TraceSource] = {}


def register_source(name: str, source: TraceSource) -> None:
    _SOURCES[name] = source


def collect(correlation_id: str) -> list[TraceEntry]:
    entries: list[TraceEntry] = []
    for source in _SOURCES.values():
        entries.extend(source(correlation_id))
    return sorted(entries, key=lambda entry: (entry.at, entry.kind))


def history_entries(model: Any, correlation_id: str, *, label: str) -> list[TraceEntry]:
    """State changes from django-simple-history, as field-by-field diffs, for one transaction."""
    records = list(
        model.history.filter(correlation_id=correlation_id)
        .select_related("history_user")
        .order_by("history_date", "history_id")
    )
    entries: list[TraceEntry] = []
    previous: dict[Any, Any] = {}
    for record in records:
        prior = previous.get(record.id)
        changes = (
            [
                {"field": c.field, "old": _plain(c.old), "new": _plain(c.new)}
                for c in record.diff_against(prior).changes
                if c.field not in ("updated_at",)
            ]
            if prior is not None
            else []
        )
        previous[record.id] = record
        entries.append(
            TraceEntry(
                at=record.history_date,
                system="Control Tower",
                kind="history",
                title=f"{label} {record.id} {record.get_history_type_display().lower()}",
                status=getattr(record, "state", "") or "",
                actor=getattr(record.history_user, "username", "") or "",
                detail={"reason": record.history_change_reason or "", "changes": changes},
            )
        )
    return entries


def _plain(value: Any) -> Any:
    if value is None or isinstance(value, bool | int | float | str):
        return value
    return str(value)
