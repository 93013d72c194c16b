"""Ledger fixtures: the simulator over real HTTP, a ledger connection, and journal entries —
sales entries built by the domain from a whole order (pay, register, ship, invoice), and plain
balanced entries in bulk for the batching tests."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import date
from decimal import Decimal
from typing import Any

import httpx
import pytest

from controltower.catalog.choices import SystemKind
from controltower.core.writepath import service_scope
from controltower.finance.choices import PeriodStatus
from controltower.finance.models import FiscalPeriod, GLAccount, JournalEntry, JournalLine
from integrations.ledger.simulator import LedgerSimulator
from integrations.runtime.models import Connection
from tests.factories import lifecycle

LEDGER_TOKEN = "test-ledger-token"
NOVEMBER = (date(2026, 11, 1), date(2026, 11, 30))


@pytest.fixture
def ledger_simulator() -> Iterator[LedgerSimulator]:
    sim = LedgerSimulator(token=LEDGER_TOKEN, today=date(2026, 11, 22)).serve_in_thread()
    try:
        yield sim
    finally:
        sim.shutdown()


def sim_post(sim: LedgerSimulator, path: str, body: Any = None) -> httpx.Response:
    return httpx.post(f"{sim.url}{path}", json=body if body is not None else {})


def sim_get(sim: LedgerSimulator, path: str, **params: str) -> Any:
    response = httpx.get(
        f"{sim.url}{path}", params=params, headers={"Authorization": f"Bearer {LEDGER_TOKEN}"}
    )
    assert response.status_code == 200, response.text
    return response.json()


def ledger_connection(*, base_url: str, slug: str = "ledger-main", **extra: Any) -> Connection:
    extra.setdefault("timeout_s", 2)
    connection = Connection(
        slug=slug, name="General ledger", kind=SystemKind.FINANCE, base_url=base_url, **extra
    )
    connection.set_credentials({"token": LEDGER_TOKEN})
    connection.save()
    return connection


def books(*, period_status: str = PeriodStatus.OPEN) -> FiscalPeriod:
    """The posting rules on the demo chart and November 2026 (open unless told)."""
    return lifecycle.books(period=NOVEMBER, period_status=period_status)


def sales_entry(number: int = 1001) -> JournalEntry:
    """An order taken all the way to its sales entry by the domain services: captured with a
    0.50 fee, registered, released, shipped and invoiced; the entry is queued for the ledger."""
    books()
    order = lifecycle.take_to(lifecycle.web_order(number), "invoiced", fee=lifecycle.FEE)
    return JournalEntry.objects.get(order=order)


def plain_entries(count: int, *, amount: Decimal = Decimal("10.00")) -> list[JournalEntry]:
    """``count`` queued, balanced entries without an order (Dr 1100 / Cr 4000), as a fixture."""
    period = books()
    clearing = GLAccount.objects.get(code="1100")
    sales = GLAccount.objects.get(code="4000")
    entries = []
    with service_scope():
        for index in range(count):
            entry = JournalEntry.objects.create(
                period=period,
                entry_date=date(2026, 11, 22),
                external_id=f"test:{index}",
                description=f"test entry {index}",
                currency="EUR",
                total_amount=amount,
            )
            JournalLine.objects.create(
                entry=entry, account=clearing, currency="EUR", debit_amount=amount
            )
            JournalLine.objects.create(
                entry=entry, account=sales, currency="EUR", credit_amount=amount
            )
            entries.append(entry)
    return entries
