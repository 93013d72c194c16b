"""Where the warehouse sends to us: ``POST /hooks/wms/<connection slug>/``.

The WMS signs each event envelope Stripe-style (``WMS-Signature: t=<unix>,v1=<hex>``,
HMAC-SHA256 of ``"<t>.<raw body>"``; one ``v1`` per secret while a secret rotates), the scheme
every generic-contract kind shares, so the receiver is the runtime's ``signing.event_receiver``:
a missing header is a 401; a signature matching none of the connection's ``webhook_secret`` /
``webhook_secrets`` (after the runtime re-read them once, for a rotation), or older than five
minutes, a 401; a signed body that is not an envelope, or names an event type the contract does
not have, a 400 kept as a rejected event for ops. What is accepted is deduplicated on the event
id (the warehouse redelivers) and applied later by the adapter's inbound handler.
"""

from __future__ import annotations

from controltower.catalog.choices import SystemKind
from integrations.runtime.registry import webhook
from integrations.runtime.signing import event_receiver
from integrations.wms.translate import EVENT_TYPES

SIGNATURE_HEADER = "WMS-Signature"

receive = webhook(SystemKind.WMS)(
    event_receiver(header=SIGNATURE_HEADER, known_types=frozenset(EVENT_TYPES))
)
