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
    InvoiceLine,
    JournalEntry,
    JournalLine,
    PostingGate,
)

register_canonical(GLAccount, GLMapping, FiscalPeriod, PostingGate, service_only=False)
register_canonical(Invoice, InvoiceLine, CreditMemo, JournalEntry, JournalLine)
