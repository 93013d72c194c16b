"""The gateway's JSON (Stripe-shaped) ⇄ the payments domain's data classes; pure, no I/O.

A PaymentIntent read back from the gateway (``expand[]=latest_charge``) becomes one
:class:`GatewayPaymentData`: amounts from integer minor units to Decimal major units by the
currency's exponent (Stripe's zero- and three-decimal currencies), the currency upper-cased, the
intent's status mapped to a :class:`PaymentState`, and one transaction per authorization, per
capture (with its balance transaction's fee), per refund and for a void. Whatever cannot be
trusted — a missing or mistyped field, an unknown status, a negative amount or one above
Stripe's eight digits, captures or refunds that do not add up — raises :class:`TranslationError`
naming the field, so nothing is half-applied and ops read why.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

from controltower.payments.choices import PaymentState, PaymentTransactionType
from controltower.payments.services import GatewayPaymentData, GatewayTransactionData
from integrations.runtime.registry import PoisonMessage

MAX_MINOR = 99_999_999  # Stripe's ceiling for an amount: eight digits of minor units
MAX_ID = 64
# Stripe's currencies without minor units, and those with three decimals.
ZERO_DECIMAL = frozenset(
    "bif clp djf gnf jpy kmf krw mga pyg rwf ugx vnd vuv xaf xof xpf".upper().split()
)
THREE_DECIMAL = frozenset("bhd jod kwd omr tnd".upper().split())
INTENT_EVENTS = frozenset(
    {
        "payment_intent.amount_capturable_updated",
        "payment_intent.succeeded",
        "payment_intent.canceled",
        "payment_intent.payment_failed",
    }
)
CHARGE_EVENTS = frozenset({"charge.refunded", "refund.created"})
EVENT_TYPES = INTENT_EVENTS | CHARGE_EVENTS
PENDING_STATUSES = frozenset({"requires_confirmation", "requires_action", "processing"})
KNOWN_STATUSES = PENDING_STATUSES | {
    "requires_payment_method",
    "requires_capture",
    "succeeded",
    "canceled",
}


class TranslationError(PoisonMessage):
    """The gateway's payload cannot be applied as it is; the message says which field and why."""


def exponent(currency: str) -> int:
    if currency in ZERO_DECIMAL:
        return 0
    return 3 if currency in THREE_DECIMAL else 2


def to_major(minor: int, currency: str) -> Decimal:
    return Decimal(minor).scaleb(-exponent(currency))


def to_minor(amount: Decimal, currency: str) -> int:
    """Major units → the integer the gateway takes; refuses what has more decimals than the
    currency (a fraction of a cent cannot be captured)."""
    scaled = amount.scaleb(exponent(currency))
    if scaled != scaled.to_integral_value():
        raise TranslationError(f"{amount} {currency} has more decimals than the currency allows")
    return int(scaled)


def _field(obj: dict[str, Any], name: str, where: str) -> Any:
    if name not in obj:
        raise TranslationError(f"{where}.{name}: missing")
    return obj[name]


def _identifier(obj: dict[str, Any], name: str, where: str) -> str:
    value = _field(obj, name, where)
    if not isinstance(value, str) or not value.strip() or len(value) > MAX_ID:
        raise TranslationError(f"{where}.{name}: must be an id of at most {MAX_ID} characters")
    return value


def _minor(obj: dict[str, Any], name: str, where: str, *, default: int | None = None) -> int:
    if name not in obj and default is not None:
        return default
    value = _field(obj, name, where)
    if isinstance(value, bool) or not isinstance(value, int):
        raise TranslationError(f"{where}.{name}: must be an integer amount in minor units")
    if value < 0:
        raise TranslationError(f"{where}.{name}: negative amount {value}")
    if value > MAX_MINOR:
        raise TranslationError(f"{where}.{name}: {value} is above the gateway's maximum")
    return value


def _moment(obj: dict[str, Any], name: str, where: str) -> datetime:
    value = _field(obj, name, where)
    if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value < 2**33:
        raise TranslationError(f"{where}.{name}: must be unix seconds")
    return datetime.fromtimestamp(value, UTC)


def _object(value: Any, where: str) -> dict[str, Any]:
    if not isinstance(value, dict):
        raise TranslationError(f"{where}: must be an object")
    return value


def intent_id_of(topic: str, obj: Any) -> str:
    """The PaymentIntent an event is about: the object itself, or the charge's / refund's
    ``payment_intent``."""
    data = _object(obj, "data.object")
    if topic in INTENT_EVENTS:
        return _identifier(data, "id", "data.object")
    if topic in CHARGE_EVENTS:
        return _identifier(data, "payment_intent", "data.object")
    raise TranslationError(f"unknown event type {topic[:64]!r}")


