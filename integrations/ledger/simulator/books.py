"""The simulated ledger's books: the chart of accounts, monthly periods per legal entity and the
booked entries, with the checks a general ledger makes before it books an entry.

Pure data and rules, no HTTP: the server (``server.py``) holds one :class:`Books` behind its lock
and turns a batch into per-entry results with :meth:`Books.book`. Each entry is judged on its own
(one unbalanced entry never stops the rest of its batch), as ERP journal imports do when they
are asked to "post what is valid".
"""

from __future__ import annotations

import calendar
import hashlib
import json
import re
from dataclasses import dataclass, field
from datetime import date
from decimal import Decimal, InvalidOperation
from typing import Any

from integrations.simkit import iso_utc, utcnow

MAX_BATCH = 100
AMOUNT_RE = re.compile(r"^\d{1,16}(\.\d{1,4})?$")
CURRENCY_RE = re.compile(r"^[A-Z]{3}$")
MONTH_RE = re.compile(r"^(\d{4})-(0[1-9]|1[0-2])$")
DEFAULT_LEGAL_ENTITY = "default"
REJECTION_CODES = ("period_closed", "unbalanced", "unknown_account", "invalid", "conflict")

# The demo retailer's chart (controltower/demo/retailer.py: GL_ACCOUNTS), so the demo's posting
# rules book without setup; 1300 and 2110 are there for tests that split clearing and tax.
DEFAULT_ACCOUNTS: tuple[tuple[str, str, str], ...] = (
    ("1100", "Receivables / payment clearing", "asset"),
    ("1200", "Inventory", "asset"),
    ("1300", "Payment clearing", "asset"),
    ("2100", "VAT payable", "liability"),
    ("2110", "VAT payable (reduced rate)", "liability"),
    ("2300", "Gift cards and store credit", "liability"),
    ("4000", "Gross sales", "revenue"),
    ("4100", "Discounts", "revenue"),
    ("4200", "Shipping revenue", "revenue"),
    ("4900", "Refunds", "revenue"),
    ("5000", "Cost of goods sold", "expense"),
    ("6100", "Payment gateway fees", "expense"),
)
ACCOUNT_TYPES = ("asset", "liability", "equity", "revenue", "expense")


class Rejected(Exception):
    """One entry cannot be booked: its code (one of :data:`REJECTION_CODES`) and the reason."""

    def __init__(self, code: str, reason: str) -> None:
        super().__init__(reason)
        self.code = code
        self.reason = reason


def month_of(day: date) -> str:
    return f"{day.year:04d}-{day.month:02d}"


def month_bounds(month: str) -> tuple[date, date]:
    """``"2026-11"`` → (2026-11-01, 2026-11-30); ValueError if it is no month."""
    match = MONTH_RE.fullmatch(month)
    if match is None:
        raise ValueError(f"{month!r} is not a month (YYYY-MM)")
    year, number = int(match.group(1)), int(match.group(2))
    return date(year, number, 1), date(year, number, calendar.monthrange(year, number)[1])


def shift_month(month: str, delta: int) -> str:
    start, _ = month_bounds(month)
    index = start.year * 12 + start.month - 1 + delta
    return f"{index // 12:04d}-{index % 12 + 1:02d}"


def _amount(value: Any, where: str) -> Decimal:
    if not isinstance(value, str) or not AMOUNT_RE.fullmatch(value):
        raise Rejected(
            "invalid", f"{where} must be a decimal string with at most 4 decimals, got {value!r}"
        )
    try:
        return Decimal(value)
    except InvalidOperation as exc:  # pragma: no cover - the pattern rules it out
        raise Rejected("invalid", f"{where} is not a number") from exc


def _text(entry: dict[str, Any], name: str, *, required: bool = True) -> str:
    value = entry.get(name, "" if not required else None)
    if value is None:
        raise Rejected("invalid", f"{name} is required")
    if not isinstance(value, str) or (required and not value.strip()):
        raise Rejected("invalid", f"{name} must be a non-empty string")
    return value


@dataclass
class ParsedEntry:
    external_ref: str
    day: date
    currency: str
    description: str
    legal_entity: str
    lines: list[dict[str, Any]]
    fingerprint: str


