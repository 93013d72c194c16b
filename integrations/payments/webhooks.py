"""Where the payment gateway sends to us: Stripe-style signed event envelopes.

The gateway signs ``"<t>.<raw body>"`` with HMAC-SHA256 under the endpoint's signing secret and
sends ``Stripe-Signature: t=<unix>,v1=<hex>`` (one ``v1`` per secret while one rotates). The
shared receiver (``integrations/runtime/signing.py``) checks it against the connection's
``webhook_secrets`` / ``webhook_secret`` with a 5-minute tolerance, so a captured delivery
replayed later is refused even with a valid signature; a body that verifies but is not an event
envelope, or an event type we do not know, is kept as a rejected event for ops and answered 400.

An event only says *that* a PaymentIntent changed: the adapter reads the intent back from the
gateway before applying anything (``adapter.py``), so a forged or stale body can at worst make
us look again.
"""

from __future__ import annotations

from controltower.catalog.choices import SystemKind
from integrations.payments.translate import EVENT_TYPES
from integrations.runtime.registry import webhook as register
from integrations.runtime.signing import event_receiver

SIGNATURE_HEADER = "Stripe-Signature"

webhook = register(SystemKind.PAYMENTS)(
    event_receiver(header=SIGNATURE_HEADER, known_types=EVENT_TYPES)
)
