"""Payment gateway simulator, shaped after Stripe's PaymentIntents API (docs/contracts/payments.md).

A storefront's checkout creates and confirms a PaymentIntent (``/_sim/checkout`` plays it);
Control Tower never creates one: it learns of it from signed webhooks (``Stripe-Signature``),
confirms what it heard by reading the intent back (``GET /v1/payment_intents/<id>?expand[]=
latest_charge``), and asks the gateway to capture (partially, several times, the last with
``final_capture``), cancel (void) or refund, each under an ``Idempotency-Key``.

Amounts are integers in minor units and currencies lower-case, as Stripe's. Each capture books a
balance transaction whose fee comes from the price list (``/_sim/pricing``: basis points plus a
fixed part), unless ``fee_variance_bps`` makes the gateway charge more than it lists (the
reconciler's case). The charge carries our per-capture list (``captures``: amount and balance
transaction each), which Stripe itself spreads over charges; docs/simulators.md lists what else
differs. State is in memory behind one lock.
"""

from __future__ import annotations

import base64
import hashlib
import json
import logging
import threading
import time
from typing import Any

from integrations.payments.simulator import params as p
from integrations.payments.simulator.control import DEFAULT_CONFIG, DEFAULT_PRICING, SimControls
from integrations.payments.simulator.params import StripeError
from integrations.simhooks import WEBHOOK_FAULT_DEFAULTS, SignedWebhookSender
from integrations.simkit import FaultPlan, JsonHTTPServer, Request, Response, json_response

logger = logging.getLogger(__name__)

DEFAULT_SECRET_KEY = "sk_test_sim"
SIGNATURE_HEADER = "Stripe-Signature"
EVENT_TYPES = (
    "payment_intent.amount_capturable_updated",
    "payment_intent.succeeded",
    "payment_intent.canceled",
    "payment_intent.payment_failed",
    "charge.refunded",
    "refund.created",
)
DECLINING_METHODS = frozenset({"pm_card_chargeDeclined", "pm_card_visa_chargeDeclined"})
CANCELLABLE = frozenset({"requires_payment_method", "requires_confirmation", "requires_capture"})
CANCELLATION_REASONS = ("duplicate", "fraudulent", "requested_by_customer", "abandoned")
REFUND_REASONS = ("duplicate", "fraudulent", "requested_by_customer")


class PaymentsFaultPlan(FaultPlan):
    """Base faults + webhook faults + the gateway's own.

    ``fee_variance_bps`` (int): every capture is charged this many basis points above the price
    list (the balance transaction's fee differs from what ``/_sim/pricing`` says).
    ``decline_next`` (int): the next N confirmations are declined (``card_declined``).
    """

    extra_defaults = {**WEBHOOK_FAULT_DEFAULTS, "fee_variance_bps": 0, "decline_next": 0}


def _copy(value: Any) -> Any:
    return json.loads(json.dumps(value))