def _currency(intent: dict[str, Any]) -> str:
    value = _field(intent, "currency", "payment_intent")
    if not isinstance(value, str) or len(value) != 3 or not value.isalpha():
        raise TranslationError("payment_intent.currency: must be a three-letter ISO code")
    return value.upper()


@dataclass(frozen=True)
class _Charge:
    authorized: bool
    captured: int
    refunded: int
    transactions: list[GatewayTransactionData]
    last_moment: datetime


def _captures(charge: dict[str, Any], currency: str) -> list[GatewayTransactionData]:
    """One capture transaction each, with its balance transaction's fee (the simulator's
    ``captures`` list; for a plain Stripe charge, the charge's own balance transaction)."""
    captures = charge.get("captures")
    if captures is None:
        if not charge.get("captured"):
            return []
        captures = [
            {
                "id": _identifier(charge, "id", "charge"),
                "amount": _minor(charge, "amount_captured", "charge"),
                "created": charge.get("created"),
                "balance_transaction": charge.get("balance_transaction"),
            }
        ]
    if not isinstance(captures, list):
        raise TranslationError("charge.captures: must be a list")
    found = []
    for index, item in enumerate(captures):
        where = f"charge.captures[{index}]"
        capture = _object(item, where)
        amount = _minor(capture, "amount", where)
        txn = capture.get("balance_transaction")
        fee = 0
        if isinstance(txn, dict):
            fee = _minor(txn, "fee", f"{where}.balance_transaction")
            if fee > amount:
                raise TranslationError(f"{where}: fee {fee} is larger than the capture {amount}")
        elif txn is not None and not isinstance(txn, str):
            raise TranslationError(f"{where}.balance_transaction: must be an object or an id")
        found.append(
            GatewayTransactionData(
                external_id=_identifier(capture, "id", where),
                type=PaymentTransactionType.CAPTURE,
                amount=to_major(amount, currency),
                occurred_at=_moment(capture, "created", where),
                fee=to_major(fee, currency),
            )
        )
    return found


def _refunds(charge: dict[str, Any], currency: str) -> list[GatewayTransactionData]:
    listing = charge.get("refunds") or {"data": []}
    data = listing.get("data") if isinstance(listing, dict) else listing
    if not isinstance(data, list):
        raise TranslationError("charge.refunds.data: must be a list")
    found = []
    for index, item in enumerate(data):
        where = f"charge.refunds.data[{index}]"
        refund = _object(item, where)
        status = refund.get("status", "succeeded")
        if status not in ("succeeded", "pending", "failed", "canceled", "requires_action"):
            raise TranslationError(f"{where}.status: unknown refund status {str(status)[:32]!r}")
        found.append(
            GatewayTransactionData(
                external_id=_identifier(refund, "id", where),
                type=PaymentTransactionType.REFUND,
                amount=to_major(_minor(refund, "amount", where), currency),
                occurred_at=_moment(refund, "created", where),
                succeeded=status in ("succeeded", "pending"),
            )
        )
    return found


def _charge(intent: dict[str, Any], currency: str, created: datetime) -> _Charge:
    value = intent.get("latest_charge")
    if value is None:
        return _Charge(False, 0, 0, [], created)
    if isinstance(value, str):
        raise TranslationError(
            "payment_intent.latest_charge: not expanded (read with expand[]=latest_charge)"
        )
    charge = _object(value, "payment_intent.latest_charge")
    charge_id = _identifier(charge, "id", "charge")
    status = charge.get("status")
    if status not in ("succeeded", "pending", "failed"):
        raise TranslationError(f"charge.status: unknown status {str(status)[:32]!r}")
    amount = _minor(intent, "amount", "payment_intent")
    authorization = GatewayTransactionData(
        external_id=f"{charge_id}:auth",
        type=PaymentTransactionType.AUTHORIZE,
        amount=to_major(amount, currency),
        occurred_at=_moment(charge, "created", "charge"),
        succeeded=status != "failed",
    )
    captures = _captures(charge, currency)
    refunds = _refunds(charge, currency)
    captured = _minor(charge, "amount_captured", "charge", default=0)
    refunded = _minor(charge, "amount_refunded", "charge", default=0)
    if sum(to_minor(t.amount, currency) for t in captures) != captured:
        raise TranslationError(
            f"charge {charge_id}: its captures do not add up to amount_captured {captured}"
        )
    if refunded > captured:
        raise TranslationError(
            f"charge {charge_id}: refunded {refunded} is more than captured {captured}"
        )
    moments = [authorization.occurred_at, *(t.occurred_at for t in captures + refunds)]
    return _Charge(
        status != "failed", captured, refunded, [authorization, *captures, *refunds], max(moments)
    )


