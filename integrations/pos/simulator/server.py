"""POS simulator: a retail estate's tills (docs/contracts/pos.md), shaped like Square's and
Lightspeed's transaction APIs: a transaction has line items, tenders, a receipt number, the
register (device) that rang it up and a sequence number per register.

State is in memory behind one lock: stores (ten by default, ``store-01`` … ``store-10``, two
registers each), their transactions, stock counts and end-of-day closes. Every change is sent as
a signed webhook (``POS-Signature``) to the endpoints registered at ``/_sim/webhook_endpoints``,
unless the store is *offline*: then it keeps its transactions and later uploads its day in one
signed ``day.uploaded`` event to the same endpoints (``/_sim/stores/<store>/upload``), possibly
again, and by default overlapping what it sent live before it went offline.

Controls (``/_sim/``): ring up a sale with split tenders, a return with or without its receipt,
void a transaction, count stock, close the day, take a store offline / online, upload a day.
Faults: the base plan (latency, 5xx, 429, timeouts after processing on ``/api/``), the webhook
faults (duplicate, shuffled, stale deliveries) and the POS's own: ``eod_mismatch`` (an amount
the next close adds to its cash takings, as a miscounted drawer does).
"""

from __future__ import annotations

import threading
from datetime import UTC, datetime
from decimal import ROUND_HALF_UP, Decimal
from typing import Any

from integrations.simhooks import WEBHOOK_FAULT_DEFAULTS, SignedWebhookSender
from integrations.simkit import (
    FaultPlan,
    JsonHTTPServer,
    Request,
    Response,
    iso_utc,
    json_response,
    utcnow,
)

SIGNATURE_HEADER = "POS-Signature"
DEFAULT_TOKEN = "pos-sim-token"
CENT = Decimal("0.01")
TENDER_TYPES = ("card", "cash", "gift_card", "store_credit")


class PosFaultPlan(FaultPlan):
    """Base faults + webhook faults + ``eod_mismatch`` (a decimal string: the next end-of-day
    close reports that much more cash than its transactions took; "0" for none)."""

    extra_defaults = {**WEBHOOK_FAULT_DEFAULTS, "eod_mismatch": "0"}

    @staticmethod
    def _coerce(key: str, default: Any, value: Any) -> Any:
        if key == "eod_mismatch":
            try:
                return str(Decimal(str(value)).quantize(CENT))
            except ArithmeticError:
                raise ValueError("eod_mismatch must be a decimal amount") from None
        return FaultPlan._coerce(key, default, value)


def money(value: Decimal) -> str:
    return str(value.quantize(CENT, rounding=ROUND_HALF_UP))


def _decimal(value: Any, name: str) -> Decimal:
    try:
        return Decimal(str(value))
    except ArithmeticError:
        raise ValueError(f"{name} must be a decimal amount") from None


