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

import hmac
import logging
import random
import threading
from collections import Counter
from typing import Any

from integrations.simhooks import SignedWebhookSender
from integrations.simkit import (
    FaultPlan,
    JsonHTTPServer,
    Request,
    Response,
    iso_utc,
    json_response,
    utcnow,
)
from integrations.wms.simulator.contract import (
    DEFAULT_CONFIG,
    DEFAULT_TOKEN,
    DEFAULT_WAREHOUSE,
    FINAL_STATUSES,
    IDEMPOTENCY_CONFLICT,
    RELEASE_STATUSES,
    SIGNATURE_HEADER,
    WmsFaultPlan,
    copy_json,
    invalid_json,
    is_positive_int,
    payload_fingerprint,
    validate_config,
    validate_release,
    validation_failed,
)
from integrations.wms.simulator.floor import WarehouseFloor
from integrations.wms.simulator.stock import StockLedger

logger = logging.getLogger(__name__)


# --------------------------------------------------------------------------------------------
# Simulator
# --------------------------------------------------------------------------------------------


class WmsSimulator(WarehouseFloor, StockLedger, JsonHTTPServer):
    """In-memory warehouse exposing ``/api/v1/releases`` and ``/api/v1/shipments``, and its
    stock ledger (``/_sim/stock``, reported as ``inventory.*`` events: ``stock.py``)."""

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
        self._initial_config = {**copy_json(DEFAULT_CONFIG), **validate_config(config or {})}
        self._config: dict[str, Any] = copy_json(self._initial_config)
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
        self._init_stock()

    # -- lifecycle ------------------------------------------------------------------------

    def on_start(self) -> None:
        self.webhooks.start()
        if self._progress_thread is None:
            self._progress_thread = threading.Thread(
                target=self._progress_loop, name=f"{self.name}-progress", daemon=True
            )
            self._progress_thread.start()
        self._start_stock()

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
            self._config = copy_json(self._initial_config)
        self._reset_stock()
        self.webhooks.reset()

    # -- config ---------------------------------------------------------------------------

    def config(self) -> dict[str, Any]:
        with self._lock:
            return copy_json(self._config)

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
            return copy_json(self._config)

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
        return json_response(copy_json(body), status, {"Idempotent-Replayed": "true"})

    @staticmethod
    def _scope(request: Request) -> str | None:
        key = (request.header("Idempotency-Key") or "").strip()
        return f"{request.method} {request.path.rstrip('/')} {key}" if key else None

    @staticmethod
    def _public_release(release: dict[str, Any]) -> dict[str, Any]:
        return copy_json(release)

    # -- API: releases --------------------------------------------------------------------

    def create_release(self, request: Request) -> Response:
        if not self._authorized(request):
            return self._unauthorized()
        try:
            payload = request.json()
        except (ValueError, UnicodeDecodeError):
            return invalid_json()
        errors = validate_release(payload)
        if errors:
            return validation_failed(errors)
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
                self._idempotency[scope] = (fingerprint, 201, copy_json(body))
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
            return validation_failed({"status": f"must be one of {', '.join(RELEASE_STATUSES)}"})
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
            return invalid_json()
        if not isinstance(payload, dict):
            return validation_failed({"_": "body must be a JSON object"})
        reason = payload.get("reason")
        if reason is not None and not isinstance(reason, str):
            return validation_failed({"reason": "must be a string"})
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
                self._idempotency[scope] = (fingerprint, 200, copy_json(body))
        return json_response(body)

    def cancel_release_line(self, request: Request) -> Response:
        if not self._authorized(request):
            return self._unauthorized()
        try:
            payload = request.json()
        except (ValueError, UnicodeDecodeError):
            return invalid_json()
        if not isinstance(payload, dict):
            return validation_failed({"_": "body must be a JSON object"})
        errors: dict[str, str] = {}
        quantity = payload.get("quantity")
        if "quantity" not in payload:
            errors["quantity"] = "this field is required"
        elif not is_positive_int(quantity):
            errors["quantity"] = "must be a positive integer"
        reason = payload.get("reason")
        if reason is not None and not isinstance(reason, str):
            errors["reason"] = "must be a string"
        if errors:
            return validation_failed(errors)
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
                self._idempotency[scope] = (fingerprint, 200, copy_json(body))
        logger.info("cancelled %d of line %d on %s", quantity, line_number, release_id)
        return json_response(body)

    # -- API: shipments -------------------------------------------------------------------

    def shipments(self) -> list[dict[str, Any]]:
        with self._lock:
            return [copy_json(s) for s in self._shipments.values()]

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
            shipment = copy_json(shipment) if shipment is not None else None
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
                "config": copy_json(self._config),
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
            return invalid_json()
        if not isinstance(payload, dict):
            return validation_failed({"_": "body must be a JSON object"})
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
            if not is_positive_int(line.get("line_number")):
                errors[f"{prefix}.line_number"] = "must be a positive integer"
            if not is_positive_int(line.get("quantity")):
                errors[f"{prefix}.quantity"] = "must be a positive integer"
            sku = line.get("sku")
            if sku is not None and (not isinstance(sku, str) or not sku.strip()):
                errors[f"{prefix}.sku"] = "must be a non-empty string"
        if errors:
            return validation_failed(errors)
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
            self._emit("shipment.shipped", copy_json(shipment), emitted)
            self._finish_if_done(release, emitted)
            self._schedule(release)
            result = copy_json(shipment)
        return json_response({**result, "events": emitted}, 201)
