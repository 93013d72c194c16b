"""The warehouse floor: how a release moves on by itself (released → picking → packed →
[partially_shipped →] shipped) or is cancelled, the parcels it ships, the events it emits. A
mixin of :class:`integrations.wms.simulator.server.WmsSimulator`, which holds the state and the
lock; everything here runs under that lock."""

from __future__ import annotations

import logging
import time
from typing import Any

from integrations.simkit import iso_utc, utcnow
from integrations.wms.simulator.contract import FINAL_STATUSES, copy_json
from integrations.wms.simulator.tracking import tracking_number

logger = logging.getLogger(__name__)


class WarehouseFloor:
    """Release progression for :class:`WmsSimulator` (its ``_lock``, ``_config``, ``_releases``,
    ``_shipments``, ``faults`` and ``webhooks``)."""

    _lock: Any
    _config: dict[str, Any]
    faults: Any
    webhooks: Any

    def _touch(self, release: dict[str, Any]) -> None:
        release["updated_at"] = iso_utc(utcnow())

    def _deadline(self, release: dict[str, Any]) -> float:
        status = release["status"]
        key = {
            "released": "pick_after_s",
            "picking": "pack_after_s",
            "packed": "ship_after_s",
            "partially_shipped": "split_gap_s",
        }[status]
        return time.monotonic() + float(self._config[key])

    def _schedule(self, release: dict[str, Any]) -> None:
        if release["status"] in FINAL_STATUSES:
            self._due.pop(release["id"], None)
        else:
            self._due[release["id"]] = self._deadline(release)

    def _emit(self, event_type: str, obj: dict[str, Any], emitted: list[str]) -> None:
        self.webhooks.emit(event_type, obj)
        emitted.append(event_type)

    @staticmethod
    def _outstanding(line: dict[str, Any]) -> int:
        """Units of a line still expected to ship."""
        return max(0, line["quantity"] - line["cancelled"] - line["backordered"] - line["shipped"])

    # -- lifecycle steps (call with the lock held) ------------------------------------------

    def _cancel(self, release: dict[str, Any], reason: str, emitted: list[str]) -> None:
        now = iso_utc(utcnow())
        release["status"] = "cancelled"
        release["cancel_reason"] = reason
        release["cancelled_at"] = now
        release["updated_at"] = now
        self._schedule(release)
        self._emit("release.cancelled", self._public_release(release), emitted)

    def _pick(self, release: dict[str, Any], emitted: list[str]) -> None:
        """Finish picking: everything open is picked, except a short pick (fault)."""
        for line in release["lines"]:
            line["picked"] = max(line["picked"], line["quantity"] - line["cancelled"])
        open_lines = [line for line in release["lines"] if self._outstanding(line) > 0]
        backorders: list[dict[str, Any]] = []
        if open_lines and int(self.faults.get("short_pick_next")) > 0:
            self.faults.update({"short_pick_next": int(self.faults.get("short_pick_next")) - 1})
            last = open_lines[-1]
            short = min(max(1, int(self.faults.get("short_pick_units"))), self._outstanding(last))
            last["picked"] -= short
            last["backordered"] += short
            backorders.append(
                {"line_number": last["line_number"], "sku": last["sku"], "quantity": short}
            )
        if backorders:
            self._touch(release)
            logger.info("short pick on %s: %s", release["id"], backorders)
            self._emit(
                "release.backordered",
                {**self._public_release(release), "backorders": backorders},
                emitted,
            )

    def _advance(self, release: dict[str, Any], emitted: list[str]) -> None:
        """One step along released → picking → packed → [partially_shipped →] shipped."""
        status = release["status"]
        if status == "released":
            release["status"] = "picking"
            self._touch(release)
            self._emit("release.picking", self._public_release(release), emitted)
        elif status == "picking":
            self._pick(release, emitted)
            if not any(self._outstanding(line) for line in release["lines"]):
                # Nothing could be picked at all: the warehouse closes the release unshipped.
                self._cancel(release, "short_pick", emitted)
                return
            release["status"] = "packed"
            self._touch(release)
            self._emit("release.packed", self._public_release(release), emitted)
        elif status in ("packed", "partially_shipped"):
            parcel = [
                (line, self._outstanding(line))
                for line in release["lines"]
                if self._outstanding(line) > 0
            ]
            if status == "packed" and self._config["split_shipments"] and len(parcel) > 1:
                parcel = parcel[: (len(parcel) + 1) // 2]
            if parcel:
                self._ship(release, [(line["line_number"], line["sku"], q) for line, q in parcel])
                self._emit(
                    "shipment.shipped",
                    copy_json(self._shipments[release["shipments"][-1]]),
                    emitted,
                )
            self._finish_if_done(release, emitted)
        self._schedule(release)

    def _ship(
        self,
        release: dict[str, Any],
        parcel: list[tuple[int, str, int]],
        carrier: str | None = None,
        tracking: str | None = None,
    ) -> dict[str, Any]:
        """Create a shipment of ``(line_number, sku, quantity)`` and book it on the lines."""
        self._shipment_seq += 1
        shipment_id = f"SHP-{self._shipment_seq:06d}"
        carriers = self._config["carriers"]
        carrier = carrier or carriers[(self._shipment_seq - 1) % len(carriers)]
        if tracking is None:
            tracking = tracking_number(carrier, self._rng)
            while tracking in self._tracking_numbers:
                tracking = tracking_number(carrier, self._rng)
        self._tracking_numbers.add(tracking)
        by_number = {line["line_number"]: line for line in release["lines"]}
        for line_number, _sku, quantity in parcel:
            line = by_number.get(line_number)
            if line is not None:
                line["shipped"] += quantity
                line["picked"] = max(line["picked"], line["shipped"])
        now = iso_utc(utcnow())
        shipment = {
            "id": shipment_id,
            "object": "shipment",
            "release": release["id"],
            "external_ref": release["external_ref"],
            "correlation_id": release["correlation_id"],
            "sales_order": release["sales_order"],
            "warehouse": release["warehouse"],
            "carrier": carrier,
            "tracking_number": tracking,
            "shipped_at": now,
            "lines": [
                {"line_number": number, "sku": sku, "quantity": quantity}
                for number, sku, quantity in parcel
            ],
        }
        self._shipments[shipment_id] = shipment
        release["shipments"].append(shipment_id)
        release["updated_at"] = now
        logger.info("shipped %s for %s via %s %s", shipment_id, release["id"], carrier, tracking)
        return shipment

    def _finish_if_done(self, release: dict[str, Any], emitted: list[str]) -> None:
        if release["status"] in FINAL_STATUSES:
            return
        if any(self._outstanding(line) for line in release["lines"]):
            if release["shipments"]:
                release["status"] = "partially_shipped"
            return
        release["status"] = "shipped"
        self._touch(release)
        self._emit("release.shipped", self._public_release(release), emitted)

    def _progress_loop(self) -> None:
        while not self.stopping.wait(self.tick_s):
            try:
                self._progress_tick()
            except Exception:
                logger.exception("%s: progress tick failed", self.name)

    def _progress_tick(self) -> None:
        with self._lock:
            if not self._config["auto_progress"]:
                return
            now = time.monotonic()
            due = [rid for rid, at in self._due.items() if at <= now]
            for release_id in due:
                release = self._releases[release_id]
                if release["status"] not in FINAL_STATUSES:
                    self._advance(release, [])
