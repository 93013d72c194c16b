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


TraceSource = Callable[[str], list[TraceEntry]]
_SOURCES: dict[str, TraceSource] = {}


def register_source(name: str, source: TraceSource) -> None:
    _SOURCES[name] = source


def collect(correlation_id: str) -> list[TraceEntry]:
    entries: list[TraceEntry] = []
    for source in _SOURCES.values():
        entries.extend(source(correlation_id))
    return sorted(entries, key=lambda entry: entry.at)
