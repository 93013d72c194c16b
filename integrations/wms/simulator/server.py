"""WMS simulator speaking Control Tower's generic warehouse contract (docs/contracts/wms.md).

Control Tower *releases* orders to the warehouse; the warehouse picks, packs and ships them and
reports progress through signed webhooks (``WMS-Signature``). A real WMS / 3PL (ShipBob,
ShipHero, a Shopify fulfillment service, Manhattan, ...) is "one adapter away".

State is in memory behind one lock. A background thread moves releases along
(``released → picking → packed → [partially_shipped →] shipped``) with the timings of
``/_sim/config``; tests can switch that off and step releases by hand (``/_sim/releases/<id>/
advance`` and ``/ship``).
"""

from __future__ import annotations

import hashlib
import hmac
import json
import logging
import random
import threading
import time
from collections import Counter
from typing import Any

from integrations.simkit import (
    WEBHOOK_FAULT_DEFAULTS,
    FaultPlan,
    JsonHTTPServer,
    Request,
    Response,
    SignedWebhookSender,
    iso_utc,
    json_response,
    utcnow,
)
from integrations.wms.simulator.tracking import tracking_number

logger = logging.getLogger(__name__)

RELEASE_STATUSES = ("released", "picking", "packed", "partially_shipped", "shipped", "cancelled")
FINAL_STATUSES = frozenset({"shipped", "cancelled"})
EVENT_TYPES = (
    "release.picking",
    "release.packed",
    "release.backordered",
    "release.cancelled",
    "shipment.shipped",
    "release.shipped",
)
SIGNATURE_HEADER = "WMS-Signature"
DEFAULT_WAREHOUSE = "MAIN"
DEFAULT_TOKEN = "wms-secret-token"
IDEMPOTENCY_CONFLICT = "idempotency key reused with a different payload"

DEFAULT_CONFIG: dict[str, Any] = {
    "auto_progress": True,
    "pick_after_s": 0.5,
    "pack_after_s": 0.3,
    "ship_after_s": 0.3,
    "split_shipments": False,
    "split_gap_s": 2.0,
    "carriers": ["DHL", "PostNL", "UPS"],
}
TIMING_KEYS = ("pick_after_s", "pack_after_s", "ship_after_s", "split_gap_s")


class WmsFaultPlan(FaultPlan):
    """Base faults + webhook faults + the short pick.

    ``short_pick_next`` (int): the next N releases to finish picking pick their last open line
    ``short_pick_units`` (int, default 1, at least 1 is used) short; the shortfall is reported as
    ``release.backordered`` and never ships.
    """

    extra_defaults = {**WEBHOOK_FAULT_DEFAULTS, "short_pick_next": 0, "short_pick_units": 1}


# --------------------------------------------------------------------------------------------
# Validation
# --------------------------------------------------------------------------------------------


def _is_positive_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and value > 0


def _non_empty_string(payload: dict[str, Any], name: str, errors: dict[str, str]) -> None:
    if name not in payload:
        errors[name] = "this field is required"
    elif not isinstance(payload[name], str) or not payload[name].strip():
        errors[name] = "must be a non-empty string"


def validate_release(payload: Any) -> dict[str, str]:
    """Return ``{field: problem}`` for a release request; empty when valid."""
    if not isinstance(payload, dict):
        return {"_": "body must be a JSON object"}
    errors: dict[str, str] = {}
    for name in ("external_ref", "correlation_id", "sales_order"):
        _non_empty_string(payload, name, errors)
    warehouse = payload.get("warehouse")
    if warehouse is not None and (not isinstance(warehouse, str) or not warehouse.strip()):
        errors["warehouse"] = "must be a non-empty string"
    ship_to = payload.get("ship_to")
    if ship_to is not None and not isinstance(ship_to, dict):
        errors["ship_to"] = "must be an object"
    lines = payload.get("lines")
    if "lines" not in payload:
        errors["lines"] = "this field is required"
    elif not isinstance(lines, list) or not lines:
        errors["lines"] = "must be a non-empty list"
    else:
        seen: set[int] = set()
        for index, line in enumerate(lines):
            prefix = f"lines[{index}]"
            if not isinstance(line, dict):
                errors[prefix] = "must be an object"
                continue
            number = line.get("line_number")
            if "line_number" not in line:
                errors[f"{prefix}.line_number"] = "this field is required"
            elif not _is_positive_int(number):
                errors[f"{prefix}.line_number"] = "must be a positive integer"
            elif number in seen:
                errors[f"{prefix}.line_number"] = "must be unique within the release"
            else:
                seen.add(number)
            sku = line.get("sku")
            if "sku" not in line:
                errors[f"{prefix}.sku"] = "this field is required"
            elif not isinstance(sku, str) or not sku.strip():
                errors[f"{prefix}.sku"] = "must be a non-empty string"
            quantity = line.get("quantity")
            if "quantity" not in line:
                errors[f"{prefix}.quantity"] = "this field is required"
            elif not _is_positive_int(quantity):
                errors[f"{prefix}.quantity"] = "must be a positive integer"
    return errors


