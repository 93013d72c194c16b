"""The ERP's stock feed, applied: each page the scheduled pull (``integrations.erp.tasks``) stored
in the inbox (topic ``stock.page``) becomes one feed message of the inventory domain.

A page is applied whole or not at all. Its lines are read first — each must be an object with a
SKU and a location code, an ``as_of`` time and, when it carries one, a ``unit_cost`` that is a
decimal string ≥ 0 with at most 4 decimals; then the domain checks the figures
(:func:`~controltower.inventory.services.record_stock_reports`: a negative or fractional on-hand,
an unknown SKU or location, an ``as_of`` in the future or older than the ERP's freshness SLA).
Either refusal names every bad line it found and dead-letters the page with that text
(``TranslationError``): an exception for ops, replayable edited, and nothing of the page applied.

Costs: a line's ``unit_cost`` sets its SKU's cost (``catalog.services.set_sku_costs``, in the
same transaction, before the figures, so the drift check they trigger values at the new cost).
Cost is per SKU, the figures per SKU × location: when one page names a SKU at several locations,
the cost of its newest line wins; a line older than the ERP figure already held for its SKU ×
location (a late page, a replay of an old one) sets no cost, as it sets no figure.
"""

from __future__ import annotations

import json
import logging
import uuid
from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal, InvalidOperation
from typing import Any

from controltower.catalog.models import SKU
from controltower.catalog.services import set_sku_costs
from controltower.inventory.choices import ReportingSystem
from controltower.inventory.models import StockPosition
from controltower.inventory.services import StockFeedRefused, StockReport, record_stock_reports
from integrations.erp.translate import MAX_AMOUNT, TranslationError
from integrations.runtime.models import InboundEvent
from integrations.runtime.registry import Ignored

logger = logging.getLogger(__name__)

STOCK_PAGE = "stock.page"  # the inbox topic of a page the pull stored
MAX_LINES = 1000  # a page holds at most 500 (per_page); an edited replay may hold a few more
COST_PLACES = Decimal("0.0001")


@dataclass
class StockPage:
    """A page read: the domain's reports, and the cost each SKU's newest line gives it."""

    reports: list[StockReport] = field(default_factory=list)
    costs: dict[str, tuple[datetime, str, Decimal]] = field(default_factory=dict)
    # code → (as_of, location, cost)


def _shown(value: Any) -> str:
    return repr(str(value)[:64]) if value is not None else "(missing)"


def _line_name(index: int, line: dict[str, Any]) -> str:
    """As the domain names a line: ``line 3: 'SKU' at 'LOCATION'``."""
    return f"line {index + 1}: {_shown(line.get('sku'))} at {_shown(line.get('location'))}"


def _as_of(value: Any, problems: list[str]) -> Any:
    """The line's ``as_of`` parsed; a time without a zone goes on to the domain, which refuses
    it by its own words."""
    if not isinstance(value, str) or not value.strip():
        problems.append("as_of is missing (an ISO 8601 time)")
        return None
    try:
        return datetime.fromisoformat(value.strip())
    except ValueError:
        problems.append(f"as_of {value[:40]!r} is not an ISO 8601 time")
        return None


def _unit_cost(value: Any, problems: list[str]) -> Decimal | None:
    """A decimal string ≥ 0 with at most 4 decimals; absent or null: no cost on the line."""
    if value is None:
        return None
    if not isinstance(value, str):
        problems.append(f"unit_cost {str(value)[:20]} is not a decimal string")
        return None
    try:
        cost = Decimal(value.strip())
    except InvalidOperation:
        cost = None
    if cost is None or not cost.is_finite():
        problems.append(f"unit_cost {value[:20]!r} is not a decimal amount")
    elif cost < 0:
        problems.append(f"unit_cost {value[:20]!r} is negative")
    elif cost >= MAX_AMOUNT:
        problems.append(f"unit_cost {value[:20]!r} is not a plausible cost")
    elif cost != cost.quantize(COST_PLACES):
        problems.append(f"unit_cost {value[:20]!r} has more than 4 decimals")
    else:
        return cost
    return None


