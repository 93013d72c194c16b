"""Inventory's domain signals (connectors listen; the domain never imports them)."""

from __future__ import annotations

from django.dispatch import Signal

# After commit: some SKUs' figures for these storefront channels are pending publication
# (``channel_ids``); a connector claims them with ``take_pending_publications``.
stock_publication_due = Signal()
