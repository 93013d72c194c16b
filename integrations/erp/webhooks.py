"""Where the ERP sends to us: invoices, credit memos and its own cancels, as signed event
envelopes (``ERP-Signature: t=<unix>,v1=<hex>``; docs/contracts/erp.md "Webhooks").
``integrations.runtime.signing`` verifies them (5-minute tolerance, several ``v1`` while a
secret rotates) and names the event for the inbox's dedupe key (the event id)."""

from __future__ import annotations

from controltower.catalog.choices import SystemKind
from integrations.erp.translate import EVENT_TYPES
from integrations.runtime.registry import webhook
from integrations.runtime.signing import event_receiver

receive = webhook(SystemKind.ERP)(event_receiver(header="ERP-Signature", known_types=EVENT_TYPES))
