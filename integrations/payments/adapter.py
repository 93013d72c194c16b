"""Payment gateway connector (Stripe-shaped): the gateway's payments applied to orders, and the
captures, voids and refunds the order's lifecycle asks of it.

Inbound: a webhook only tells us a PaymentIntent changed. We read the intent back —
``GET {base_url}/v1/payment_intents/<id>?expand[]=latest_charge`` with ``Authorization: Bearer
<secret_key>`` — and make our payment match it (``sync_gateway_payment``, idempotent): events
that come twice, out of order or late change nothing the latest read did not already say. An
intent for an order the storefront has not delivered yet waits in the inbox (``NotYet``), and
so does one the gateway cannot be asked about right now (unreachable, 5xx, 429).

Outbound (the payments domain's signals, sent inside its transaction): ``payments.intent.capture``
(``amount_to_capture``, ``final_capture``), ``payments.intent.cancel`` and
``payments.refund.create``, each an outbox row whose key — built from the domain's own key — is
also the ``Idempotency-Key``, so a retry after a lost answer captures or refunds nothing twice.
The gateway refusing one (already captured, voided, refunded; more than is left) is permanent:
the message is dead-lettered with the gateway's reason and an exception opens. A cancel refused
because the intent is already canceled is what was wanted, and counts as delivered.
"""

from __future__ import annotations

import logging
from decimal import Decimal
from typing import Any

import httpx
from django.dispatch import receiver

from controltower.catalog.choices import SystemKind
from controltower.core import memo
from controltower.core.errors import NotYet
from controltower.payments.models import Payment
from controltower.payments.services import PaymentError, find_order, sync_gateway_payment
from controltower.payments.signals import (
    payment_capture_due,
    payment_refund_due,
    payment_void_due,
)
from integrations.payments.translate import (
    TranslationError,
    capture_params,
    gateway_error,
    intent_id_of,
    refund_params,
    translate_intent,
)
from integrations.runtime.http import (
    client_for,
    correlation_headers,
    result_from_error,
    result_from_response,
)
from integrations.runtime.models import Connection, InboundEvent, OutboundMessage
from integrations.runtime.outbox import enqueue_outbound
from integrations.runtime.registry import (
    DeliveryResult,
    Ignored,
    deliverer,
    inbound,
    on_delivered,
)
from integrations.runtime.signing import parse_event

logger = logging.getLogger(__name__)

INTENTS_PATH = "/v1/payment_intents"
REFUNDS_PATH = "/v1/refunds"
INTENT_CAPTURE = "payments.intent.capture"  # outbound message kinds
INTENT_CANCEL = "payments.intent.cancel"
REFUND_CREATE = "payments.refund.create"


def _auth_headers(connection: Connection) -> dict[str, str]:
    return {"Authorization": f"Bearer {connection.credentials.get('secret_key', '')}"}


# --- inbound ----------------------------------------------------------------------------------
def fetch_intent(connection: Connection, intent_id: str) -> dict[str, Any]:
    """The intent as the gateway holds it now; NotYet while it cannot say, PoisonMessage when it
    never will (unknown intent, our key refused)."""
    try:
        with client_for(connection) as client:
            response = client.get(
                f"{INTENTS_PATH}/{intent_id}",
                params={"expand[]": "latest_charge"},
                headers={**_auth_headers(connection), **correlation_headers()},
            )
    except httpx.HTTPError as exc:
        raise NotYet(f"the gateway could not be asked about {intent_id}: {exc}") from exc
    result = result_from_response(response)
    if result.ok and isinstance(result.body, dict):
        return result.body
    reason = gateway_error(result.body) or f"HTTP {response.status_code}"
    if result.retryable:
        raise NotYet(f"the gateway could not say what {intent_id} is now ({reason})")
    if response.status_code in (401, 403):
        raise TranslationError(
            f"the gateway refused connection {connection.slug}'s secret_key ({reason}); "
            "fix the credentials, then retry the event"
        )
    raise TranslationError(f"the gateway has no payment intent {intent_id} ({reason})")


@inbound(SystemKind.PAYMENTS)
def handle_inbound(event: InboundEvent) -> Any:
    """Read back the intent the event is about and apply it; returns the order's correlation id."""
    try:
        envelope = parse_event(event.body.encode())
    except ValueError as exc:
        raise TranslationError(f"not a gateway event: {exc}") from exc
    intent_id = intent_id_of(event.topic, envelope["data"]["object"])
    connection = event.connection
    data = translate_intent(fetch_intent(connection, intent_id), source_system=connection.slug)
    try:
        payment = sync_gateway_payment(data)
    except PaymentError as exc:
        raise TranslationError(str(exc)) from exc
    if payment is not None:
        return payment.correlation_id
    # Refused (another currency): recorded on the order's timeline with an exception for ops.
    order = find_order(data.order_reference)
    if order is None:
        return Ignored(f"payment {intent_id} was refused")
    return order.correlation_id


# --- outbound: queued from the payments domain's signals ----------------------------------------
def _connection_of(payment: Payment) -> Connection | None:
    slug = payment.source_system
    connection = memo.remember(  # once per drain batch (controltower.core.memo)
        ("connection", SystemKind.PAYMENTS, slug),
        lambda: Connection.objects.filter(kind=SystemKind.PAYMENTS, slug=slug).first(),
    )
    if connection is None:
        logger.warning(
            "payment %s came from %r, which is no gateway connection: nothing asked",
            payment.external_id,
            payment.source_system,
        )
    return connection


