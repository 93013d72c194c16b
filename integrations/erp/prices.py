"""The ERP's item feed, applied: each page the scheduled pull (``integrations.erp.tasks``,
``erp.pull_prices``) stored in the inbox (topic ``items.page``) sets the base price and tax class
of the SKUs it names (``catalog.services.set_sku_erp_prices``), and the price policy is checked
for them in the same transaction (``controltower.pricing``).

A page is applied whole or not at all. Its lines are read first — each must be an object with a
SKU, a ``price`` that is a decimal string ≥ 0 with at most 4 decimals, a ``tax_class`` and an
``updated_at`` with a time zone; then the domain checks them (a SKU we do not hold, a tax class
outside ``CT_TAX_CLASSES``, a price in another currency than the SKU's). Either refusal names
every bad line it found and dead-letters the page with that text (``TranslationError``): an
exception for ops, replayable edited, and nothing of the page applied. When one page names a SKU
twice, its newest line wins; a line no newer than the price held is superseded.
"""

from __future__ import annotations

import json
import logging
import uuid
from datetime import datetime
from decimal import Decimal, InvalidOperation
from typing import Any

from controltower.catalog.services import ErpItemPrice, set_sku_erp_prices
from integrations.erp.translate import MAX_AMOUNT, TranslationError
from integrations.runtime.models import InboundEvent
from integrations.runtime.registry import Ignored

logger = logging.getLogger(__name__)

ITEMS_PAGE = "items.page"  # the inbox topic of a page the pull stored
MAX_LINES = 1000  # a page holds at most 500 (per_page); an edited replay may hold a few more
PRICE_PLACES = Decimal("0.0001")
REFUSED = "ERP items refused, nothing applied: "


def _shown(value: Any) -> str:
    return repr(str(value)[:64]) if value is not None else "(missing)"


def _price(value: Any, problems: list[str]) -> Decimal | None:
    """A decimal string ≥ 0 with at most 4 decimals (a JSON number is refused: it may be a
    binary float on the way)."""
    if not isinstance(value, str):
        problems.append(
            "price is missing"
            if value is None
            else f"price {str(value)[:20]} is not a decimal string"
        )
        return None
    try:
        price = Decimal(value.strip())
    except InvalidOperation:
        price = None
    if price is None or not price.is_finite():
        problems.append(f"price {value[:20]!r} is not a decimal amount")
    elif price < 0:
        problems.append(f"price {value[:20]!r} is negative")
    elif price >= MAX_AMOUNT:
        problems.append(f"price {value[:20]!r} is not a plausible price")
    elif price != price.quantize(PRICE_PLACES):
        problems.append(f"price {value[:20]!r} has more than 4 decimals")
    else:
        return price
    return None


def _moment(value: Any, problems: list[str]) -> datetime | None:
    try:
        moment = datetime.fromisoformat(value.strip()) if isinstance(value, str) else None
    except ValueError:
        moment = None
    if moment is None or moment.tzinfo is None:
        problems.append(f"updated_at {_shown(value)} is not an ISO 8601 time with a time zone")
        return None
    return moment


def _text(line: dict[str, Any], name: str, problems: list[str], *, limit: int) -> str:
    value = line.get(name)
    if not isinstance(value, str) or not value.strip():
        problems.append(f"{name} must be a non-empty string")
        return ""
    if len(value.strip()) > limit:
        problems.append(f"{name} is longer than {limit} characters")
        return ""
    return value.strip()


def items_page(payload: Any) -> dict[str, ErpItemPrice]:
    """A stored page → ``{sku code: ErpItemPrice}``; ``TranslationError`` naming every line that
    cannot be read (pure: no I/O)."""
    if not isinstance(payload, dict):
        raise TranslationError("an items page must be a JSON object")
    lines = payload.get("results")
    if not isinstance(lines, list):
        raise TranslationError("results: must be a list")
    if len(lines) > MAX_LINES:
        raise TranslationError(f"results: more than {MAX_LINES} lines")
    items: dict[str, ErpItemPrice] = {}
    refused: list[str] = []
    for index, line in enumerate(lines):
        if not isinstance(line, dict):
            refused.append(f"line {index + 1}: must be an object, not {type(line).__name__}")
            continue
        problems: list[str] = []
        code = _text(line, "sku", problems, limit=64)
        price = _price(line.get("price"), problems)
        tax_class = _text(line, "tax_class", problems, limit=32)
        moment = _moment(line.get("updated_at"), problems)
        currency = line.get("currency")
        if currency is not None and not (
            isinstance(currency, str) and len(currency) == 3 and currency.isalpha()
        ):
            problems.append(f"currency {_shown(currency)} is not a 3-letter code")
        if problems:
            refused.append(f"line {index + 1}: {_shown(line.get('sku'))}: {', '.join(problems)}")
            continue
        assert price is not None and moment is not None
        held = items.get(code)
        if held is None or held.updated_at <= moment:
            items[code] = ErpItemPrice(
                price=price,
                tax_class=tax_class,
                updated_at=moment,
                currency=(currency or "").upper(),
            )
    if refused:
        raise TranslationError(REFUSED + "; ".join(refused[:20]))
    return items


def handle_items_page(event: InboundEvent) -> Any:
    """Apply one stored page (inside the inbox's transaction); see the module doc."""
    try:
        payload = json.loads(event.body)
    except (ValueError, RecursionError) as exc:
        raise TranslationError(f"malformed JSON: {exc}") from None
    items = items_page(payload)
    if not items:
        return Ignored("the items page has no lines")
    source = f"erp:{event.connection.slug}"
    where = f"ERP items page {payload.get('page', '?')}"[:60]
    try:
        result = set_sku_erp_prices(items, reason=f"{where} from {source}")
    except ValueError as exc:
        raise TranslationError(str(exc)) from None
    if not (result.changed or result.unchanged):
        return Ignored(
            f"every price on the page is as old as or older than the one held "
            f"({result.superseded} superseded)"
        )
    logger.info(
        "%s: %d changed, %d unchanged, %d superseded",
        where,
        result.changed,
        result.unchanged,
        result.superseded,
    )
    return uuid.uuid5(uuid.NAMESPACE_URL, f"erp-items:{event.connection.slug}:{event.dedupe_key}")
