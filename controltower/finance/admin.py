"""Finance: the chart of accounts, GL mappings and fiscal periods are configuration (addable);
invoices, credit memos and journal entries are written only by the posting services."""

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

register_canonical(GLAccount, GLMapping, FiscalPeriod, service_only=False)
register_canonical(Invoice, CreditMemo, JournalEntry, JournalLine)
