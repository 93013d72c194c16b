"""The warehouse's stock ledger: on-hand per (SKU, location), changed by adjustments and reported
to Control Tower as signed events (docs/contracts/wms.md, "Stock"). A mixin of
:class:`integrations.wms.simulator.server.WmsSimulator`, which holds the lock, the config, the
fault plan and the webhook sender.

A real WMS reports stock two ways, and so does this one: a **snapshot** (ShipHero's inventory
snapshot, a cycle count's result) is the absolute figure of every SKU × location as of one
moment, sent in chunks of at most :data:`SNAPSHOT_CHUNK` items (``sequence`` of ``of``); an
**adjustment** (ShipHero's *Inventory Change*: a receipt, a damage write-off, a recount) is one
change, sent at once with the figure it leaves (``on_hand_after``), so a receiver that gets it
late or twice can order it by ``as_of`` instead of adding deltas. Every ``as_of`` is later than
the one before (the ledger's clock never repeats a millisecond), so no two figures tie.

The fault ``drift_units`` (with ``drift_skus``) makes the *reported* figures differ from the true
ledger, as a warehouse that miscounts does; the ledger itself (``GET /_sim/stock``) stays true.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Any

from integrations.simkit import Request, Response, iso_utc, json_response, utcnow
from integrations.wms.simulator.contract import (
    DEFAULT_WAREHOUSE,
    invalid_json,
    validation_failed,
)

logger = logging.getLogger(__name__)

SNAPSHOT_CHUNK = 500  # items per inventory.snapshot event, as vendors page large exports
MAX_ON_HAND = 2_000_000_000
MAX_CODE = 64
MAX_REASON = 200


def _code_problem(value: Any) -> str:
    if not isinstance(value, str) or not value.strip():
        return "must be a non-empty string"
    if len(value) > MAX_CODE:
        return f"must be at most {MAX_CODE} characters"
    return ""


def _count_problem(value: Any, *, signed: bool = False) -> str:
    if isinstance(value, bool) or not isinstance(value, int):
        return "must be an integer"
    if not signed and value < 0:
        return "must be an integer >= 0"
    if abs(value) > MAX_ON_HAND:
        return f"must be at most {MAX_ON_HAND}"
    return ""


def validate_stock_items(payload: Any) -> dict[str, str]:
    """``{field: problem}`` for ``POST /_sim/stock``; empty when valid."""
    if not isinstance(payload, dict):
        return {"_": "body must be a JSON object"}
    items = payload.get("items")
    if not isinstance(items, list) or not items:
        return {"items": "must be a non-empty list"}
    errors: dict[str, str] = {}
    for index, item in enumerate(items):
        at = f"items[{index}]"
        if not isinstance(item, dict):
            errors[at] = "must be an object"
            continue
        for name in ("sku", "location"):
            if problem := _code_problem(item.get(name)):
                errors[f"{at}.{name}"] = problem
        if problem := _count_problem(item.get("on_hand")):
            errors[f"{at}.on_hand"] = problem
    return errors


def validate_adjustment(payload: Any) -> dict[str, str]:
    """``{field: problem}`` for ``POST /_sim/stock/adjust``; empty when valid."""
    if not isinstance(payload, dict):
        return {"_": "body must be a JSON object"}
    errors: dict[str, str] = {}
    for name in ("sku", "location"):
        if problem := _code_problem(payload.get(name)):
            errors[name] = problem
    delta = payload.get("delta")
    if problem := _count_problem(delta, signed=True):
        errors["delta"] = problem
    elif delta == 0:
        errors["delta"] = "must not be 0"
    reason = payload.get("reason")
    if not isinstance(reason, str) or not reason.strip():
        errors["reason"] = "must be a non-empty string"
    elif len(reason) > MAX_REASON:
        errors["reason"] = f"must be at most {MAX_REASON} characters"
    return errors


class StockLedger:
    """Stock for :class:`WmsSimulator` (its ``_lock``, ``_config``, ``faults``, ``webhooks``,
    ``stopping`` and ``route``). Call :meth:`_init_stock` from ``__init__``,
    :meth:`_start_stock` from ``on_start`` and :meth:`_reset_stock` from ``reset_data``."""

    _lock: Any
    _config: dict[str, Any]
    faults: Any
    webhooks: Any
    stopping: threading.Event
    name: str
    tick_s: float
    route: Callable[[str, str, Callable[[Request], Response]], None]

    def _init_stock(self) -> None:
        self._stock: dict[tuple[str, str], int] = {}  # (sku, location) -> true on-hand
        self._adjustments: list[dict[str, Any]] = []
        self._adjustment_seq = 0
        self._snapshot_seq = 0
        self._stock_clock: datetime | None = None  # the last as_of handed out
        self._next_snapshot: float | None = None  # monotonic time of the next periodic one
        self._stock_thread: threading.Thread | None = None
        self.route("GET", r"/_sim/stock", self.sim_stock)
        self.route("POST", r"/_sim/stock", self.sim_set_stock)
        self.route("POST", r"/_sim/stock/adjust", self.sim_adjust_stock)
        self.route("POST", r"/_sim/stock/snapshot", self.sim_snapshot_stock)

    def _start_stock(self) -> None:
        if self._stock_thread is None:
            self._stock_thread = threading.Thread(
                target=self._stock_loop, name=f"{self.name}-stock", daemon=True
            )
            self._stock_thread.start()

    def _reset_stock(self) -> None:
        with self._lock:
            self._stock.clear()
            self._adjustments.clear()
            self._adjustment_seq = 0
            self._snapshot_seq = 0
            self._next_snapshot = None

    # -- the ledger (call with the lock held) -----------------------------------------------

    def _as_of(self) -> str:
        """Now, in the contract's millisecond precision, strictly after the last figure's."""
        now = utcnow()
        moment = now.replace(microsecond=now.microsecond // 1000 * 1000)
        if self._stock_clock is not None and moment <= self._stock_clock:
            moment = self._stock_clock + timedelta(milliseconds=1)
        self._stock_clock = moment
        return iso_utc(moment)

    def _reported(self, sku: str, on_hand: int) -> int:
        """The figure the warehouse reports for a true ``on_hand`` (the drift fault)."""
        plan = self.faults.snapshot()
        drift = int(plan.get("drift_units", 0))
        chosen = plan.get("drift_skus") or []
        if not drift or (chosen and sku not in chosen):
            return on_hand
        return max(0, on_hand + drift)

    def set_stock(self, items: list[dict[str, Any]]) -> None:
        """Set true on-hand figures (no event: the next snapshot reports them)."""
        with self._lock:
            for item in items:
                self._stock[(item["sku"].strip(), item["location"].strip())] = item["on_hand"]

    def stock(self) -> list[dict[str, Any]]:
        """The ledger: true and reported on-hand per SKU × location."""
        with self._lock:
            return [
                {
                    "sku": sku,
                    "location": location,
                    "on_hand": on_hand,
                    "reported": self._reported(sku, on_hand),
                }
                for (sku, location), on_hand in sorted(self._stock.items())
            ]

    def adjust_stock(self, sku: str, location: str, delta: int, reason: str) -> dict[str, Any]:
        """Book one adjustment and send ``inventory.adjusted``; ValueError when it would take
        on-hand below zero (nothing booked)."""
        key = (sku.strip(), location.strip())
        with self._lock:
            after = self._stock.get(key, 0) + delta
            if after < 0:
                raise ValueError(
                    f"adjustment would take on-hand of {key[0]} at {key[1]} to {after}"
                )
            self._stock[key] = after
            self._adjustment_seq += 1
            adjustment_id = f"ADJ-{self._adjustment_seq:06d}"
            adjustment = {
                "id": adjustment_id,
                "object": "stock_adjustment",
                "adjustment_id": adjustment_id,
                "warehouse": DEFAULT_WAREHOUSE,
                "sku": key[0],
                "location": key[1],
                "delta": delta,
                "on_hand_after": self._reported(key[0], after),
                "reason": reason.strip(),
                "as_of": self._as_of(),
            }
            self._adjustments.append(adjustment)
            self.webhooks.emit("inventory.adjusted", adjustment)
        logger.info("adjusted %s at %s by %+d to %d (%s)", *key, delta, after, reason)
        return dict(adjustment)

    def send_snapshot(self) -> dict[str, Any]:
        """Send the whole ledger as ``inventory.snapshot`` events of at most
        :data:`SNAPSHOT_CHUNK` items, one ``as_of`` for all; returns what was sent."""
        with self._lock:
            self._snapshot_seq += 1
            snapshot_id = f"SNAP-{self._snapshot_seq:06d}"
            as_of = self._as_of()
            items = [
                {"sku": sku, "location": location, "on_hand": self._reported(sku, on_hand)}
                for (sku, location), on_hand in sorted(self._stock.items())
            ]
            chunks = [
                items[start : start + SNAPSHOT_CHUNK]
                for start in range(0, len(items), SNAPSHOT_CHUNK)
            ] or [[]]
            events = [
                self.webhooks.emit(
                    "inventory.snapshot",
                    {
                        "id": snapshot_id,
                        "object": "stock_snapshot",
                        "warehouse": DEFAULT_WAREHOUSE,
                        "as_of": as_of,
                        "sequence": sequence,
                        "of": len(chunks),
                        "items": chunk,
                    },
                )["id"]
                for sequence, chunk in enumerate(chunks, start=1)
            ]
        logger.info("snapshot %s: %d item(s) in %d event(s)", snapshot_id, len(items), len(events))
        return {"id": snapshot_id, "as_of": as_of, "items": len(items), "events": events}

    def adjustments(self) -> list[dict[str, Any]]:
        with self._lock:
            return [dict(a) for a in self._adjustments]

    # -- periodic snapshots -----------------------------------------------------------------

    def _stock_loop(self) -> None:
        while not self.stopping.wait(self.tick_s * 5):
            try:
                self._stock_tick()
            except Exception:
                logger.exception("%s: stock tick failed", self.name)

    def _stock_tick(self) -> None:
        with self._lock:
            every = float(self._config.get("snapshot_every_s") or 0)
            now = time.monotonic()
            if every <= 0:
                self._next_snapshot = None
                return
            if self._next_snapshot is None or self._next_snapshot > now + every:
                self._next_snapshot = now + every  # switched on, or made more frequent
                return
            if now < self._next_snapshot:
                return
            self._next_snapshot = now + every
            if not self._stock:
                return  # nothing counted yet: nothing to report
            self.send_snapshot()

    # -- /_sim/stock ------------------------------------------------------------------------

    def sim_stock(self, request: Request) -> Response:
        return json_response({"items": self.stock(), "adjustments": len(self.adjustments())})

    def sim_set_stock(self, request: Request) -> Response:
        try:
            payload = request.json()
        except (ValueError, UnicodeDecodeError):
            return invalid_json()
        errors = validate_stock_items(payload)
        if errors:
            return validation_failed(errors)
        self.set_stock(payload["items"])
        return json_response({"items": self.stock()})

    def sim_adjust_stock(self, request: Request) -> Response:
        try:
            payload = request.json()
        except (ValueError, UnicodeDecodeError):
            return invalid_json()
        errors = validate_adjustment(payload)
        if errors:
            return validation_failed(errors)
        try:
            adjustment = self.adjust_stock(
                payload["sku"], payload["location"], payload["delta"], payload["reason"]
            )
        except ValueError as exc:
            return json_response({"error": str(exc)}, 409)
        return json_response(adjustment, 201)

    def sim_snapshot_stock(self, request: Request) -> Response:
        return json_response(self.send_snapshot())
