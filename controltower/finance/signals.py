"""What the finance domain announces (the ledger connector listens)."""

from __future__ import annotations

from django.dispatch import Signal

# A journal entry is queued for the ledger. kwargs: ``entry``.
journal_entry_queued = Signal()
