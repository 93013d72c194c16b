"""Where the stores' POS sends to us: ``POST /hooks/pos/<connection slug>/``.

Live events and an offline store's upload of its day come to the same endpoint as signed event
envelopes (``POS-Signature: t=<unix>,v1=<hex>``, HMAC-SHA256 of ``"<t>.<raw body>"`` under the
connection's ``webhook_secret`` / ``webhook_secrets``), the scheme every generic-contract kind
shares, so the receiver is the runtime's ``signing.event_receiver``: a missing header or a wrong
or stale signature is a 401 and stores nothing; a signed body that is not an envelope, or names an
event type the contract does not have, a 400 kept as a rejected event for ops. An upload is one
event (``day.uploaded``): the same upload sent twice is answered ``duplicate``; one that overlaps
what came live is applied transaction by transaction, each keyed by (store, register, id).
"""

from __future__ import annotations

from controltower.catalog.choices import SystemKind
from integrations.pos.translate import EVENT_TYPES
from integrations.runtime.registry import webhook
from integrations.runtime.signing import event_receiver

SIGNATURE_HEADER = "POS-Signature"

receive = webhook(SystemKind.POS)(
    event_receiver(header=SIGNATURE_HEADER, known_types=frozenset(EVENT_TYPES))
)
