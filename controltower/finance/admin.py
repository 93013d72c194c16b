from __future__ import annotations

from controltower.core.admin_helpers import register_canonical
from controltower.finance.models import (
    CreditMemo,
    FiscalPeriod,
    GLAccount,
    GLMapping,
    Invoice,
    JournalEntry,
    JournalLine,
)

register_canonical(
    GLAccount, GLMapping, FiscalPeriod, Invoice, CreditMemo, JournalEntry, JournalLine
)