class PosSimulator(JsonHTTPServer):
    """In-memory POS estate exposing ``/api/v1/stores`` and ``/api/v1/transactions``."""

    fault_prefix = "/api/"
    name = "pos-simulator"

    def __init__(
        self,
        host: str = "127.0.0.1",
        port: int = 0,
        token: str = DEFAULT_TOKEN,
        stores: int = 10,
        currency: str = "EUR",
        tax_rate: str = "0.21",
        webhook_retry_base_s: float = 0.5,
    ) -> None:
        super().__init__(host=host, port=port, fault_plan=PosFaultPlan())
        self.token = token
        self.currency = currency
        self.tax_rate = Decimal(tax_rate)
        self._lock = threading.RLock()
        self._store_count = stores
        self.webhooks = SignedWebhookSender(
            self, header=SIGNATURE_HEADER, retry_base_s=webhook_retry_base_s
        )
        self.webhooks.install_sim_routes()
        self.reset_data()
        self.route("GET", r"/api/v1/stores/?", self.list_stores)
        self.route("GET", r"/api/v1/transactions/?", self.list_transactions)
        self.route("GET", r"/api/v1/transactions/(?P<txn_id>[^/]+)/?", self.get_transaction)
        self.route("POST", r"/_sim/sales/?", self.sim_sale)
        self.route("POST", r"/_sim/returns/?", self.sim_return)
        self.route("POST", r"/_sim/transactions/(?P<txn_id>[^/]+)/void/?", self.sim_void)
        self.route("POST", r"/_sim/counts/?", self.sim_count)
        self.route("POST", r"/_sim/stores/(?P<store>[^/]+)/offline/?", self.sim_offline)
        self.route("POST", r"/_sim/stores/(?P<store>[^/]+)/online/?", self.sim_online)
        self.route("POST", r"/_sim/stores/(?P<store>[^/]+)/close/?", self.sim_close)
        self.route("POST", r"/_sim/stores/(?P<store>[^/]+)/upload/?", self.sim_upload)

    # -- lifecycle ------------------------------------------------------------------------
    def on_start(self) -> None:
        self.webhooks.start()

    def reset_data(self) -> None:
        with self._lock:
            self._stores: dict[str, dict[str, Any]] = {
                f"store-{n:02d}": {
                    "id": f"store-{n:02d}",
                    "name": f"Store {n:02d}",
                    "registers": ["R1", "R2"],
                    "offline": False,
                    "closes": [],
                }
                for n in range(1, self._store_count + 1)
            }
            self._sequences: dict[tuple[str, str], int] = {}
            self._transactions: dict[str, dict[str, Any]] = {}
            self._sent: set[str] = set()  # transaction ids sent live (at their latest version)
            self._uploads = 0

    # -- helpers --------------------------------------------------------------------------
    def _authorized(self, request: Request) -> bool:
        return request.header("authorization") == f"Bearer {self.token}"

    def _store(self, code: Any) -> dict[str, Any]:
        store = self._stores.get(str(code))
        if store is None:
            raise ValueError(f"unknown store {code!r}")
        return store

    def _next(self, store: str, register: str) -> tuple[str, int]:
        sequence = self._sequences.get((store, register), 0) + 1
        self._sequences[(store, register)] = sequence
        short = store.replace("store-", "S")
        return f"{short}-{register}-{sequence:06d}", sequence

    def _publish(self, event_type: str, txn: dict[str, Any]) -> None:
        """Live if the store is online; an offline store keeps it for its upload."""
        if not self._stores[txn["store"]]["offline"]:
            self.webhooks.emit(event_type, txn)
            self._sent.add(txn["id"])

    def _tenders(
        self, raw: Any, total: Decimal, txn_id: str, default: str = "card"
    ) -> list[dict[str, Any]]:
        """Tenders as asked (``[{type, amount?}]``); the last without an amount takes the rest."""
        wanted = raw if isinstance(raw, list) and raw else [{"type": default}]
        tenders, left = [], total
        for index, item in enumerate(wanted, start=1):
            kind = str(item.get("type", "card"))
            if kind not in TENDER_TYPES:
                raise ValueError(f"unknown tender type {kind!r}")
            amount = _decimal(item["amount"], "amount") if "amount" in item else left
            left -= amount
            tender = {"id": f"T{index}", "type": kind, "amount": money(amount)}
            if kind == "card":
                tender["reference"] = item.get("reference", "VISA •••• 4242")
            elif kind == "gift_card":
                tender["reference"] = item.get("reference", "GC-0000-1234")
            elif kind == "cash":
                tendered = _decimal(item.get("tendered", amount), "tendered")
                tender["tendered"], tender["change"] = money(tendered), money(tendered - amount)
            tenders.append(tender)
        return tenders

    def _line(self, index: int, item: dict[str, Any]) -> dict[str, Any]:
        quantity = int(item["quantity"])
        unit_price = _decimal(item["unit_price"], "unit_price")
        discount = _decimal(item.get("discount", "0"), "discount")
        total = unit_price * quantity - discount
        tax = total - total / (1 + self.tax_rate)  # prices include tax
        return {
            "id": str(index),
            "sku": str(item["sku"]),
            "name": str(item.get("name", item["sku"])),
            "quantity": quantity,
            "unit_price": money(unit_price),
            "discount": money(discount),
            "tax": money(tax),
            "tax_code": str(item.get("tax_code", "STD")),
            "total": money(total),
        }

    def _transaction(
        self, store: str, register: str, kind: str, lines: list[dict[str, Any]], at: datetime
    ) -> dict[str, Any]:
        txn_id, sequence = self._next(store, register)
        return {
            "id": txn_id,
            "object": "transaction",
            "type": kind,
            "status": "completed",
            "store": store,
            "register": register,
            "sequence": sequence,
            "receipt_number": txn_id,
            "business_date": at.date().isoformat(),
            "occurred_at": iso_utc(at),
            "updated_at": iso_utc(at),
            "currency": self.currency,
            "lines": lines,
            "totals": self._totals(kind, lines),
            "tenders": [],
            "original": None,
            "reason": "",
        }

    @staticmethod
    def _totals(kind: str, lines: list[dict[str, Any]]) -> dict[str, str]:
        def add(name: str) -> Decimal:
            return sum((Decimal(line[name]) for line in lines), Decimal(0))

        totals = {"tax": money(add("tax")), "total": money(add("total"))}
        if kind == "sale":
            subtotal = sum(
                (Decimal(line["unit_price"]) * line["quantity"] for line in lines), Decimal(0)
            )
            totals |= {"subtotal": money(subtotal), "discount": money(add("discount"))}
        return totals

    @staticmethod
    def _payload(request: Request) -> dict[str, Any]:
        if not request.body:
            return {}
        payload = request.json()
        if not isinstance(payload, dict):
            raise ValueError("the body must be a JSON object")
        return payload

    def _moment(self, payload: dict[str, Any]) -> datetime:
        at = payload.get("occurred_at")
        if at:
            return datetime.fromisoformat(str(at).replace("Z", "+00:00")).astimezone(UTC)
        return utcnow()

    # -- the API (what a real POS lets a client read) -------------------------------------
    def list_stores(self, request: Request) -> Response:
        if not self._authorized(request):
            return json_response({"error": "unauthorized"}, 401)
        with self._lock:
            return json_response({"results": [dict(store) for store in self._stores.values()]})

    def list_transactions(self, request: Request) -> Response:
        if not self._authorized(request):
            return json_response({"error": "unauthorized"}, 401)
        store, day = request.arg("store"), request.arg("business_date")
        with self._lock:
            found = [
                t
                for t in self._transactions.values()
                if store in (None, t["store"]) and day in (None, t["business_date"])
            ]
        return json_response({"results": found})

    def get_transaction(self, request: Request) -> Response:
        if not self._authorized(request):
            return json_response({"error": "unauthorized"}, 401)
        with self._lock:
            txn = self._transactions.get(request.params["txn_id"])
        if txn is None:
            return json_response({"error": "not found"}, 404)
        return json_response(txn)

    # -- /_sim/ controls ------------------------------------------------------------------
    def _control(self, request: Request, action: Any) -> Response:
        try:
            payload = self._payload(request)
            with self._lock:
                return json_response(action(payload), 201)
        except (ValueError, KeyError, TypeError) as exc:
            return json_response({"error": str(exc)}, 400)

    def sim_sale(self, request: Request) -> Response:
        """``{store, register?, lines: [{sku, quantity, unit_price, discount?}], tenders?:
        [{type, amount?}], occurred_at?}`` → the sale (sent live unless the store is offline)."""

        def ring_up(payload: dict[str, Any]) -> dict[str, Any]:
            store = self._store(payload["store"])
            register = str(payload.get("register", store["registers"][0]))
            lines = [self._line(i, item) for i, item in enumerate(payload["lines"], start=1)]
            txn = self._transaction(store["id"], register, "sale", lines, self._moment(payload))
            total = Decimal(txn["totals"]["total"])
            txn["tenders"] = self._tenders(payload.get("tenders"), total, txn["id"])
            self._transactions[txn["id"]] = txn
            self._publish("transaction.completed", txn)
            return txn

        return self._control(request, ring_up)

    def sim_return(self, request: Request) -> Response:
        """``{store, register?, original?: <sale id>, lines: [{original_line, quantity}] or
        [{sku, quantity, unit_price}] without receipt, tenders?, reason?}`` → the return. With a
        receipt the money goes back to the sale's first tender method unless ``tenders`` say."""

        def take_back(payload: dict[str, Any]) -> dict[str, Any]:
            store = self._store(payload["store"])
            register = str(payload.get("register", store["registers"][0]))
            original = None
            lines = []
            if payload.get("original"):
                original = self._transactions.get(str(payload["original"]))
                if original is None or original["type"] != "sale":
                    raise ValueError(f"no sale {payload['original']!r}")
                sold = {line["id"]: line for line in original["lines"]}
                for index, item in enumerate(payload["lines"], start=1):
                    line = sold[str(item["original_line"])]
                    quantity = int(item["quantity"])
                    share = Decimal(quantity) / Decimal(line["quantity"])
                    lines.append(
                        {
                            "id": str(index),
                            "sku": line["sku"],
                            "quantity": quantity,
                            "total": money(Decimal(line["total"]) * share),
                            "tax": money(Decimal(line["tax"]) * share),
                            "original_line": line["id"],
                        }
                    )
                default = original["tenders"][0]["type"]
            else:
                for index, item in enumerate(payload["lines"], start=1):
                    line = self._line(index, item)
                    lines.append({k: line[k] for k in ("id", "sku", "quantity", "total", "tax")})
                default = "cash"
            txn = self._transaction(store["id"], register, "return", lines, self._moment(payload))
            total = sum((Decimal(line["total"]) for line in lines), Decimal(0))
            txn["tenders"] = self._tenders(payload.get("tenders"), total, txn["id"], default)
            txn["reason"] = str(payload.get("reason", ""))
            if original is not None:
                txn["original"] = {
                    "store": original["store"],
                    "register": original["register"],
                    "transaction_id": original["id"],
                }
            self._transactions[txn["id"]] = txn
            self._publish("transaction.completed", txn)
            return txn

        return self._control(request, take_back)

    def sim_void(self, request: Request) -> Response:
        """Void a transaction (a post-void at the till): the same transaction, status
        ``voided``, a later ``updated_at``."""

        def void(payload: dict[str, Any]) -> dict[str, Any]:
            txn = self._transactions.get(request.params["txn_id"])
            if txn is None:
                raise ValueError(f"no transaction {request.params['txn_id']!r}")
            txn["status"] = "voided"
            txn["updated_at"] = iso_utc(utcnow())
            self._sent.discard(txn["id"])
            self._publish("transaction.voided", txn)
            return txn

        return self._control(request, void)

    def sim_count(self, request: Request) -> Response:
        """``{store, items: [{sku, on_hand}]}`` → a stock count (``stock.counted``)."""

        def count(payload: dict[str, Any]) -> dict[str, Any]:
            store = self._store(payload["store"])
            self._uploads += 1
            counted = {
                "id": f"CNT-{store['id']}-{self._uploads:04d}",
                "object": "stock_count",
                "store": store["id"],
                "as_of": iso_utc(utcnow()),
                "items": [
                    {"sku": str(i["sku"]), "on_hand": i["on_hand"]} for i in payload["items"]
                ],
            }
            self.webhooks.emit("stock.counted", counted)
            return counted

        return self._control(request, count)

    def sim_offline(self, request: Request) -> Response:
        return self._control(request, lambda _: self._set_offline(request, True))

    def sim_online(self, request: Request) -> Response:
        return self._control(request, lambda _: self._set_offline(request, False))

    def _set_offline(self, request: Request, offline: bool) -> dict[str, Any]:
        store = self._store(request.params["store"])
        store["offline"] = offline
        return {"store": store["id"], "offline": offline}

    def _day(self, store: str, day: str) -> list[dict[str, Any]]:
        return sorted(
            (
                t
                for t in self._transactions.values()
                if t["store"] == store and t["business_date"] == day
            ),
            key=lambda t: (t["register"], t["sequence"]),
        )

    def _close(self, store: str, day: str) -> dict[str, Any]:
        """The Z report: net takings per tender method of the day's completed transactions."""
        takings: dict[str, Decimal] = {}
        transactions = self._day(store, day)
        for txn in transactions:
            if txn["status"] != "completed":
                continue
            sign = -1 if txn["type"] == "return" else 1
            for tender in txn["tenders"]:
                takings[tender["type"]] = takings.get(tender["type"], Decimal(0)) + sign * Decimal(
                    tender["amount"]
                )
        mismatch = Decimal(self.faults.get("eod_mismatch"))
        if mismatch:
            takings["cash"] = takings.get("cash", Decimal(0)) + mismatch
            self.faults.update({"eod_mismatch": "0"})
        return {
            "id": f"EOD-{store}-{day}",
            "object": "day_close",
            "store": store,
            "business_date": day,
            "currency": self.currency,
            "transaction_count": len(transactions),
            "tenders": {method: money(amount) for method, amount in sorted(takings.items())},
            "net_total": money(sum(takings.values(), Decimal(0))),
            "closed_at": iso_utc(utcnow()),
        }

    def sim_close(self, request: Request) -> Response:
        """``{business_date?}`` → the store's end-of-day close (``day.closed``; kept for the
        upload while the store is offline)."""

        def close(payload: dict[str, Any]) -> dict[str, Any]:
            store = self._store(request.params["store"])
            day = str(payload.get("business_date") or utcnow().date().isoformat())
            report = self._close(store["id"], day)
            store["closes"] = [c for c in store["closes"] if c["business_date"] != day]
            store["closes"].append(report)
            if not store["offline"]:
                self.webhooks.emit("day.closed", report)
            return report

        return self._control(request, close)

    def sim_upload(self, request: Request) -> Response:
        """``{business_date?, only_unsent?: false}`` → the store's day in one ``day.uploaded``
        event: every transaction of the day (overlapping what went live, unless
        ``only_unsent``) and its close, if the day was closed. A second call uploads again."""

        def upload(payload: dict[str, Any]) -> dict[str, Any]:
            store = self._store(request.params["store"])
            day = str(payload.get("business_date") or utcnow().date().isoformat())
            transactions = self._day(store["id"], day)
            if payload.get("only_unsent"):
                transactions = [t for t in transactions if t["id"] not in self._sent]
            self._uploads += 1
            close = next((c for c in store["closes"] if c["business_date"] == day), None)
            body = {
                "id": f"UPL-{store['id']}-{day}-{self._uploads:04d}",
                "object": "upload",
                "store": store["id"],
                "business_date": day,
                "transactions": transactions,
                "close": close,
            }
            self.webhooks.emit("day.uploaded", body)
            self._sent.update(t["id"] for t in transactions)
            return body

        return self._control(request, upload)