def parse_entry(entry: Any) -> ParsedEntry:
    """Check one entry's shape and arithmetic; raise :class:`Rejected` (invalid / unbalanced)."""
    if not isinstance(entry, dict):
        raise Rejected("invalid", "an entry must be a JSON object")
    external_ref = _text(entry, "external_ref")
    try:
        day = date.fromisoformat(_text(entry, "date"))
    except ValueError as exc:
        raise Rejected("invalid", "date must be an ISO date (YYYY-MM-DD)") from exc
    currency = _text(entry, "currency")
    if not CURRENCY_RE.fullmatch(currency):
        raise Rejected("invalid", f"currency must be a 3-letter ISO code, got {currency!r}")
    description = _text(entry, "description", required=False)
    legal_entity = _text(entry, "legal_entity", required=False) or DEFAULT_LEGAL_ENTITY
    raw_lines = entry.get("lines")
    if not isinstance(raw_lines, list) or len(raw_lines) < 2:
        raise Rejected("invalid", "lines must be a list of at least two lines")
    lines: list[dict[str, Any]] = []
    debits = credits = Decimal(0)
    for index, line in enumerate(raw_lines):
        where = f"lines[{index}]"
        if not isinstance(line, dict):
            raise Rejected("invalid", f"{where} must be an object")
        account = line.get("account")
        if not isinstance(account, str) or not account.strip():
            raise Rejected("invalid", f"{where}.account must be a non-empty string")
        debit = _amount(line.get("debit", "0"), f"{where}.debit")
        credit = _amount(line.get("credit", "0"), f"{where}.credit")
        if (debit == 0) == (credit == 0):
            raise Rejected("invalid", f"{where} must have either a debit or a credit, not both")
        dimensions = line.get("dimensions") or {}
        tax_code = line.get("tax_code") or ""
        if not isinstance(dimensions, dict) or not isinstance(tax_code, str):
            raise Rejected("invalid", f"{where}: dimensions must be an object, tax_code a string")
        debits += debit
        credits += credit
        lines.append(
            {
                "account": account,
                "debit": f"{debit:.4f}",
                "credit": f"{credit:.4f}",
                "tax_code": tax_code,
                "dimensions": dimensions,
            }
        )
    if debits != credits:
        raise Rejected(
            "unbalanced",
            f"debits {debits:.2f} ≠ credits {credits:.2f} {currency} "
            f"(difference {debits - credits:.2f})",
        )
    content = {"date": day.isoformat(), "currency": currency, "le": legal_entity, "lines": lines}
    canonical = json.dumps(content, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return ParsedEntry(
        external_ref=external_ref,
        day=day,
        currency=currency,
        description=description,
        legal_entity=legal_entity,
        lines=lines,
        fingerprint=hashlib.sha256(canonical.encode()).hexdigest(),
    )


@dataclass
class Books:
    """Accounts, periods and entries. Not thread-safe: the server calls it under its lock."""

    periods_back: int = 12
    periods_ahead: int = 3
    accounts: dict[str, dict[str, Any]] = field(default_factory=dict)
    period_status: dict[tuple[str, str], str] = field(default_factory=dict)
    entries: dict[str, dict[str, Any]] = field(default_factory=dict)
    by_external_ref: dict[str, str] = field(default_factory=dict)
    legal_entities: set[str] = field(default_factory=lambda: {DEFAULT_LEGAL_ENTITY})
    sequence: int = 0

    def __post_init__(self) -> None:
        if not self.accounts:
            for code, name, kind in DEFAULT_ACCOUNTS:
                self.add_account(code, name, kind)

    # -- chart ----------------------------------------------------------------------------

    def add_account(self, code: str, name: str, kind: str, *, active: bool = True) -> dict:
        if kind not in ACCOUNT_TYPES:
            raise ValueError(f"type must be one of {', '.join(ACCOUNT_TYPES)}")
        self.accounts[code] = {"code": code, "name": name, "type": kind, "active": active}
        return dict(self.accounts[code])

    # -- periods --------------------------------------------------------------------------

    def set_period(self, month: str, status: str, legal_entity: str) -> dict[str, Any]:
        month_bounds(month)  # validates
        self.legal_entities.add(legal_entity)
        self.period_status[(legal_entity, month)] = status
        return self.period(legal_entity, month)

    def status_of(self, legal_entity: str, month: str) -> str:
        return self.period_status.get((legal_entity, month), "open")

    def period(self, legal_entity: str, month: str) -> dict[str, Any]:
        starts_on, ends_on = month_bounds(month)
        return {
            "legal_entity": legal_entity,
            "period": month,
            "starts_on": starts_on.isoformat(),
            "ends_on": ends_on.isoformat(),
            "status": self.status_of(legal_entity, month),
        }

    def periods(self, today: date, legal_entity: str | None = None) -> list[dict[str, Any]]:
        """Every legal entity's months from ``periods_back`` before this one to
        ``periods_ahead`` after, plus any month set by hand or booked into."""
        current = month_of(today)
        window = {shift_month(current, d) for d in range(-self.periods_back, self.periods_ahead)}
        entities = sorted(self.legal_entities)
        if legal_entity is not None:
            entities = [e for e in entities if e == legal_entity]
        result = []
        for entity in entities:
            months = set(window)
            months |= {m for (e, m) in self.period_status if e == entity}
            months |= {
                month_of(date.fromisoformat(x["date"]))
                for x in self.entries.values()
                if x["legal_entity"] == entity
            }
            result += [self.period(entity, m) for m in sorted(months)]
        return result

    # -- booking --------------------------------------------------------------------------

    def judge(self, entry: Any) -> tuple[ParsedEntry | None, dict[str, Any]]:
        """One entry's result without booking it: (parsed entry to book, or None; result)."""
        ref = entry.get("external_ref") if isinstance(entry, dict) else None
        ref = ref if isinstance(ref, str) else ""
        try:
            parsed = parse_entry(entry)
            known = self.by_external_ref.get(parsed.external_ref)
            if known is not None:
                booked = self.entries[known]
                if booked["fingerprint"] != parsed.fingerprint:
                    raise Rejected(
                        "conflict",
                        f"external_ref {parsed.external_ref} is already booked as {known} with "
                        "different content; reverse it before booking a correction",
                    )
                return None, {
                    "external_ref": parsed.external_ref,
                    "status": "accepted",
                    "ledger_id": known,
                    "duplicate": True,
                }
            for line in parsed.lines:
                account = self.accounts.get(line["account"])
                if account is None or not account["active"]:
                    raise Rejected(
                        "unknown_account",
                        f"account {line['account']} is not in the chart of accounts",
                    )
            month = month_of(parsed.day)
            if self.status_of(parsed.legal_entity, month) == "closed":
                raise Rejected(
                    "period_closed",
                    f"the period {month} of legal entity {parsed.legal_entity} is closed",
                )
        except Rejected as exc:
            return None, {
                "external_ref": ref,
                "status": "rejected",
                "code": exc.code,
                "reason": exc.reason,
            }
        return parsed, {"external_ref": parsed.external_ref, "status": "accepted"}

    def book(self, parsed: ParsedEntry, batch_id: str) -> str:
        self.sequence += 1
        ledger_id = f"JE-{self.sequence:06d}"
        self.legal_entities.add(parsed.legal_entity)
        self.entries[ledger_id] = {
            "id": ledger_id,
            "external_ref": parsed.external_ref,
            "batch": batch_id,
            "date": parsed.day.isoformat(),
            "currency": parsed.currency,
            "description": parsed.description,
            "legal_entity": parsed.legal_entity,
            "lines": parsed.lines,
            "fingerprint": parsed.fingerprint,
            "booked_at": iso_utc(utcnow()),
        }
        self.by_external_ref[parsed.external_ref] = ledger_id
        return ledger_id

    def public(self, ledger_id: str) -> dict[str, Any]:
        entry = dict(self.entries[ledger_id])
        entry.pop("fingerprint")
        entry["object"] = "journal_entry"
        return json.loads(json.dumps(entry))
