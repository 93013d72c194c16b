"""Journal entries ⇄ the ledger's generic journal-batch JSON (docs/contracts/ledger.md).

Pure functions, no I/O. Money crosses as decimal strings, never floats: whole cents as two
decimals (``"12.10"``), anything finer with all four the domain keeps — an amount is never
rounded on the way out, since a rounded line could unbalance an entry the database proved
balanced.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from decimal import Decimal
from typing import TYPE_CHECKING, Any

from controltower.finance.services import FiscalPeriodData
from integrations.runtime.registry import PoisonMessage

if TYPE_CHECKING:
    from controltower.finance.models import JournalEntry

CENT = Decimal("0.01")
PERIOD_STATUSES = ("open", "closed")


class TranslationError(PoisonMessage):
    """The ledger's answer cannot be read as the contract describes; the message says why."""


def amount(value: Decimal) -> str:
    """A domain amount as the ledger reads it: two decimals when it is whole cents."""
    return f"{value:.2f}" if value == value.quantize(CENT) else f"{value:.4f}"


def external_ref(entry: JournalEntry) -> str:
    """The entry's key in the ledger: the same on every re-post, so a re-post is a duplicate of
    what was booked, never a second booking (a sales entry's is ``sale:<correlation id>``)."""
    return entry.external_id or f"controltower:journal-entry:{entry.pk}"


def _dimensions(entry: JournalEntry, line: Any) -> dict[str, str]:
    dims: dict[str, str] = {"correlation_id": str(entry.correlation_id)}
    channel = line.channel if line.channel_id else entry.channel
    if channel is not None:
        dims["channel"] = channel.code
    if entry.order_id is not None:
        dims["order"] = entry.order.reference
    if line.location_id is not None:
        dims["location"] = line.location.code
    return dims


def entry_payload(entry: JournalEntry) -> dict[str, Any]:
    """One entry with its lines (read ``lines__account`` prefetched)."""
    return {
        "external_ref": external_ref(entry),
        "date": entry.entry_date.isoformat(),
        "currency": entry.currency,
        "description": entry.description,
        "legal_entity": entry.legal_entity,
        "lines": [
            {
                "account": line.account.code,
                "debit": amount(line.debit_amount),
                "credit": amount(line.credit_amount),
                "tax_code": line.tax_code,
                "dimensions": _dimensions(entry, line),
            }
            for line in sorted(entry.lines.all(), key=lambda x: x.pk)
        ],
    }


def batch_payload(batch_ref: str, entries: list[JournalEntry]) -> dict[str, Any]:
    """The outbox payload of one batch: what is POSTed (``batch_ref``, ``entries``) plus the
    batch's ``total`` and ``currency`` when it has one currency (money at risk if it
    dead-letters). The deliverer sends only :data:`SENT_KEYS`."""
    payload: dict[str, Any] = {
        "batch_ref": batch_ref,
        "entries": [entry_payload(entry) for entry in entries],
    }
    currencies = {entry.currency for entry in entries}
    if len(currencies) == 1:
        payload["currency"] = currencies.pop()
        payload["total"] = amount(sum((e.total_amount for e in entries), Decimal(0)))
    return payload


SENT_KEYS = ("batch_ref", "entries")


def request_body(payload: dict[str, Any]) -> dict[str, Any]:
    return {key: payload[key] for key in SENT_KEYS if key in payload}


@dataclass(frozen=True)
class EntryResult:
    """The ledger's answer for one entry of a batch."""

    external_ref: str
    accepted: bool
    ledger_id: str = ""
    duplicate: bool = False
    code: str = ""
    reason: str = ""


def batch_results(body: Any) -> list[EntryResult]:
    """The per-entry results of a batch answer; raise :class:`TranslationError` if unreadable."""
    results = body.get("results") if isinstance(body, dict) else None
    if not isinstance(results, list):
        raise TranslationError("the ledger's answer to the batch holds no results list")
    parsed = []
    for index, result in enumerate(results):
        if not isinstance(result, dict) or not isinstance(result.get("external_ref"), str):
            raise TranslationError(f"result {index} of the ledger's answer names no external_ref")
        status = result.get("status")
        if status == "accepted":
            ledger_id = result.get("ledger_id")
            if not isinstance(ledger_id, str) or not ledger_id:
                raise TranslationError(
                    f"the ledger accepted {result['external_ref']} without a ledger_id"
                )
            parsed.append(
                EntryResult(
                    result["external_ref"],
                    True,
                    ledger_id=ledger_id,
                    duplicate=result.get("duplicate") is True,
                )
            )
        elif status == "rejected":
            parsed.append(
                EntryResult(
                    result["external_ref"],
                    False,
                    code=str(result.get("code") or "unknown"),
                    reason=str(result.get("reason") or "no reason given"),
                )
            )
        else:
            raise TranslationError(
                f"result {index} of the ledger's answer has status {status!r}, "
                "not accepted or rejected"
            )
    return parsed


def rejection_reason(result: EntryResult, entry: JournalEntry) -> str:
    """What people read on the posting exception: the ledger's code and words, and for a closed
    period which one, in our terms, and what to do."""
    reason = f"the ledger rejected the entry ({result.code}): {result.reason}"
    if result.code == "period_closed":
        reason += (
            f" — fiscal period {entry.entry_date:%Y-%m} of legal entity {entry.legal_entity} "
            "is closed in the ledger; reopen it there (or move the entry) and re-post"
        )
    return reason


def periods_from(body: Any) -> list[FiscalPeriodData]:
    """``GET /api/v1/periods`` → periods; raise :class:`TranslationError` if unreadable."""
    results = body.get("results") if isinstance(body, dict) else None
    if not isinstance(results, list):
        raise TranslationError("the ledger's periods answer holds no results list")
    periods = []
    for index, row in enumerate(results):
        try:
            period = FiscalPeriodData(
                legal_entity=str(row["legal_entity"]),
                starts_on=date.fromisoformat(row["starts_on"]),
                ends_on=date.fromisoformat(row["ends_on"]),
                status=str(row["status"]),
            )
        except (KeyError, TypeError, ValueError) as exc:
            raise TranslationError(f"period {index} of the ledger's answer: {exc!r}") from exc
        if period.status not in PERIOD_STATUSES or period.ends_on < period.starts_on:
            raise TranslationError(
                f"period {index} of the ledger's answer is {period.status!r} "
                f"from {period.starts_on} to {period.ends_on}"
            )
        periods.append(period)
    return periods