def validate_config(config: Any) -> dict[str, Any]:
    """Return the cleaned config update; raise ValueError with a clear message."""
    if not isinstance(config, dict):
        raise ValueError("config must be a JSON object")
    cleaned: dict[str, Any] = {}
    for key, value in config.items():
        if key not in DEFAULT_CONFIG:
            raise ValueError(f"unknown config key: {key}")
        if key in ("auto_progress", "split_shipments"):
            if not isinstance(value, bool):
                raise ValueError(f"{key} must be a boolean")
        elif key in TIMING_KEYS:
            if isinstance(value, bool) or not isinstance(value, int | float) or value < 0:
                raise ValueError(f"{key} must be a number >= 0")
            value = float(value)
        elif key == "carriers":
            if (
                not isinstance(value, list)
                or not value
                or not all(isinstance(c, str) and c.strip() for c in value)
            ):
                raise ValueError("carriers must be a non-empty list of non-empty strings")
            value = [c.strip() for c in value]
        cleaned[key] = value
    return cleaned


def payload_fingerprint(payload: Any) -> str:
    canonical = json.dumps(payload, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return hashlib.sha256(canonical.encode("utf-8")).hexdigest()


def _copy(value: Any) -> Any:
    return json.loads(json.dumps(value))


def _validation_failed(fields: dict[str, str]) -> Response:
    return json_response({"error": "validation failed", "fields": fields}, 400)


def _invalid_json() -> Response:
    return json_response({"error": "invalid JSON body", "fields": {}}, 400)


# --------------------------------------------------------------------------------------------
# Simulator
# --------------------------------------------------------------------------------------------


class WmsSimulator(JsonHTTPServer):
    """In-memory warehouse exposing ``/api/v1/releases`` and ``/api/v1/shipments``."""

    fault_prefix = "/api/"
    name = "wms-simulator"
    tick_s = 0.02

    def __init__(
        self,
        host: str = "127.0.0.1",
        port: int = 0,
        token: str = DEFAULT_TOKEN,
        fault_plan: FaultPlan | None = None,
        config: dict[str, Any] | None = None,
        seed: int | None = None,
        webhook_retry_base_s: float = 0.5,
    ) -> None:
        super().__init__(host=host, port=port, fault_plan=fault_plan or WmsFaultPlan())
        self.token = token
        self._lock = threading.RLock()
        self._initial_config = {**_copy(DEFAULT_CONFIG), **validate_config(config or {})}
        self._config: dict[str, Any] = _copy(self._initial_config)
        self._rng = random.Random(seed)
        self._releases: dict[str, dict[str, Any]] = {}
        self._shipments: dict[str, dict[str, Any]] = {}
        self._by_external_ref: dict[str, str] = {}
        self._idempotency: dict[str, tuple[str, int, dict[str, Any]]] = {}
        self._due: dict[str, float] = {}  # release id -> monotonic time of its next auto step
        self._release_seq = 0
        self._shipment_seq = 0
        self._tracking_numbers: set[str] = set()
        self._progress_thread: threading.Thread | None = None
        self.webhooks = SignedWebhookSender(
            self, header=SIGNATURE_HEADER, retry_base_s=webhook_retry_base_s
        )
        self.webhooks.install_sim_routes()

        self.route("POST", r"/api/v1/releases/?", self.create_release)
        self.route("GET", r"/api/v1/releases/?", self.list_releases)
        self.route("GET", r"/api/v1/releases/(?P<release_id>[^/]+)/?", self.get_release)
        self.route("POST", r"/api/v1/releases/(?P<release_id>[^/]+)/cancel/?", self.cancel_release)
        self.route(
            "POST",
            r"/api/v1/releases/(?P<release_id>[^/]+)/lines/(?P<line_number>[^/]+)/cancel/?",
            self.cancel_release_line,
        )
        self.route("GET", r"/api/v1/shipments/?", self.list_shipments)
        self.route("GET", r"/api/v1/shipments/(?P<shipment_id>[^/]+)/?", self.get_shipment)
        self.route("GET", r"/_sim/state", self.sim_state)
        self.route("GET", r"/_sim/config", self.sim_get_config)
        self.route("POST", r"/_sim/config", self.sim_set_config)
        self.route("GET", r"/_sim/releases", self.sim_releases)
        self.route("GET", r"/_sim/shipments", self.sim_shipments)
        self.route("POST", r"/_sim/releases/(?P<release_id>[^/]+)/advance", self.sim_advance)
        self.route("POST", r"/_sim/releases/(?P<release_id>[^/]+)/ship", self.sim_ship)

    # -- lifecycle ------------------------------------------------------------------------

    def on_start(self) -> None:
        self.webhooks.start()
        if self._progress_thread is None:
            self._progress_thread = threading.Thread(
                target=self._progress_loop, name=f"{self.name}-progress", daemon=True
            )
            self._progress_thread.start()

    def on_stop(self) -> None:
        thread = self._progress_thread
        if thread is not None and thread is not threading.current_thread():
            thread.join(timeout=2)

    def reset_data(self) -> None:
        with self._lock:
            self._releases.clear()
            self._shipments.clear()
            self._by_external_ref.clear()
            self._idempotency.clear()
            self._due.clear()
            self._tracking_numbers.clear()
            self._release_seq = 0
            self._shipment_seq = 0
            self._config = _copy(self._initial_config)
        self.webhooks.reset()

    # -- config ---------------------------------------------------------------------------

    def config(self) -> dict[str, Any]:
        with self._lock:
            return _copy(self._config)

    def configure(self, changes: dict[str, Any]) -> dict[str, Any]:
        """Merge ``changes`` into the progress config (raises ValueError on bad input)."""
        cleaned = validate_config(changes)
        with self._lock:
            was_auto = self._config["auto_progress"]
            self._config.update(cleaned)
            if self._config["auto_progress"] and not was_auto:
                # Restart every clock so switching auto progress on does not release a burst.
                for release_id in self._due:
                    self._due[release_id] = self._deadline(self._releases[release_id])
            return _copy(self._config)

    # -- helpers --------------------------------------------------------------------------

    def _authorized(self, request: Request) -> bool:
        header = request.header("Authorization") or ""
        scheme, _, credentials = header.partition(" ")
        if scheme.lower() != "bearer" or not credentials.strip():
            return False
        return hmac.compare_digest(credentials.strip().encode(), self.token.encode())

    @staticmethod
    def _unauthorized() -> Response:
        return json_response(
            {"error": "unauthorized"}, 401, {"WWW-Authenticate": 'Bearer realm="wms"'}
        )

    @staticmethod
    def _body(request: Request, *, optional: bool) -> Any:
        """Parsed JSON body (``{}`` for an empty optional body); raise ValueError if invalid."""
        if optional and not request.body.strip():
            return {}
        return request.json()

    def _replay(self, scope: str | None, fingerprint: str) -> Response | None:
        """The stored answer for an idempotent replay, a 422 on conflict, else None."""
        if scope is None or scope not in self._idempotency:
            return None
        stored_fingerprint, status, body = self._idempotency[scope]
        if stored_fingerprint != fingerprint:
            return json_response({"error": IDEMPOTENCY_CONFLICT}, 422)
        logger.info("idempotent replay of %s", scope)
        return json_response(_copy(body), status, {"Idempotent-Replayed": "true"})

    @staticmethod
    def _scope(request: Request) -> str | None:
        key = (request.header("Idempotency-Key") or "").strip()
        return f"{request.method} {request.path.rstrip('/')} {key}" if key else None

    @staticmethod
    def _public_release(release: dict[str, Any]) -> dict[str, Any]:
        return _copy(release)

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
                    "shipment.shipped", _copy(self._shipments[release["shipments"][-1]]), emitted
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

    # -- API: releases --------------------------------------------------------------------

    def create_release(self, request: Request) -> Response:
        if not self._authorized(request):
            return self._unauthorized()
        try:
            payload = request.json()
        except (ValueError, UnicodeDecodeError):
            return _invalid_json()
        errors = validate_release(payload)
        if errors:
            return _validation_failed(errors)
        scope = self._scope(request)
        fingerprint = payload_fingerprint(payload)
        with self._lock:
            replay = self._replay(scope, fingerprint)
            if replay is not None:
                return replay
            external_ref = payload["external_ref"]
            existing = self._by_external_ref.get(external_ref)
            if existing is not None:
                return json_response(
                    {
                        "error": "a release with this external_ref already exists",
                        "id": existing,
                        "external_ref": external_ref,
                    },
                    409,
                )
            self._release_seq += 1
            release_id = f"REL-{self._release_seq:06d}"
            now = iso_utc(utcnow())
            release = {
                "id": release_id,
                "object": "release",
                "external_ref": external_ref,
                "correlation_id": payload["correlation_id"],
                "request_correlation_id": request.header("X-Correlation-ID"),
                "sales_order": payload["sales_order"],
                "warehouse": payload.get("warehouse") or DEFAULT_WAREHOUSE,
                "status": "released",
                "ship_to": payload.get("ship_to") or {},
                "lines": [
                    {
                        "line_number": line["line_number"],
                        "sku": line["sku"],
                        "quantity": line["quantity"],
                        "picked": 0,
                        "shipped": 0,
                        "backordered": 0,
                        "cancelled": 0,
                    }
                    for line in payload["lines"]
                ],
                "shipments": [],
                "cancel_reason": None,
                "cancelled_at": None,
                "created_at": now,
                "updated_at": now,
            }
            self._releases[release_id] = release
            self._by_external_ref[external_ref] = release_id
            self._schedule(release)
            body = {
                "id": release_id,
                "object": "release",
                "status": "released",
                "external_ref": external_ref,
                "created_at": now,
            }
            if scope is not None:
                self._idempotency[scope] = (fingerprint, 201, _copy(body))
        logger.info("released %s for external_ref %s", release_id, external_ref)
        return json_response(body, 201, {"Location": f"/api/v1/releases/{release_id}"})

    def releases(self) -> list[dict[str, Any]]:
        with self._lock:
            return [self._public_release(r) for r in self._releases.values()]

    def release(self, release_id: str) -> dict[str, Any] | None:
        with self._lock:
            release = self._releases.get(release_id)
            return self._public_release(release) if release is not None else None

    def list_releases(self, request: Request) -> Response:
        if not self._authorized(request):
            return self._unauthorized()
        status = request.arg("status")
        if status is not None and status not in RELEASE_STATUSES:
            return _validation_failed({"status": f"must be one of {', '.join(RELEASE_STATUSES)}"})
        filters = {
            name: request.arg(name)
            for name in ("external_ref", "sales_order", "correlation_id", "status")
        }
        results = [
            release
            for release in self.releases()
            if all(value is None or release[name] == value for name, value in filters.items())
        ]
        return json_response({"count": len(results), "results": results})

    def get_release(self, request: Request) -> Response:
        if not self._authorized(request):
            return self._unauthorized()
        release = self.release(request.params["release_id"])
        if release is None:
            return json_response({"error": "not found"}, 404)
        return json_response(release)

    def cancel_release(self, request: Request) -> Response:
        if not self._authorized(request):
            return self._unauthorized()
        try:
            payload = self._body(request, optional=True)
        except (ValueError, UnicodeDecodeError):
            return _invalid_json()
        if not isinstance(payload, dict):
            return _validation_failed({"_": "body must be a JSON object"})
        reason = payload.get("reason")
        if reason is not None and not isinstance(reason, str):
            return _validation_failed({"reason": "must be a string"})
        release_id = request.params["release_id"]
        scope = self._scope(request)
        fingerprint = payload_fingerprint(payload)
        with self._lock:
            replay = self._replay(scope, fingerprint)
            if replay is not None:
                return replay
            release = self._releases.get(release_id)
            if release is None:
                return json_response({"error": "not found"}, 404)
            if release["status"] not in ("released", "cancelled"):
                return json_response(
                    {
                        "error": f"release is {release['status']} and can no longer be cancelled",
                        "id": release_id,
                        "status": release["status"],
                    },
                    409,
                )
            if release["status"] == "released":
                self._cancel(release, reason or "", [])
                logger.info("cancelled %s", release_id)
            body = {
                "id": release_id,
                "object": "release",
                "status": "cancelled",
                "external_ref": release["external_ref"],
                "cancelled_at": release["cancelled_at"],
            }
            if scope is not None:
                self._idempotency[scope] = (fingerprint, 200, _copy(body))
        return json_response(body)

    def cancel_release_line(self, request: Request) -> Response:
        if not self._authorized(request):
            return self._unauthorized()
        try:
            payload = request.json()
        except (ValueError, UnicodeDecodeError):
            return _invalid_json()
        if not isinstance(payload, dict):
            return _validation_failed({"_": "body must be a JSON object"})
        errors: dict[str, str] = {}
        quantity = payload.get("quantity")
        if "quantity" not in payload:
            errors["quantity"] = "this field is required"
        elif not _is_positive_int(quantity):
            errors["quantity"] = "must be a positive integer"
        reason = payload.get("reason")
        if reason is not None and not isinstance(reason, str):
            errors["reason"] = "must be a string"
        if errors:
            return _validation_failed(errors)
        release_id = request.params["release_id"]
        try:
            line_number = int(request.params["line_number"])
        except ValueError:
            return json_response({"error": "not found"}, 404)
        scope = self._scope(request)
        fingerprint = payload_fingerprint(payload)
        with self._lock:
            replay = self._replay(scope, fingerprint)
            if replay is not None:
                return replay
            release = self._releases.get(release_id)
            if release is None:
                return json_response({"error": "not found"}, 404)
            line = next((x for x in release["lines"] if x["line_number"] == line_number), None)
            if line is None:
                return json_response(
                    {"error": "no such line", "id": release_id, "line_number": line_number}, 404
                )
            if release["status"] != "released":
                return json_response(
                    {
                        "error": f"release is {release['status']} and its lines can no longer "
                        "be cancelled",
                        "id": release_id,
                        "status": release["status"],
                        "line_number": line_number,
                    },
                    409,
                )
            cancellable = line["quantity"] - line["cancelled"] - line["picked"]
            if quantity > cancellable:
                return json_response(
                    {
                        "error": f"only {cancellable} unit(s) of line {line_number} can still "
                        "be cancelled",
                        "id": release_id,
                        "status": release["status"],
                        "line_number": line_number,
                        "cancellable": cancellable,
                    },
                    409,
                )
            line["cancelled"] += quantity
            self._touch(release)
            if not any(self._outstanding(x) for x in release["lines"]):
                self._cancel(release, reason or "all lines cancelled", [])
            body = self._public_release(release)
            if scope is not None:
                self._idempotency[scope] = (fingerprint, 200, _copy(body))
        logger.info("cancelled %d of line %d on %s", quantity, line_number, release_id)
        return json_response(body)

    # -- API: shipments -------------------------------------------------------------------

    def shipments(self) -> list[dict[str, Any]]:
        with self._lock:
            return [_copy(s) for s in self._shipments.values()]

    def list_shipments(self, request: Request) -> Response:
        if not self._authorized(request):
            return self._unauthorized()
        filters = {name: request.arg(name) for name in ("release", "external_ref", "sales_order")}
        results = [
            shipment
            for shipment in self.shipments()
            if all(value is None or shipment[name] == value for name, value in filters.items())
        ]
        return json_response({"count": len(results), "results": results})

    def get_shipment(self, request: Request) -> Response:
        if not self._authorized(request):
            return self._unauthorized()
        with self._lock:
            shipment = self._shipments.get(request.params["shipment_id"])
            shipment = _copy(shipment) if shipment is not None else None
        if shipment is None:
            return json_response({"error": "not found"}, 404)
        return json_response(shipment)

    # -- /_sim ----------------------------------------------------------------------------

    def sim_state(self, request: Request) -> Response:
        with self._lock:
            by_status = Counter(r["status"] for r in self._releases.values())
            state = {
                "releases": len(self._releases),
                "shipments": len(self._shipments),
                "by_status": dict(by_status),
                "config": _copy(self._config),
            }
        deliveries = self.webhooks.deliveries()
        state.update(
            {
                "requests": self.request_count,
                "webhook_events": len(self.webhooks.events()),
                "webhook_deliveries": len(deliveries),
                "webhook_deliveries_failed": sum(1 for d in deliveries if not d["ok"]),
                "webhook_pending": self.webhooks.pending(),
                "faults": self.faults.snapshot(),
            }
        )
        return json_response(state)

    def sim_get_config(self, request: Request) -> Response:
        return json_response(self.config())

    def sim_set_config(self, request: Request) -> Response:
        try:
            payload = request.json()
        except (ValueError, UnicodeDecodeError):
            return json_response({"error": "invalid JSON body"}, 400)
        try:
            return json_response(self.configure(payload))
        except ValueError as exc:
            return json_response({"error": str(exc)}, 400)

    def sim_releases(self, request: Request) -> Response:
        return json_response(self.releases())

    def sim_shipments(self, request: Request) -> Response:
        return json_response(self.shipments())

    def advance(self, release_id: str) -> tuple[dict[str, Any], list[str]]:
        """Move one release one step (raises KeyError / ValueError); returns (release, events)."""
        emitted: list[str] = []
        with self._lock:
            release = self._releases[release_id]
            if release["status"] in FINAL_STATUSES:
                raise ValueError(f"release is {release['status']} and cannot advance")
            self._advance(release, emitted)
            return self._public_release(release), emitted

    def sim_advance(self, request: Request) -> Response:
        try:
            release, emitted = self.advance(request.params["release_id"])
        except KeyError:
            return json_response({"error": "not found"}, 404)
        except ValueError as exc:
            return json_response({"error": str(exc)}, 409)
        return json_response({"release": release, "events": emitted})

    def sim_ship(self, request: Request) -> Response:
        """Ship exactly the given lines; ``"force": true`` allows what the release cannot hold."""
        try:
            payload = request.json()
        except (ValueError, UnicodeDecodeError):
            return _invalid_json()
        if not isinstance(payload, dict):
            return _validation_failed({"_": "body must be a JSON object"})
        errors: dict[str, str] = {}
        force = payload.get("force", False)
        if not isinstance(force, bool):
            errors["force"] = "must be a boolean"
        for name in ("carrier", "tracking_number"):
            value = payload.get(name)
            if value is not None and (not isinstance(value, str) or not value.strip()):
                errors[name] = "must be a non-empty string"
        lines = payload.get("lines")
        if not isinstance(lines, list) or not lines:
            errors["lines"] = "must be a non-empty list"
            lines = []
        for index, line in enumerate(lines):
            prefix = f"lines[{index}]"
            if not isinstance(line, dict):
                errors[prefix] = "must be an object"
                continue
            if not _is_positive_int(line.get("line_number")):
                errors[f"{prefix}.line_number"] = "must be a positive integer"
            if not _is_positive_int(line.get("quantity")):
                errors[f"{prefix}.quantity"] = "must be a positive integer"
            sku = line.get("sku")
            if sku is not None and (not isinstance(sku, str) or not sku.strip()):
                errors[f"{prefix}.sku"] = "must be a non-empty string"
        if errors:
            return _validation_failed(errors)
        emitted: list[str] = []
        with self._lock:
            release = self._releases.get(request.params["release_id"])
            if release is None:
                return json_response({"error": "not found"}, 404)
            by_number = {line["line_number"]: line for line in release["lines"]}
            mismatches: dict[str, str] = {}
            if release["status"] in FINAL_STATUSES:
                mismatches["_"] = f"release is {release['status']}"
            asked: Counter[int] = Counter()
            for line in lines:
                asked[line["line_number"]] += line["quantity"]
            for index, line in enumerate(lines):
                known = by_number.get(line["line_number"])
                if known is None:
                    mismatches[f"lines[{index}].line_number"] = (
                        f"line {line['line_number']} is not in {release['id']}"
                    )
                elif asked[line["line_number"]] > self._outstanding(known):
                    mismatches[f"lines[{index}].quantity"] = (
                        f"only {self._outstanding(known)} unit(s) of line "
                        f"{line['line_number']} left to ship"
                    )
            if mismatches and not force:
                return json_response(
                    {
                        "error": 'shipment does not match the release (send "force": true to '
                        "ship it anyway)",
                        "fields": mismatches,
                    },
                    409,
                )
            parcel = [
                (
                    line["line_number"],
                    line.get("sku")
                    or (
                        by_number[line["line_number"]]["sku"]
                        if line["line_number"] in by_number
                        else "UNKNOWN-SKU"
                    ),
                    line["quantity"],
                )
                for line in lines
            ]
            shipment = self._ship(
                release, parcel, payload.get("carrier"), payload.get("tracking_number")
            )
            self._emit("shipment.shipped", _copy(shipment), emitted)
            self._finish_if_done(release, emitted)
            self._schedule(release)
            result = _copy(shipment)
        return json_response({**result, "events": emitted}, 201)
