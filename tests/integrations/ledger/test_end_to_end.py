"""Order to posted on real processes: the domain queues the sales entry, the commit wakes
``ledger.post_batches`` on a real Celery worker, the outbox drain posts the batch to the ledger
simulator over HTTP, and the ledger's answer marks the entry and the order posted."""

from __future__ import annotations

import pytest

from controltower.finance.choices import JournalState
from controltower.finance.models import JournalEntry
from controltower.orders.choices import OrderStage
from integrations.ledger.simulator import LedgerSimulator
from tests.conftest import wait_for
from tests.integrations.ledger.conftest import ledger_connection, sales_entry, sim_get

pytestmark = [pytest.mark.slow, pytest.mark.django_db(transaction=True)]


def test_invoiced_orders_are_posted_in_one_batch_by_the_worker(
    celery_worker, ledger_simulator: LedgerSimulator
) -> None:
    # given
    ledger_connection(base_url=ledger_simulator.url)
    # when two orders reach their posting gate
    entries = [sales_entry(1001), sales_entry(1002)]

    def posted() -> bool:
        """both sales entries posted"""
        return JournalEntry.objects.filter(state=JournalState.POSTED).count() == 2

    wait_for(posted, timeout=45)
    # then each is booked once, with the ledger's id on the entry and the order posted
    booked = sim_get(ledger_simulator, "/api/v1/entries")["results"]
    assert sorted(e["external_ref"] for e in booked) == sorted(
        f"sale:{e.correlation_id}" for e in entries
    )
    for entry in JournalEntry.objects.select_related("order"):
        assert entry.ledger_id in {e["id"] for e in booked}
        assert entry.order.stage == OrderStage.POSTED