def _state(status: str, *, failed: bool, captured: int, refunded: int) -> str:
    if status == "requires_payment_method":
        return PaymentState.FAILED if failed else PaymentState.PENDING
    if status in PENDING_STATUSES:
        return PaymentState.PENDING
    if status == "requires_capture":
        return PaymentState.AUTHORIZED
    if status == "canceled" and captured == 0:
        return PaymentState.VOIDED
    if refunded and refunded >= captured:
        return PaymentState.REFUNDED
    if refunded:
        return PaymentState.PARTIALLY_REFUNDED
    return PaymentState.CAPTURED


def translate_intent(intent: Any, *, source_system: str) -> GatewayPaymentData:
    """A PaymentIntent (``latest_charge`` expanded) as the payments domain takes it."""
    intent = _object(intent, "payment_intent")
    if intent.get("object") != "payment_intent":
        raise TranslationError("payment_intent.object: expected 'payment_intent'")
    intent_id = _identifier(intent, "id", "payment_intent")
    status = _field(intent, "status", "payment_intent")
    if status not in KNOWN_STATUSES:
        raise TranslationError(f"payment_intent.status: unknown status {str(status)[:32]!r}")
    currency = _currency(intent)
    amount = _minor(intent, "amount", "payment_intent")
    received = _minor(intent, "amount_received", "payment_intent", default=0)
    metadata = _object(intent.get("metadata") or {}, "payment_intent.metadata")
    reference = metadata.get("order_ref")
    if not isinstance(reference, str) or not reference.strip() or len(reference) > MAX_ID:
        raise TranslationError(
            f"payment_intent {intent_id}: metadata.order_ref is missing; the storefront must "
            "name the order (<channel code>-<number>) when it creates the intent"
        )
    created = _moment(intent, "created", "payment_intent")
    charge = _charge(intent, currency, created)
    if received != charge.captured or received > amount:
        raise TranslationError(
            f"payment_intent {intent_id}: amount_received {received} does not match the "
            f"charge's captures {charge.captured} (of {amount})"
        )
    transactions = list(charge.transactions)
    last = charge.last_moment
    if status == "canceled":
        canceled_at = _moment(intent, "canceled_at", "payment_intent")
        last = max(last, canceled_at)
        if charge.authorized:
            transactions.append(
                GatewayTransactionData(
                    external_id=f"{intent_id}:void",
                    type=PaymentTransactionType.VOID,
                    amount=to_major(amount - received, currency),
                    occurred_at=canceled_at,
                )
            )
    tried = intent.get("latest_charge") is not None
    failed = intent.get("last_payment_error") is not None or (tried and not charge.authorized)
    state = _state(status, failed=failed, captured=charge.captured, refunded=charge.refunded)
    return GatewayPaymentData(
        source_system=source_system,
        external_id=intent_id,
        order_reference=reference,
        state=state,
        currency=currency,
        amount=to_major(amount, currency),
        authorized=to_major(amount if charge.authorized else 0, currency),
        captured=to_major(charge.captured, currency),
        refunded=to_major(charge.refunded, currency),
        capture_method=str(intent.get("capture_method") or "")[:16],
        gateway="stripe",
        transactions=transactions,
        source_updated_at=last,
    )


def capture_params(*, amount: Decimal, currency: str, final: bool) -> dict[str, str]:
    """The form body of ``POST /v1/payment_intents/<id>/capture``."""
    return {
        "amount_to_capture": str(to_minor(amount, currency)),
        "final_capture": "true" if final else "false",
        "expand[]": "latest_charge",
    }


def refund_params(*, intent_id: str, amount: Decimal, currency: str, reason: str) -> dict[str, str]:
    """The form body of ``POST /v1/refunds``; our reason travels as metadata (Stripe's
    ``reason`` takes only its own three values)."""
    return {
        "payment_intent": intent_id,
        "amount": str(to_minor(amount, currency)),
        "metadata[reason]": reason[:500],
    }


def gateway_error(body: Any) -> str:
    """``code: message`` of a Stripe error body, or "" when it is not one."""
    error = body.get("error") if isinstance(body, dict) else None
    if not isinstance(error, dict):
        return ""
    code = error.get("code") or error.get("type") or "error"
    return f"{code}: {str(error.get('message') or '')[:300]}"
