"""Exceptions in a transaction trace: opened, assigned, resolved or ignored — and by whom."""

from __future__ import annotations

from controltower.core.trace import TraceEntry, history_entries, register_source
from controltower.exceptions.models import OpsException


def exception_entries(correlation_id: str) -> list[TraceEntry]:
    return history_entries(OpsException, correlation_id, label="exception")


register_source("exceptions", exception_entries)
