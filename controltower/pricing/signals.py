"""Pricing's domain signals (connectors listen; the domain never imports them)."""

from __future__ import annotations

from django.dispatch import Signal

# Inside the transaction that recorded the ops action: send ``push`` (a ``PricePush``) to the
# storefront of its channel. A receiver that takes it writes its outbox message there and
# returns the message's id; when none does, the action is refused and rolled back.
price_push_requested = Signal()
