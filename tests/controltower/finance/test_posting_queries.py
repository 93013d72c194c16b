"""What the order-to-cash path costs the database at the step that posts: the invoice that
meets the gate builds and queues the sales entry in a bounded number of statements (mappings,
period, gate and channel read once per drain batch, not once per entry line), and the entry
is the same as ever. ``bench/lifecycle_queries.py`` measures the whole path."""

from __future__ import annotations

from decimal import Decimal

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from controltower.core import memo
from controltower.finance.choices import JournalState
from controltower.finance.models import JournalEntry
from controltower.orders.choices import OrderStage, PostingStatus
from tests.factories import lifecycle

pytestmark = pytest.mark.django_db

# The invoice step as ``tests.factories.lifecycle.invoice`` takes it (its own three reads
# included): record the invoice, move the order, meet the gate, build and queue the entry.
INVOICE_STEP_MAX = 34  # 33 now; 42 when each entry line read its own mapping


def test_invoice_that_meets_the_gate_queues_the_entry_within_its_statement_budget() -> None:
    # given: an order paid, registered, released and shipped; the books set up
    lifecycle.books()
    lifecycle.payment_method()
    order = lifecycle.take_to(lifecycle.web_order(), OrderStage.SHIPPED)
    # when: the ERP's invoice, handled as a drain handles its events
    with memo.batch(), CaptureQueriesContext(connection) as queries:
        order = lifecycle.invoice(order, f"INV-{order.number}")
    # then
    assert len(queries) <= INVOICE_STEP_MAX, "\n".join(q["sql"][:120] for q in queries)
    assert order.posting_status == PostingStatus.QUEUED
    entry = JournalEntry.objects.get(order=order)
    assert entry.state == JournalState.DRAFT
    lines = list(entry.lines.select_related("account"))
    debit = sum((line.debit_amount for line in lines), Decimal(0))
    credit = sum((line.credit_amount for line in lines), Decimal(0))
    assert debit == credit == order.total_amount
    assert {line.account.code for line in lines} >= {"1100", "4000", "4200", "2100"}