def stock_page(payload: Any) -> StockPage:
    """A stored page → the domain's reports and the SKUs' costs; ``TranslationError`` naming
    every line that cannot be read (pure: no I/O)."""
    if not isinstance(payload, dict):
        raise TranslationError("a stock page must be a JSON object")
    lines = payload.get("results")
    if not isinstance(lines, list):
        raise TranslationError("results: must be a list")
    if len(lines) > MAX_LINES:
        raise TranslationError(f"results: more than {MAX_LINES} lines")
    page, refused = StockPage(), []
    for index, line in enumerate(lines):
        if not isinstance(line, dict):
            refused.append(f"line {index + 1}: must be an object, not {type(line).__name__}")
            continue
        problems: list[str] = []
        for name in ("sku", "location"):
            value = line.get(name)
            if not isinstance(value, str) or not value.strip():
                problems.append(f"{name} must be a non-empty string")
        as_of = _as_of(line.get("as_of"), problems)
        cost = _unit_cost(line.get("unit_cost"), problems)
        if problems:
            refused.append(f"{_line_name(index, line)}: {', '.join(problems)}")
            continue
        sku, location = line["sku"].strip(), line["location"].strip()
        page.reports.append(
            StockReport(sku=sku, location=location, on_hand=line.get("on_hand"), as_of=as_of)
        )
        held = page.costs.get(sku)
        dated = isinstance(as_of, datetime) and as_of.tzinfo is not None
        if cost is not None and dated and (held is None or held[0] <= as_of):
            page.costs[sku] = (as_of, location, cost)
    if refused:
        raise TranslationError(str(StockFeedRefused(refused)))
    return page


def _costs_to_set(page: StockPage) -> dict[str, Decimal]:
    """The page's costs of SKUs we hold, from lines newer than the ERP figure held for their
    SKU × location (an unknown SKU is the domain's to refuse, by its words)."""
    if not page.costs:
        return {}
    codes = list(page.costs)
    known = set(SKU.objects.filter(code__in=codes).values_list("code", flat=True))
    held = {
        (code, location): as_of
        for code, location, as_of in StockPosition.objects.filter(
            reporting_system=ReportingSystem.ERP, sku__code__in=codes
        ).values_list("sku__code", "location__code", "as_of")
    }
    return {
        code: cost
        for code, (as_of, location, cost) in page.costs.items()
        if code in known and (held.get((code, location)) is None or held[(code, location)] < as_of)
    }


def handle_stock_page(event: InboundEvent) -> Any:
    """Apply one stored page (inside the inbox's transaction); see the module doc."""
    try:
        payload = json.loads(event.body)
    except (ValueError, RecursionError) as exc:
        raise TranslationError(f"malformed JSON: {exc}") from None
    page = stock_page(payload)
    if not page.reports:
        return Ignored("the stock page has no lines")
    source = f"erp:{event.connection.slug}"  # as documents.source_system_for
    where = f"ERP stock page {payload.get('page', '?')}"[:60]
    costs = _costs_to_set(page)
    costed = set_sku_costs(costs, reason=f"unit cost from {source}") if costs else 0
    try:
        result = record_stock_reports(
            ReportingSystem.ERP, page.reports, source=source, reason=f"{where} from {source}"
        )
    except StockFeedRefused as exc:
        raise TranslationError(str(exc)) from None
    if not result.applied and not costed:
        return Ignored(
            f"every figure on the page is as old as or older than the one held "
            f"({result.superseded} superseded)"
        )
    logger.info(
        "%s: %d created, %d changed, %d refreshed, %d superseded, %d cost(s) set",
        where,
        result.created,
        result.changed,
        result.refreshed,
        result.superseded,
        costed,
    )
    return uuid.uuid5(uuid.NAMESPACE_URL, f"erp-stock:{event.connection.slug}:{event.dedupe_key}")
