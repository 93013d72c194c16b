"""The WMS simulator's contract rules: statuses, event types, default configuration, the fault
plan (short picks on top of the common faults) and the validation of what clients send
(docs/contracts/wms.md). No state; the server and the warehouse floor use them."""

from __future__ import annotations

import hashlib
import json
from typing import Any

from integrations.simhooks import WEBHOOK_FAULT_DEFAULTS
from integrations.simkit import FaultPlan, Response, json_response

RELEASE_STATUSES = ("released", "picking", "packed", "partially_shipped", "shipped", "cancelled")
FINAL_STATUSES = frozenset({"shipped", "cancelled"})
EVENT_TYPES = (
    "release.picking",
    "release.packed",
    "release.backordered",
    "release.cancelled",
    "shipment.shipped",
    "release.shipped",
    "inventory.snapshot",
    "inventory.adjusted",
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
    "snapshot_every_s": 0.0,  # a full stock snapshot every N seconds; 0 = only when asked
}
TIMING_KEYS = ("pick_after_s", "pack_after_s", "ship_after_s", "split_gap_s", "snapshot_every_s")


class WmsFaultPlan(FaultPlan):
    """Base faults + webhook faults + the short pick + stock drift.

    ``short_pick_next`` (int): the next N releases to finish picking pick their last open line
    ``short_pick_units`` (int, default 1, at least 1 is used) short; the shortfall is reported as
    ``release.backordered`` and never ships.

    ``drift_units`` (int, may be negative) and ``drift_skus`` (list of SKU codes, empty = every
    SKU): the stock figures the warehouse reports (snapshots, ``on_hand_after``) differ from its
    true ledger by that many units (never below 0), as a miscounting warehouse's do.
    """

    extra_defaults = {
        **WEBHOOK_FAULT_DEFAULTS,
        "short_pick_next": 0,
        "short_pick_units": 1,
        "drift_units": 0,
        "drift_skus": [],
    }

    def defaults(self) -> dict[str, Any]:
        return {**super().defaults(), "drift_skus": []}  # a fresh list per reset

    @staticmethod
    def _coerce(key: str, default: Any, value: Any) -> Any:
        if key == "drift_units":
            if isinstance(value, bool) or not isinstance(value, int):
                raise ValueError("drift_units must be an integer")
            return value
        if key == "drift_skus":
            if not isinstance(value, list) or not all(
                isinstance(code, str) and code.strip() for code in value
            ):
                raise ValueError("drift_skus must be a list of SKU codes")
            return [code.strip() for code in value]
        return FaultPlan._coerce(key, default, value)


# --------------------------------------------------------------------------------------------
# Validation
# --------------------------------------------------------------------------------------------


def is_positive_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and value > 0


def require_string(payload: dict[str, Any], name: str, errors: dict[str, str]) -> None:
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
        require_string(payload, name, errors)
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
            elif not is_positive_int(number):
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
            elif not is_positive_int(quantity):
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


def copy_json(value: Any) -> Any:
    return json.loads(json.dumps(value))


def validation_failed(fields: dict[str, str]) -> Response:
    return json_response({"error": "validation failed", "fields": fields}, 400)


def invalid_json() -> Response:
    return json_response({"error": "invalid JSON body", "fields": {}}, 400)
