"""The scheduled ledger jobs: queued entries batched into the outbox (≤100 a batch, one
transaction each), and the ledger's periods read back into FiscalPeriod rows."""

from __future__ import annotations

from datetime import date

import pytest

from controltower.finance.choices import JournalState, PeriodStatus
from controltower.finance.models import FiscalPeriod, JournalEntry
from integrations.ledger.adapter import JOURNAL_BATCH_POST
from integrations.ledger.simulator import LedgerSimulator
from integrations.ledger.tasks import post_batches, read_periods, read_periods_of
from integrations.runtime.models import OutboundMessage, SyncRun
from tests.integrations.ledger.conftest import books, ledger_connection, plain_entries, sim_post

pytestmark = pytest.mark.django_db


def test_post_batches_puts_101_entries_in_two_batches(ledger_simulator: LedgerSimulator) -> None:
    # given
    ledger_connection(base_url=ledger_simulator.url)
    plain_entries(101)
    # when
    refs = post_batches()
    # then
    assert len(refs) == 2
    messages = OutboundMessage.objects.filter(kind=JOURNAL_BATCH_POST).order_by("pk")
    assert [len(m.payload["entries"]) for m in messages] == [100, 1]
    assert [m.idempotency_key for m in messages] == refs
    assert [m.payload["batch_ref"] for m in messages] == refs
    assert messages[0].payload["total"] == "1000.00"
    sent = JournalEntry.objects.filter(state=JournalState.SENT)
    assert sent.count() == 101
    assert set(sent.values_list("batch_reference", flat=True)) == set(refs)
    entry = sent.get(batch_reference=refs[1])
    history = entry.history.first()
    assert history.history_user.username == "sync.finance"
    assert history.history_change_reason == f"sent in batch {refs[1]}"
    # and nothing is left to batch
    assert post_batches() == []
    assert OutboundMessage.objects.count() == 2


def test_post_batches_waits_while_no_ledger_is_enabled(ledger_simulator: LedgerSimulator) -> None:
    # given
    ledger_connection(base_url=ledger_simulator.url, enabled=False)
    plain_entries(2)
    # when
    refs = post_batches()
    # then
    assert refs == []
    assert JournalEntry.objects.filter(state=JournalState.DRAFT).count() == 2
    assert not OutboundMessage.objects.exists()


def test_read_periods_creates_missing_months_and_follows_open_and_closed(
    ledger_simulator: LedgerSimulator,
) -> None:
    # given November held here, October closed in the ledger
    connection = ledger_connection(base_url=ledger_simulator.url)
    books()
    sim_post(ledger_simulator, "/_sim/periods/2026-10/close")
    # when
    result = read_periods()
    # then: 12 months back to 3 ahead of November 2026, November already held
    run = SyncRun.objects.get(connection=connection, name="periods.read")
    assert run.status == SyncRun.Status.SUCCEEDED
    assert run.counts == {
        "created": 14,
        "opened": 0,
        "closed": 0,
        "unchanged": 1,
        "overlapping": 0,
        "read": 15,
    }
    assert result["ledger-main"]["status"] == "succeeded"
    october = FiscalPeriod.objects.get(legal_entity="default", starts_on=date(2026, 10, 1))
    assert (october.ends_on, october.status) == (date(2026, 10, 31), PeriodStatus.CLOSED)
    assert october.history.first().history_user.username == "sync.finance"
    # when the ledger reopens October and closes November
    sim_post(ledger_simulator, "/_sim/periods/2026-10/open")
    sim_post(ledger_simulator, "/_sim/periods/2026-11/close")
    run = read_periods_of(connection)
    # then
    assert (run.counts["opened"], run.counts["closed"], run.counts["created"]) == (1, 1, 0)
    assert FiscalPeriod.objects.get(starts_on=date(2026, 11, 1)).status == PeriodStatus.CLOSED
    assert FiscalPeriod.objects.get(starts_on=date(2026, 10, 1)).status == PeriodStatus.OPEN


def test_read_periods_leaves_a_yearly_period_alone(ledger_simulator: LedgerSimulator) -> None:
    # given a period held here for the whole of 2026
    from controltower.core.writepath import service_scope

    connection = ledger_connection(base_url=ledger_simulator.url)
    with service_scope():
        FiscalPeriod.objects.create(starts_on=date(2026, 1, 1), ends_on=date(2026, 12, 31))
    # when
    run = read_periods_of(connection)
    # then: the 2026 months overlap it and are not created; 2025's and 2027's are
    assert run.counts["overlapping"] == 12
    assert run.counts["created"] == 3
    assert FiscalPeriod.objects.count() == 4


def test_read_periods_with_a_wrong_token_fails_the_run_saying_why(
    ledger_simulator: LedgerSimulator,
) -> None:
    # given
    connection = ledger_connection(base_url=ledger_simulator.url)
    connection.set_credentials({"token": "stale"})
    connection.save()
    # when
    run = read_periods_of(connection)
    # then
    assert run.status == SyncRun.Status.FAILED
    assert run.error.startswith("GET /api/v1/periods answered HTTP 401")
    assert not FiscalPeriod.objects.exists()


def test_queued_entry_wakes_the_batcher_once_per_burst(django_capture_on_commit_callbacks) -> None:
    # when an entry is queued and its transaction commits
    from integrations.ledger.adapter import kick_key, kick_post_batches
    from integrations.runtime.redis_store import redis_client
    from tests.integrations.ledger.conftest import sales_entry

    with django_capture_on_commit_callbacks(execute=True):
        sales_entry(1001)
    # then one batcher run was asked for, and a second kick moments later sends none
    assert redis_client().get(kick_key()) is not None
    assert kick_post_batches() is False