class PaymentsSimulator(SimControls, JsonHTTPServer):
    """In-memory gateway: ``/v1/payment_intents``, ``/v1/refunds``, ``/v1/charges``,
    ``/v1/balance_transactions``; ``/_sim/*`` to drive and inspect it."""

    fault_prefix = "/v1/"
    name = "payments-simulator"

    def __init__(
        self,
        host: str = "127.0.0.1",
        port: int = 0,
        secret_key: str = DEFAULT_SECRET_KEY,
        fault_plan: FaultPlan | None = None,
        webhook_retry_base_s: float = 0.5,
    ) -> None:
        super().__init__(host=host, port=port, fault_plan=fault_plan or PaymentsFaultPlan())
        self.secret_key = secret_key
        self._lock = threading.RLock()
        self._intents: dict[str, dict[str, Any]] = {}
        self._charges: dict[str, dict[str, Any]] = {}
        self._refunds: dict[str, dict[str, Any]] = {}
        self._balance: dict[str, dict[str, Any]] = {}
        self._idempotency: dict[str, tuple[str, int, Any]] = {}
        self._seq = 0
        self._pricing = dict(DEFAULT_PRICING)
        self._config = dict(DEFAULT_CONFIG)
        self.webhooks = SignedWebhookSender(
            self, header=SIGNATURE_HEADER, retry_base_s=webhook_retry_base_s
        )
        self.webhooks.install_sim_routes()

        self.route("POST", r"/v1/payment_intents", self._post(self.create_intent))
        self.route("GET", r"/v1/payment_intents/(?P<id>[^/]+)", self._get(self.get_intent))
        self.route(
            "POST", r"/v1/payment_intents/(?P<id>[^/]+)/confirm", self._post(self.confirm_intent)
        )
        self.route(
            "POST", r"/v1/payment_intents/(?P<id>[^/]+)/capture", self._post(self.capture_intent)
        )
        self.route(
            "POST", r"/v1/payment_intents/(?P<id>[^/]+)/cancel", self._post(self.cancel_intent)
        )
        self.route("POST", r"/v1/refunds", self._post(self.create_refund))
        self.route("GET", r"/v1/refunds/(?P<id>[^/]+)", self._get(self.get_refund))
        self.route("GET", r"/v1/charges/(?P<id>[^/]+)", self._get(self.get_charge))
        self.route(
            "GET", r"/v1/balance_transactions/(?P<id>[^/]+)", self._get(self.get_balance_txn)
        )
        self.route("POST", r"/_sim/checkout", self.sim_checkout)
        self.route("GET", r"/_sim/pricing", lambda r: json_response(self.pricing()))
        self.route("POST", r"/_sim/pricing", self.sim_set_pricing)
        self.route("GET", r"/_sim/config", lambda r: json_response(self.config()))
        self.route("POST", r"/_sim/config", self.sim_set_config)
        self.route("GET", r"/_sim/state", self.sim_state)
        self.route("GET", r"/_sim/intents", self.sim_intents)

    # -- lifecycle ------------------------------------------------------------------------

    def on_start(self) -> None:
        self.webhooks.start()

    def reset_data(self) -> None:
        with self._lock:
            for table in (
                self._intents,
                self._charges,
                self._refunds,
                self._balance,
                self._idempotency,
            ):
                table.clear()
            self._seq = 0
            self._pricing = dict(DEFAULT_PRICING)
            self._config = dict(DEFAULT_CONFIG)
        self.webhooks.reset()

    # -- HTTP plumbing --------------------------------------------------------------------

    def error_response(self, request: Request, status: int, message: str) -> Response:
        """Stripe's error shape for what no endpoint answered (unknown URL, faults)."""
        if status == 429:
            error = StripeError(429, "invalid_request_error", message, code="rate_limit")
        elif status >= 500:
            error = StripeError(status, "api_error", message)
        else:
            error = StripeError(
                status,
                "invalid_request_error",
                f"Unrecognized request URL ({request.method}: {request.path[:200]})."
                if status in (404, 405)
                else message,
            )
        return error.response()

    def _authorized(self, request: Request) -> StripeError | None:
        header = request.header("Authorization") or ""
        scheme, _, credential = header.partition(" ")
        if scheme.lower() == "basic":  # curl -u sk_test_…:  (the key as the user name)
            try:
                credential = base64.b64decode(credential).decode().partition(":")[0]
            except (ValueError, UnicodeDecodeError):
                credential = ""
        elif scheme.lower() != "bearer":
            credential = ""
        if credential and credential == self.secret_key:
            return None
        if not credential:
            message = (
                "You did not provide an API key. You need to provide your API key in the "
                "Authorization header, using Bearer auth (e.g. 'Authorization: Bearer YOUR_"
                "SECRET_KEY')."
            )
        else:
            message = f"Invalid API Key provided: {credential[:8]}***{credential[-4:]}"
        return StripeError(401, "invalid_request_error", message, code="api_key_invalid")

    def _get(self, handler: Any) -> Any:
        def serve(request: Request) -> Response:
            refused = self._authorized(request)
            if refused is not None:
                return refused.response()
            try:
                with self._lock:
                    return json_response(handler(request, p.expands(request, {})))
            except StripeError as exc:
                return exc.response()

        return serve

    def _post(self, handler: Any) -> Any:
        """Auth, parameters, and Stripe's idempotency: the same key with the same parameters
        replays the stored answer (``Idempotent-Replayed: true``), with others is refused."""

        def serve(request: Request) -> Response:
            refused = self._authorized(request)
            if refused is not None:
                return refused.response()
            key = request.header("Idempotency-Key")
            try:
                params = p.decode_params(request)
            except StripeError as exc:
                return exc.response()
            canonical = json.dumps(
                [request.method, request.path, params], sort_keys=True, separators=(",", ":")
            )
            fingerprint = hashlib.sha256(canonical.encode()).hexdigest()
            with self._lock:
                if key is not None and key in self._idempotency:
                    stored_print, status, body = self._idempotency[key]
                    if stored_print != fingerprint:
                        return StripeError(
                            400,
                            "idempotency_error",
                            "Keys for idempotent requests can only be used with the same "
                            "parameters they were first used with. Try using a key other than "
                            f"'{key[:64]}' if you meant to execute a different request.",
                        ).response()
                    headers = {"Idempotent-Replayed": "true", "Idempotency-Key": key}
                    return json_response(_copy(body), status, headers)
                try:
                    status, body = handler(request, params)
                    stored = True
                except StripeError as exc:
                    status, body, stored = exc.status, exc.body(), exc.stored
                if key is not None and stored:
                    self._idempotency[key] = (fingerprint, status, _copy(body))
            headers = {"Idempotency-Key": key} if key is not None else {}
            return json_response(body, status, headers)

        return serve

    # -- views ----------------------------------------------------------------------------

    def _next_id(self, prefix: str) -> str:
        self._seq += 1
        return f"{prefix}_sim{self._seq:08d}"

    def _intent_view(self, intent: dict[str, Any], expand: set[str] | None = None) -> dict:
        view = _copy(intent)
        if "latest_charge" in (expand or set()) and intent["latest_charge"]:
            view["latest_charge"] = self._charge_view(self._charges[intent["latest_charge"]])
        return view

    def _charge_view(self, charge: dict[str, Any]) -> dict[str, Any]:
        view = _copy(charge)
        refunds = [_copy(self._refunds[r]) for r in charge["refunds"]]
        view["refunds"] = {
            "object": "list",
            "data": refunds,
            "has_more": False,
            "total_count": len(refunds),
        }
        for capture in view["captures"]:
            capture["balance_transaction"] = _copy(self._balance[capture["balance_transaction"]])
        return view

    def _emit(self, event_type: str, obj: dict[str, Any]) -> None:
        self.webhooks.emit(event_type, obj)

    def _intent(self, intent_id: str, *, param: str = "intent") -> dict[str, Any]:
        intent = self._intents.get(intent_id)
        if intent is None:
            raise p.not_found("payment_intent", intent_id, param=param)
        return intent

    def _unexpected_state(self, intent: dict[str, Any], action: str, allowed: str) -> StripeError:
        return StripeError(
            400,
            "invalid_request_error",
            f"This PaymentIntent could not be {action} because it has a status of "
            f"{intent['status']}. Only a PaymentIntent with one of the following statuses may "
            f"be {action}: {allowed}.",
            code="payment_intent_unexpected_state",
            extra={"payment_intent": self._intent_view(intent)},
        )

    # -- payment intents ------------------------------------------------------------------

    def create_intent(self, request: Request, params: dict[str, Any]) -> tuple[int, Any]:
        amount = p.integer(params, "amount", required=True, minimum=1)
        currency = p.string(params, "currency", required=True) or ""
        if len(currency) != 3 or not currency.isalpha():
            raise p.invalid(f"Invalid currency: {currency[:10]}", param="currency")
        capture_method = p.string(
            params,
            "capture_method",
            choices=("automatic", "automatic_async", "manual"),
            default="automatic",
        )
        confirm = p.boolean(params, "confirm", default=False)
        method = p.string(params, "payment_method")
        metadata = p.metadata(params)
        if confirm and not method:
            raise p.missing("payment_method")
        intent = {
            "id": self._next_id("pi"),
            "object": "payment_intent",
            "amount": amount,
            "amount_capturable": 0,
            "amount_received": 0,
            "currency": currency.lower(),
            "capture_method": "manual" if capture_method == "manual" else "automatic",
            "status": "requires_confirmation" if method else "requires_payment_method",
            "payment_method": method,
            "latest_charge": None,
            "last_payment_error": None,
            "metadata": metadata,
            "created": int(time.time()),
            "canceled_at": None,
            "cancellation_reason": None,
            "livemode": False,
        }
        self._intents[intent["id"]] = intent
        logger.info("created %s for %s %s", intent["id"], amount, currency)
        expand = p.expands(request, params)
        if confirm:
            return self._confirm(intent, expand)
        return 200, self._intent_view(intent, expand)

    def get_intent(self, request: Request, expand: set[str]) -> Any:
        return self._intent_view(self._intent(request.params["id"]), expand)

    def confirm_intent(self, request: Request, params: dict[str, Any]) -> tuple[int, Any]:
        intent = self._intent(request.params["id"])
        method = p.string(params, "payment_method") or intent["payment_method"]
        if intent["status"] not in ("requires_payment_method", "requires_confirmation"):
            raise self._unexpected_state(
                intent, "confirmed", "requires_payment_method, requires_confirmation"
            )
        if not method:
            raise p.missing("payment_method")
        intent["payment_method"] = method
        return self._confirm(intent, p.expands(request, params))

    def _confirm(self, intent: dict[str, Any], expand: set[str]) -> tuple[int, Any]:
        """Authorize: decline (a declining test card or ``decline_next``) or hold the amount;
        automatic capture captures it at once."""
        declined = intent["payment_method"] in DECLINING_METHODS
        if not declined and int(self.faults.get("decline_next")) > 0:
            self.faults.update({"decline_next": int(self.faults.get("decline_next")) - 1})
            declined = True
        charge = {
            "id": self._next_id("ch"),
            "object": "charge",
            "amount": intent["amount"],
            "amount_captured": 0,
            "amount_refunded": 0,
            "currency": intent["currency"],
            "payment_intent": intent["id"],
            "payment_method": intent["payment_method"],
            "status": "failed" if declined else "succeeded",
            "paid": not declined,
            "captured": False,
            "refunded": False,
            "failure_code": "card_declined" if declined else None,
            "balance_transaction": None,
            "captures": [],
            "refunds": [],
            "metadata": dict(intent["metadata"]),
            "created": int(time.time()),
        }
        self._charges[charge["id"]] = charge
        intent["latest_charge"] = charge["id"]
        if declined:
            intent["status"] = "requires_payment_method"
            intent["last_payment_error"] = {
                "type": "card_error",
                "code": "card_declined",
                "decline_code": "generic_decline",
                "message": "Your card was declined.",
                "charge": charge["id"],
            }
            self._emit("payment_intent.payment_failed", self._intent_view(intent))
            raise StripeError(
                402,
                "card_error",
                "Your card was declined.",
                code="card_declined",
                extra={
                    "decline_code": "generic_decline",
                    "charge": charge["id"],
                    "payment_intent": self._intent_view(intent, expand),
                },
            )
        intent["last_payment_error"] = None
        intent["status"] = "requires_capture"
        intent["amount_capturable"] = intent["amount"]
        if intent["capture_method"] == "automatic":
            self._capture(intent, intent["amount"], final=True)
        else:
            self._emit("payment_intent.amount_capturable_updated", self._intent_view(intent))
        return 200, self._intent_view(intent, expand)

    def _balance_transaction(self, *, amount: int, fee: int, kind: str, source: str, currency: str):
        pricing = self._pricing
        txn = {
            "id": self._next_id("txn"),
            "object": "balance_transaction",
            "amount": amount,
            "currency": currency,
            "fee": fee,
            "fee_details": [
                {
                    "amount": fee,
                    "currency": currency,
                    "description": "Stripe processing fees",
                    "type": "stripe_fee",
                }
            ]
            if fee
            else [],
            "net": amount - fee,
            "type": kind,
            "source": source,
            "status": "pending",
            "created": int(time.time()),
            "available_on": int(time.time()) + 2 * 86_400,
            "price_list": dict(pricing) if kind == "charge" else None,
        }
        self._balance[txn["id"]] = txn
        return txn

    def _capture(self, intent: dict[str, Any], amount: int, *, final: bool) -> None:
        charge = self._charges[intent["latest_charge"]]
        bps = self._pricing["percent_bps"] + int(self.faults.get("fee_variance_bps"))
        fee = p.fee_for(amount, percent_bps=bps, fixed_minor=self._pricing["fixed_minor"])
        capture_id = self._next_id("cpt")
        txn = self._balance_transaction(
            amount=amount, fee=fee, kind="charge", source=capture_id, currency=intent["currency"]
        )
        charge["captures"].append(
            {
                "id": capture_id,
                "object": "capture",
                "amount": amount,
                "final_capture": final,
                "balance_transaction": txn["id"],
                "created": int(time.time()),
            }
        )
        charge["balance_transaction"] = charge["balance_transaction"] or txn["id"]
        charge["captured"] = True
        charge["amount_captured"] += amount
        intent["amount_received"] += amount
        intent["amount_capturable"] -= amount
        if final or intent["amount_capturable"] == 0:
            intent["amount_capturable"] = 0
            intent["status"] = "succeeded"
            self._emit("payment_intent.succeeded", self._intent_view(intent))
        else:
            self._emit("payment_intent.amount_capturable_updated", self._intent_view(intent))
        logger.info("captured %s of %s (fee %s, final %s)", amount, intent["id"], fee, final)

    def capture_intent(self, request: Request, params: dict[str, Any]) -> tuple[int, Any]:
        intent = self._intent(request.params["id"])
        amount = p.integer(params, "amount_to_capture", minimum=1)
        final = p.boolean(params, "final_capture", default=True)
        if intent["status"] != "requires_capture":
            raise self._unexpected_state(intent, "captured", "requires_capture")
        capturable = intent["amount_capturable"]
        amount = capturable if amount is None else amount
        if amount > capturable:
            raise StripeError(
                400,
                "invalid_request_error",
                f"The amount to capture ({amount}) is greater than the amount capturable "
                f"({capturable}) on this PaymentIntent.",
                code="amount_too_large",
                param="amount_to_capture",
            )
        captures = len(self._charges[intent["latest_charge"]]["captures"])
        if captures >= self._config["max_captures"]:
            raise StripeError(
                400,
                "invalid_request_error",
                f"This PaymentIntent was already captured {captures} times, the most allowed.",
                code="payment_intent_unexpected_state",
            )
        self._capture(intent, amount, final=final)
        return 200, self._intent_view(intent, p.expands(request, params))

    def cancel_intent(self, request: Request, params: dict[str, Any]) -> tuple[int, Any]:
        intent = self._intent(request.params["id"])
        reason = p.string(params, "cancellation_reason", choices=CANCELLATION_REASONS)
        if intent["status"] not in CANCELLABLE or intent["amount_received"] > 0:
            raise self._unexpected_state(
                intent,
                "canceled",
                "requires_payment_method, requires_confirmation, requires_capture (with nothing "
                "captured yet; capture with final_capture=true to release the rest)",
            )
        intent["status"] = "canceled"
        intent["amount_capturable"] = 0
        intent["canceled_at"] = int(time.time())
        intent["cancellation_reason"] = reason
        self._emit("payment_intent.canceled", self._intent_view(intent))
        logger.info("canceled %s", intent["id"])
        return 200, self._intent_view(intent, p.expands(request, params))

    # -- refunds, charges, balance transactions -------------------------------------------

    def create_refund(self, request: Request, params: dict[str, Any]) -> tuple[int, Any]:
        intent_id = p.string(params, "payment_intent")
        charge_id = p.string(params, "charge")
        if not intent_id and not charge_id:
            raise p.missing("payment_intent")
        amount = p.integer(params, "amount", minimum=1)
        reason = p.string(params, "reason", choices=REFUND_REASONS)
        metadata = p.metadata(params)
        if intent_id:
            intent = self._intent(intent_id, param="payment_intent")
            charge = self._charges.get(intent["latest_charge"] or "")
        else:
            charge = self._charges.get(charge_id or "")
            if charge is None:
                raise p.not_found("charge", charge_id or "", param="charge")
            intent = self._intents[charge["payment_intent"]]
        if charge is None or charge["amount_captured"] == 0:
            raise StripeError(
                400,
                "invalid_request_error",
                f"PaymentIntent {intent['id']} has no captured charge to refund; cancel the "
                "PaymentIntent to release an uncaptured authorization.",
                code="charge_not_refundable",
                param="payment_intent",
            )
        refundable = charge["amount_captured"] - charge["amount_refunded"]
        if refundable == 0:
            raise StripeError(
                400,
                "invalid_request_error",
                f"Charge {charge['id']} has already been refunded.",
                code="charge_already_refunded",
            )
        amount = refundable if amount is None else amount
        if amount > refundable:
            raise StripeError(
                400,
                "invalid_request_error",
                f"Refund amount ({amount}) is greater than unrefunded amount on charge "
                f"({refundable}).",
                code="amount_too_large",
                param="amount",
            )
        refund_id = self._next_id("re")
        txn = self._balance_transaction(
            amount=-amount, fee=0, kind="refund", source=refund_id, currency=charge["currency"]
        )
        refund = {
            "id": refund_id,
            "object": "refund",
            "amount": amount,
            "currency": charge["currency"],
            "charge": charge["id"],
            "payment_intent": intent["id"],
            "status": "succeeded",
            "reason": reason,
            "balance_transaction": txn["id"],
            "metadata": metadata,
            "created": int(time.time()),
        }
        self._refunds[refund_id] = refund
        charge["refunds"].append(refund_id)
        charge["amount_refunded"] += amount
        charge["refunded"] = charge["amount_refunded"] == charge["amount_captured"]
        self._emit("charge.refunded", self._charge_view(charge))
        self._emit("refund.created", _copy(refund))
        logger.info("refunded %s of %s", amount, intent["id"])
        return 200, _copy(refund)

    def get_refund(self, request: Request, expand: set[str]) -> Any:
        refund = self._refunds.get(request.params["id"])
        if refund is None:
            raise p.not_found("refund", request.params["id"])
        return _copy(refund)

    def get_charge(self, request: Request, expand: set[str]) -> Any:
        charge = self._charges.get(request.params["id"])
        if charge is None:
            raise p.not_found("charge", request.params["id"])
        return self._charge_view(charge)

    def get_balance_txn(self, request: Request, expand: set[str]) -> Any:
        txn = self._balance.get(request.params["id"])
        if txn is None:
            raise p.not_found("balance_transaction", request.params["id"])
        return _copy(txn)
