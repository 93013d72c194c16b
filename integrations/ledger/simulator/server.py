"""Ledger simulator speaking Control Tower's generic journal-batch contract
(docs/contracts/ledger.md).

Control Tower posts journal entries to the general ledger in **batches** of at most 100
(``POST /api/v1/journal-batches``); the ledger judges each entry on its own and answers with one
result per entry: accepted with its ledger id, or rejected with a code and a reason. A real
ledger (an ERP's GL API, a beancount file behind a small bridge) is "one adapter away".

Idempotency, as journal imports need it: the same ``batch_ref`` or ``Idempotency-Key`` returns
the stored answer; an entry whose ``external_ref`` is already booked with the same content is
accepted again as a duplicate (same ledger id), with different content it is rejected
(``conflict``). So a batch that timed out after booking, sent again, never books twice.

State is in memory behind one lock; the books and their rules are in ``books.py``.
"""

from __future__ import annotations

import hashlib
import json
import logging
import threading
from datetime import date
from typing import Any

from integrations.ledger.simulator.books import (
    ACCOUNT_TYPES,
    DEFAULT_LEGAL_ENTITY,
    MAX_BATCH,
    REJECTION_CODES,
    Books,
)
from integrations.simkit import (
    FaultPlan,
    JsonHTTPServer,
    Request,
    Response,
    iso_utc,
    json_response,
    utcnow,
)

logger = logging.getLogger(__name__)

DEFAULT_TOKEN = "ledger-secret-token"
DEFAULT_PORT = 8105
IDEMPOTENCY_CONFLICT = "idempotency key or batch_ref reused with different entries"
CONFIG_KEYS = ("periods_back", "periods_ahead")


class LedgerFaultPlan(FaultPlan):
    """Base faults (latency, 5xx, 429, timeout after processing) + ``reject_next``.

    ``reject_next`` (int): the next N entries judged are rejected with ``reject_code`` (one of
    the contract's codes, default ``invalid``) and ``reject_reason``, whatever they hold.
    """

    extra_defaults = {"reject_next": 0, "reject_code": "invalid", "reject_reason": ""}

    @staticmethod
    def _coerce(key: str, default: Any, value: Any) -> Any:
        if key == "reject_code":
            if value not in REJECTION_CODES:
                raise ValueError(f"reject_code must be one of {', '.join(REJECTION_CODES)}")
            return value
        if key == "reject_reason":
            if not isinstance(value, str):
                raise ValueError("reject_reason must be a string")
            return value
        return FaultPlan._coerce(key, default, value)

    def take_rejection(self) -> tuple[str, str] | None:
        """Consume one forced rejection: (code, reason), or None when none is armed."""
        with self._lock:
            if self._values["reject_next"] <= 0:
                return None
            self._values["reject_next"] -= 1
            code = self._values["reject_code"]
            return code, self._values["reject_reason"] or f"rejected by the ledger ({code})"


