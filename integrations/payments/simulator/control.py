"""The simulator's ``/_sim`` controls: a storefront's checkout, the price list, limits and a
summary of state, for the demo and tests (never part of the gateway's API)."""

from __future__ import annotations

from typing import Any

from integrations.payments.simulator import params as p
from integrations.payments.simulator.params import StripeError
from integrations.simkit import Request, Response, json_response

DEFAULT_PRICING = {"percent_bps": 150, "fixed_minor": 25}
DEFAULT_CONFIG = {"max_captures": 50}  # Stripe's multicapture limit per intent


def _non_negative_ints(config: Any, defaults: dict[str, int]) -> dict[str, int]:
    if not isinstance(config, dict):
        raise ValueError("config must be a JSON object")
    cleaned = {}
    for key, value in config.items():
        if key not in defaults:
            raise ValueError(f"unknown key: {key}")
        if isinstance(value, bool) or not isinstance(value, int) or value < 0:
            raise ValueError(f"{key} must be an integer >= 0")
        cleaned[key] = value
    return cleaned


class SimControls:
    """Mixed into :class:`PaymentsSimulator`; uses its lock, tables and webhook sender."""

    _lock: Any
    _intents: dict[str, dict[str, Any]]
    _refunds: dict[str, dict[str, Any]]
    _balance: dict[str, dict[str, Any]]
    _pricing: dict[str, int]
    _config: dict[str, int]
    webhooks: Any
    faults: Any
    request_count: int

    def create_intent(self, request: Request, params: dict[str, Any]) -> tuple[int, Any]:
        raise NotImplementedError

    def _intent_view(self, intent: dict[str, Any], expand: set[str] | None = None) -> dict:
        raise NotImplementedError

    def pricing(self) -> dict[str, int]:
        with self._lock:
            return dict(self._pricing)

    def config(self) -> dict[str, int]:
        with self._lock:
            return dict(self._config)

    def checkout(self, payload: Any) -> tuple[int, dict[str, Any]]:
        """What a storefront's checkout does: create and confirm an intent for an order."""
        if not isinstance(payload, dict):
            raise p.invalid("body must be a JSON object")
        for name in ("order_ref", "correlation_id"):
            if not isinstance(payload.get(name), str) or not payload[name].strip():
                raise p.missing(name)
        decline = payload.get("decline", False)
        if not isinstance(decline, bool):
            raise p.invalid("decline must be a boolean", param="decline")
        params = {
            "amount": payload.get("amount"),
            "currency": payload.get("currency"),
            "capture_method": payload.get("capture_method") or "automatic",
            "payment_method": "pm_card_chargeDeclined"
            if decline
            else payload.get("payment_method") or "pm_card_visa",
            "confirm": True,
            "metadata": {
                "order_ref": payload["order_ref"],
                "correlation_id": payload["correlation_id"],
            },
        }
        request = Request("POST", "/v1/payment_intents", {}, {}, b"", "sim")
        with self._lock:
            try:
                self.create_intent(request, params)
            except StripeError as exc:
                if exc.status != 402:
                    raise
            intent = next(reversed(self._intents.values()))
            return 201, self._intent_view(intent, {"latest_charge"})

    def sim_checkout(self, request: Request) -> Response:
        try:
            status, body = self.checkout(request.json())
        except ValueError:
            return p.invalid("invalid JSON body").response()
        except StripeError as exc:
            return exc.response()
        return json_response(body, status)

    def sim_set_pricing(self, request: Request) -> Response:
        try:
            changes = _non_negative_ints(request.json(), DEFAULT_PRICING)
        except ValueError as exc:
            return json_response({"error": str(exc)}, 400)
        with self._lock:
            self._pricing.update(changes)
        return json_response(self.pricing())

    def sim_set_config(self, request: Request) -> Response:
        try:
            changes = _non_negative_ints(request.json(), DEFAULT_CONFIG)
        except ValueError as exc:
            return json_response({"error": str(exc)}, 400)
        with self._lock:
            self._config.update(changes)
        return json_response(self.config())

    def sim_state(self, request: Request) -> Response:
        with self._lock:
            by_status: dict[str, int] = {}
            for intent in self._intents.values():
                by_status[intent["status"]] = by_status.get(intent["status"], 0) + 1
            state = {
                "intents": len(self._intents),
                "by_status": by_status,
                "refunds": len(self._refunds),
                "balance_transactions": len(self._balance),
                "pricing": dict(self._pricing),
                "config": dict(self._config),
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

    def sim_intents(self, request: Request) -> Response:
        with self._lock:
            return json_response(
                [self._intent_view(i, {"latest_charge"}) for i in self._intents.values()]
            )
