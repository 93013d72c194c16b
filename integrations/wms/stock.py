"""The warehouse's stock feed (docs/contracts/wms.md, "Stock"): ``inventory.snapshot`` and
``inventory.adjusted`` events become the inventory domain's stock reports.

- A **snapshot** chunk (``sequence`` of ``of``, at most :data:`MAX_ITEMS` items) is the absolute
  on-hand of each SKU × location it lists as of its ``as_of``: one feed message, applied on its
  own (a chunk never waits for its siblings; a SKU it does not list is left as it is).
- An **adjustment** is one change; its ``on_hand_after`` is the figure applied, never the
  ``delta``, so a late or repeated adjustment is ordered by ``as_of`` like any other figure (an
  older one is superseded) instead of being added twice.

Translation is strict about shapes (a field missing or of the wrong type is a
:class:`~integrations.wms.translate.TranslationError` naming it); what the *values* mean — a
negative count, an unknown SKU or location, an ``as_of`` in the future or older than the
freshness SLA — is the domain's rule (``inventory.services.record_stock_reports``), which names
every bad line at once and applies nothing: its refusal becomes the dead letter's text. The
correlation id of a stock event is derived from the connection and the snapshot's or the
adjustment's id, so every chunk, redelivery and replay of one count files under one id.
"""

from __future__ import annotations

import logging
import uuid
from dataclasses import dataclass
from typing import Any

from controltower.inventory.choices import ReportingSystem
from controltower.inventory.services import StockFeedRefused, StockReport, record_stock_reports
from integrations.runtime.registry import Ignored
from integrations.wms.translate import STOCK_EVENTS, TranslationError, _moment, _object, _text

logger = logging.getLogger(__name__)

SNAPSHOT = "inventory.snapshot"
ADJUSTED = "inventory.adjusted"
MAX_ITEMS = 500  # per snapshot event: the contract's chunk size
MAX_CHUNKS = 10_000
CODE_MAX = 64  # catalog SKU and location codes
STOCK_NAMESPACE = uuid.UUID("5b0c2e1e-7d4b-4f0e-9c57-3f1e0a6d2c11")


@dataclass(frozen=True)
class StockMessage:
    """One stock event, translated: what to record and how a person names it."""

    kind: str  # "snapshot" | "adjustment"
    reference: str  # the snapshot's or the adjustment's id
    reports: list[StockReport]
    reason: str


def _integer(obj: dict[str, Any], name: str, *, where: str) -> int:
    """A JSON integer, of any sign (the domain judges the value)."""
    value = obj.get(name)
    if name not in obj or value is None:
        raise TranslationError(f"{where}.{name}: missing")
    if isinstance(value, bool) or not isinstance(value, int):
        raise TranslationError(f"{where}.{name}: must be an integer, not {type(value).__name__}")
    return value


def translate_snapshot(envelope: Any) -> StockMessage:
    """An ``inventory.snapshot`` chunk: one report per item, all as of the snapshot's moment."""
    obj = _object(envelope, "stock_snapshot")
    where = "data.object"
    reference = _text(obj, "id", where=where)
    _text(obj, "warehouse", where=where)
    as_of = _moment(obj, "as_of", where=where)
    sequence = _integer(obj, "sequence", where=where)
    total = _integer(obj, "of", where=where)
    if not 1 <= total <= MAX_CHUNKS:
        raise TranslationError(f"{where}.of: must be from 1 to {MAX_CHUNKS}")
    if not 1 <= sequence <= total:
        raise TranslationError(f"{where}.sequence: must be from 1 to {total} (of)")
    items = obj.get("items")
    if not isinstance(items, list):
        raise TranslationError(f"{where}.items: must be a list")
    if len(items) > MAX_ITEMS:
        raise TranslationError(f"{where}.items: more than {MAX_ITEMS} items in one event")
    reports: list[StockReport] = []
    seen: set[tuple[str, str]] = set()
    for index, item in enumerate(items):
        at = f"{where}.items[{index}]"
        if not isinstance(item, dict):
            raise TranslationError(f"{at}: must be an object")
        report = StockReport(
            sku=_text(item, "sku", where=at, limit=CODE_MAX),
            location=_text(item, "location", where=at, limit=CODE_MAX),
            on_hand=_integer(item, "on_hand", where=at),
            as_of=as_of,
        )
        if (report.sku, report.location) in seen:  # two counts of one shelf as of one moment
            raise TranslationError(f"{at}: {report.sku!r} at {report.location!r} is listed twice")
        seen.add((report.sku, report.location))
        reports.append(report)
    return StockMessage(
        kind="snapshot",
        reference=reference,
        reports=reports,
        reason=f"WMS snapshot {reference} ({sequence}/{total})",
    )


def translate_adjustment(envelope: Any) -> StockMessage:
    """An ``inventory.adjusted`` event: the figure it leaves (``on_hand_after``) as of then."""
    obj = _object(envelope, "stock_adjustment")
    where = "data.object"
    reference = _text(obj, "adjustment_id", where=where)
    _integer(obj, "delta", where=where)  # shown to people, never applied
    reason = _text(obj, "reason", where=where, limit=200)
    report = StockReport(
        sku=_text(obj, "sku", where=where, limit=CODE_MAX),
        location=_text(obj, "location", where=where, limit=CODE_MAX),
        on_hand=_integer(obj, "on_hand_after", where=where),
        as_of=_moment(obj, "as_of", where=where),
        reference=reference,
    )
    return StockMessage(
        kind="adjustment",
        reference=reference,
        reports=[report],
        reason=f"WMS adjustment {reference}: {reason}",
    )


def stock_correlation_id(connection: str, message: StockMessage) -> uuid.UUID:
    """The same id for every chunk, redelivery and replay of one snapshot or adjustment."""
    return uuid.uuid5(STOCK_NAMESPACE, f"wms:{connection}:{message.kind}:{message.reference}")


def apply_stock_event(event_type: str, envelope: Any, *, connection: str) -> uuid.UUID | Ignored:
    """In the inbox's transaction: record the event's figures. A refused message is a
    :class:`TranslationError` with the domain's text (every bad line named, nothing applied);
    one whose every figure is older than the one held is :class:`Ignored`, saying so."""
    if event_type not in STOCK_EVENTS:
        raise TranslationError(f"not a stock event: {event_type[:64]!r}")
    if event_type == SNAPSHOT:
        message = translate_snapshot(envelope)
    else:
        message = translate_adjustment(envelope)
    correlation_id = stock_correlation_id(connection, message)
    if not message.reports:
        return Ignored(f"{message.kind} {message.reference} lists no items")
    try:
        result = record_stock_reports(
            ReportingSystem.WMS,
            message.reports,
            source=f"wms:{connection}",
            reason=message.reason,
        )
    except StockFeedRefused as exc:
        raise TranslationError(str(exc)) from exc
    logger.info(
        "%s %s from %s: %d applied, %d superseded (correlation %s)",
        message.kind,
        message.reference,
        connection,
        result.applied,
        result.superseded,
        correlation_id,
    )
    if not result.applied and result.superseded:
        return Ignored(
            f"{message.kind} {message.reference}: every figure ({result.superseded}) is older "
            "than the one held; superseded, nothing applied"
        )
    return correlation_id