def _fingerprint(payload: Any) -> str:
    canonical = json.dumps(payload, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return hashlib.sha256(canonical.encode()).hexdigest()


def _copy(value: Any) -> Any:
    return json.loads(json.dumps(value))


class LedgerSimulator(JsonHTTPServer):
    """In-memory general ledger exposing ``/api/v1/journal-batches``, ``/entries``,
    ``/periods`` and ``/accounts``."""

    fault_prefix = "/api/"
    name = "ledger-simulator"

    def __init__(
        self,
        host: str = "127.0.0.1",
        port: int = 0,
        token: str = DEFAULT_TOKEN,
        fault_plan: LedgerFaultPlan | None = None,
        today: date | None = None,
    ) -> None:
        super().__init__(host=host, port=port, fault_plan=fault_plan or LedgerFaultPlan())
        self.faults: LedgerFaultPlan
        self.token = token
        self.today = today  # None: the real date (the periods window moves with it)
        self._lock = threading.RLock()
        self.books = Books()
        self._batches: dict[str, dict[str, Any]] = {}  # batch_ref -> {fingerprint, body}
        self._idempotency: dict[str, tuple[str, str]] = {}  # key -> (fingerprint, batch_ref)
        self._batch_seq = 0

        self.route("POST", r"/api/v1/journal-batches/?", self.post_batch)
        self.route("GET", r"/api/v1/journal-batches/(?P<batch_id>[^/]+)/?", self.get_batch)
        self.route("GET", r"/api/v1/entries/?", self.list_entries)
        self.route("GET", r"/api/v1/entries/(?P<ledger_id>[^/]+)/?", self.get_entry)
        self.route("GET", r"/api/v1/periods/?", self.list_periods)
        self.route("GET", r"/api/v1/accounts/?", self.list_accounts)
        self.route(
            "POST", r"/_sim/periods/(?P<month>[^/]+)/(?P<action>close|open)", self.sim_period
        )
        self.route("GET", r"/_sim/accounts", self.list_accounts_sim)
        self.route("POST", r"/_sim/accounts", self.sim_add_account)
        self.route("GET", r"/_sim/config", self.sim_get_config)
        self.route("POST", r"/_sim/config", self.sim_set_config)
        self.route("GET", r"/_sim/state", self.sim_state)

    def reset_data(self) -> None:
        with self._lock:
            self.books = Books(
                periods_back=self.books.periods_back, periods_ahead=self.books.periods_ahead
            )
            self._batches.clear()
            self._idempotency.clear()
            self._batch_seq = 0

    # -- helpers --------------------------------------------------------------------------

    def _today(self) -> date:
        return self.today or utcnow().date()

    def _authorized(self, request: Request) -> bool:
        return (request.header("Authorization") or "") == f"Bearer {self.token}"

    @staticmethod
    def _unauthorized() -> Response:
        return json_response(
            {"error": "unauthorized"}, 401, {"WWW-Authenticate": 'Bearer realm="ledger"'}
        )

    # -- API: batches ---------------------------------------------------------------------

    def post_batch(self, request: Request) -> Response:
        if not self._authorized(request):
            return self._unauthorized()
        try:
            payload = request.json()
        except (ValueError, UnicodeDecodeError):
            return json_response({"error": "invalid JSON body", "fields": {}}, 400)
        if not isinstance(payload, dict):
            return json_response({"error": "validation failed", "fields": {"_": "object"}}, 400)
        batch_ref, entries = payload.get("batch_ref"), payload.get("entries")
        fields: dict[str, str] = {}
        if not isinstance(batch_ref, str) or not batch_ref.strip() or len(batch_ref) > 64:
            fields["batch_ref"] = "must be a non-empty string of at most 64 characters"
        if not isinstance(entries, list) or not entries:
            fields["entries"] = "must be a non-empty list"
        if fields:
            return json_response({"error": "validation failed", "fields": fields}, 400)
        if len(entries) > MAX_BATCH:
            return json_response(
                {
                    "error": f"a batch holds at most {MAX_BATCH} entries, this one {len(entries)}",
                    "max_entries": MAX_BATCH,
                },
                413,
            )
        key = (request.header("Idempotency-Key") or "").strip()
        fingerprint = _fingerprint(payload)
        with self._lock:
            replay = self._replay(key, batch_ref, fingerprint)
            if replay is not None:
                return replay
            body = self._book_batch(batch_ref, entries, request)
            self._batches[batch_ref] = {"fingerprint": fingerprint, "body": body}
            if key:
                self._idempotency[key] = (fingerprint, batch_ref)
        return json_response(_copy(body))

    def _replay(self, key: str, batch_ref: str, fingerprint: str) -> Response | None:
        """The stored answer for a batch seen before (by key or by ref), 422 if it differs."""
        known = self._idempotency.get(key) if key else None
        stored_ref = known[1] if known else (batch_ref if batch_ref in self._batches else None)
        if stored_ref is None:
            return None
        stored = self._batches[stored_ref]
        if stored["fingerprint"] != fingerprint:
            return json_response({"error": IDEMPOTENCY_CONFLICT, "batch_ref": stored_ref}, 422)
        logger.info("idempotent replay of batch %s", stored_ref)
        return json_response(_copy(stored["body"]), 200, {"Idempotent-Replayed": "true"})

    def _book_batch(self, batch_ref: str, entries: list[Any], request: Request) -> dict[str, Any]:
        self._batch_seq += 1
        batch_id = f"JB-{self._batch_seq:06d}"
        results = []
        for entry in entries:
            forced = self.faults.take_rejection()
            if forced is not None:
                ref = entry.get("external_ref") if isinstance(entry, dict) else ""
                code, reason = forced
                results.append(
                    {"external_ref": ref, "status": "rejected", "code": code, "reason": reason}
                )
                continue
            parsed, result = self.books.judge(entry)
            if parsed is not None:
                result["ledger_id"] = self.books.book(parsed, batch_id)
            results.append(result)
        accepted = sum(1 for r in results if r["status"] == "accepted")
        logger.info(
            "batch %s (%s): %d accepted, %d rejected",
            batch_id,
            batch_ref,
            accepted,
            len(results) - accepted,
        )
        return {
            "id": batch_id,
            "object": "journal_batch",
            "batch_ref": batch_ref,
            "received_at": iso_utc(utcnow()),
            "request_correlation_id": request.header("X-Correlation-ID"),
            "results": results,
        }

    def get_batch(self, request: Request) -> Response:
        if not self._authorized(request):
            return self._unauthorized()
        wanted = request.params["batch_id"]
        with self._lock:
            for stored in self._batches.values():
                if wanted in (stored["body"]["id"], stored["body"]["batch_ref"]):
                    return json_response(_copy(stored["body"]))
        return json_response({"error": "not found"}, 404)

    # -- API: entries, periods, accounts --------------------------------------------------

    def list_entries(self, request: Request) -> Response:
        if not self._authorized(request):
            return self._unauthorized()
        filters = {n: request.arg(n) for n in ("external_ref", "legal_entity", "batch")}
        with self._lock:
            results = [
                self.books.public(ledger_id)
                for ledger_id, entry in self.books.entries.items()
                if all(v is None or entry[n] == v for n, v in filters.items())
            ]
        return json_response({"count": len(results), "results": results})

    def get_entry(self, request: Request) -> Response:
        if not self._authorized(request):
            return self._unauthorized()
        with self._lock:
            if request.params["ledger_id"] not in self.books.entries:
                return json_response({"error": "not found"}, 404)
            return json_response(self.books.public(request.params["ledger_id"]))

    def list_periods(self, request: Request) -> Response:
        if not self._authorized(request):
            return self._unauthorized()
        with self._lock:
            results = self.books.periods(self._today(), request.arg("legal_entity"))
        return json_response({"count": len(results), "results": results})

    def list_accounts(self, request: Request) -> Response:
        if not self._authorized(request):
            return self._unauthorized()
        return self.list_accounts_sim(request)

    def list_accounts_sim(self, request: Request) -> Response:
        with self._lock:
            results = [
                dict(a) for a in sorted(self.books.accounts.values(), key=lambda a: a["code"])
            ]
        return json_response({"count": len(results), "results": results})

    # -- /_sim ----------------------------------------------------------------------------

    def sim_period(self, request: Request) -> Response:
        """Close or reopen a month; body ``{"legal_entity": …}`` (default ``"default"``)."""
        try:
            payload = request.json() if request.body.strip() else {}
        except (ValueError, UnicodeDecodeError):
            return json_response({"error": "invalid JSON body"}, 400)
        entity = (
            payload.get("legal_entity", DEFAULT_LEGAL_ENTITY) if isinstance(payload, dict) else None
        )
        if not isinstance(entity, str) or not entity.strip():
            return json_response({"error": "legal_entity must be a non-empty string"}, 400)
        status = "closed" if request.params["action"] == "close" else "open"
        try:
            with self._lock:
                period = self.books.set_period(request.params["month"], status, entity)
        except ValueError as exc:
            return json_response({"error": str(exc)}, 400)
        logger.info("period %s of %s now %s", request.params["month"], entity, status)
        return json_response(period)

    def sim_add_account(self, request: Request) -> Response:
        """Add (or replace) an account: ``{"code", "name", "type", "active"?}``."""
        try:
            payload = request.json()
        except (ValueError, UnicodeDecodeError):
            return json_response({"error": "invalid JSON body"}, 400)
        if not isinstance(payload, dict):
            return json_response({"error": "body must be a JSON object"}, 400)
        code, name = payload.get("code"), payload.get("name", "")
        kind, active = payload.get("type", "asset"), payload.get("active", True)
        if not isinstance(code, str) or not code.strip() or not isinstance(name, str):
            return json_response({"error": "code (non-empty) and name must be strings"}, 400)
        if kind not in ACCOUNT_TYPES or not isinstance(active, bool):
            return json_response(
                {"error": f"type must be one of {', '.join(ACCOUNT_TYPES)}, active a boolean"},
                400,
            )
        with self._lock:
            account = self.books.add_account(code, name or code, kind, active=active)
        return json_response(account, 201)

    def sim_get_config(self, request: Request) -> Response:
        with self._lock:
            return json_response({k: getattr(self.books, k) for k in CONFIG_KEYS})

    def sim_set_config(self, request: Request) -> Response:
        try:
            payload = request.json()
        except (ValueError, UnicodeDecodeError):
            return json_response({"error": "invalid JSON body"}, 400)
        if not isinstance(payload, dict):
            return json_response({"error": "config must be a JSON object"}, 400)
        for key, value in payload.items():
            if key not in CONFIG_KEYS:
                return json_response({"error": f"unknown config key: {key}"}, 400)
            if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value <= 120:
                return json_response({"error": f"{key} must be an integer in 0..120"}, 400)
        with self._lock:
            for key, value in payload.items():
                setattr(self.books, key, value)
        return self.sim_get_config(request)

    def sim_state(self, request: Request) -> Response:
        with self._lock:
            state = {
                "entries": len(self.books.entries),
                "batches": len(self._batches),
                "accounts": len(self.books.accounts),
                "closed_periods": sorted(
                    f"{e}:{m}" for (e, m), s in self.books.period_status.items() if s == "closed"
                ),
            }
        state.update({"requests": self.request_count, "faults": self.faults.snapshot()})
        return json_response(state)