def _queue(payment: Payment, *, kind: str, key: str, payload: dict[str, Any]) -> bool:
    connection = _connection_of(payment)
    if connection is None:
        return False
    return enqueue_outbound(
        connection,
        kind=kind,
        idempotency_key=f"payments:{connection.slug}:{key}",
        payload={"payment_intent": payment.external_id, "currency": payment.currency, **payload},
        correlation_id=payment.correlation_id,
        subject_type="payments.payment",
        subject_id=str(payment.pk),
    )


@receiver(payment_capture_due, dispatch_uid="payments.queue_capture")
def queue_capture(
    sender: Any, *, payment: Payment, amount: Decimal, final: bool, key: str, reason: str, **_: Any
) -> None:
    _queue(
        payment,
        kind=INTENT_CAPTURE,
        key=f"capture:{payment.external_id}:{key}",
        payload={"total": f"{amount:.2f}", "final_capture": final, "reason": reason[:200]},
    )


@receiver(payment_void_due, dispatch_uid="payments.queue_void")
def queue_void(sender: Any, *, payment: Payment, reason: str, **_: Any) -> None:
    _queue(
        payment,
        kind=INTENT_CANCEL,
        key=f"cancel:{payment.external_id}",
        payload={"total": f"{payment.authorized_amount:.2f}", "reason": reason[:200]},
    )


@receiver(payment_refund_due, dispatch_uid="payments.queue_refund")
def queue_refund(
    sender: Any, *, payment: Payment, amount: Decimal, key: str, reason: str, **_: Any
) -> None:
    _queue(
        payment,
        kind=REFUND_CREATE,
        key=f"refund:{payment.external_id}:{key}",
        payload={"total": f"{amount:.2f}", "reason": reason[:200]},
    )


# --- outbound: delivery -------------------------------------------------------------------------
def _post(message: OutboundMessage, path: str, form: dict[str, str]) -> DeliveryResult:
    """One form-encoded POST under the message's Idempotency-Key; a refusal carries the
    gateway's code and message into the attempt (and the dead letter)."""
    connection = message.connection
    headers = {
        **_auth_headers(connection),
        "Idempotency-Key": message.idempotency_key,
        **correlation_headers(),
    }
    try:
        with client_for(connection) as client:
            response = client.post(path, data=form, headers=headers)
    except httpx.HTTPError as exc:
        return result_from_error(exc)
    result = result_from_response(response)
    if result.ok:
        return result
    body = result.body if isinstance(result.body, dict) else {}
    code = (body.get("error") or {}).get("code") if isinstance(body.get("error"), dict) else None
    retryable = result.retryable or code in ("idempotency_key_in_use", "lock_timeout")
    reason = gateway_error(result.body)
    return DeliveryResult(
        ok=False,
        status_code=result.status_code,
        body=result.body,
        error=f"HTTP {result.status_code} {reason}".strip(),
        retryable=retryable,
        retry_after_s=result.retry_after_s,
    )


def _amount(message: OutboundMessage) -> Decimal:
    return Decimal(str(message.payload["total"]))


@deliverer(INTENT_CAPTURE, label="Gateway: capture payment")
def deliver_capture(message: OutboundMessage) -> DeliveryResult:
    payload = message.payload
    form = capture_params(
        amount=_amount(message), currency=payload["currency"], final=bool(payload["final_capture"])
    )
    return _post(message, f"{INTENTS_PATH}/{payload['payment_intent']}/capture", form)


@deliverer(INTENT_CANCEL, label="Gateway: void authorization")
def deliver_cancel(message: OutboundMessage) -> DeliveryResult:
    intent_id = message.payload["payment_intent"]
    result = _post(message, f"{INTENTS_PATH}/{intent_id}/cancel", {"expand[]": "latest_charge"})
    error = result.body.get("error") if isinstance(result.body, dict) else None
    if (
        not result.ok
        and isinstance(error, dict)
        and isinstance(error.get("payment_intent"), dict)
        and error["payment_intent"].get("status") == "canceled"
    ):
        # Voided already (by an earlier attempt under another key, or in the dashboard).
        return DeliveryResult(ok=True, status_code=result.status_code, body=error)
    return result


@deliverer(REFUND_CREATE, label="Gateway: refund payment")
def deliver_refund(message: OutboundMessage) -> DeliveryResult:
    payload = message.payload
    form = refund_params(
        intent_id=payload["payment_intent"],
        amount=_amount(message),
        currency=payload["currency"],
        reason=str(payload.get("reason") or ""),
    )
    return _post(message, REFUNDS_PATH, form)


def _resync(message: OutboundMessage, result: DeliveryResult) -> None:
    """The gateway answered with the intent (its charge expanded): apply it now rather than wait
    for the webhook that follows (which then changes nothing)."""
    body = result.body if isinstance(result.body, dict) else {}
    intent = body.get("payment_intent") if body.get("object") != "payment_intent" else body
    if not isinstance(intent, dict) or not isinstance(intent.get("latest_charge"), dict):
        return
    try:
        sync_gateway_payment(translate_intent(intent, source_system=message.connection.slug))
    except (TranslationError, PaymentError, NotYet) as exc:
        logger.warning("message %s: the gateway's answer was not applied: %s", message.pk, exc)


on_delivered(INTENT_CAPTURE)(_resync)
on_delivered(INTENT_CANCEL)(_resync)
