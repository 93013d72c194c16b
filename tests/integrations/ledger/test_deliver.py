"""Journal batches delivered to the ledger simulator over real HTTP, through the runtime's
outbox (claim, one call, record): accepted entries posted with the ledger's ids, rejections on
the posting exception with the ledger's reason, retries that never book twice, and whole-batch
refusals dead-lettered naming the batch."""

from __future__ import annotations

from typing import Any

import httpx
import pytest
from django.utils import timezone

from controltower.core.context import acting_as
from controltower.exceptions.models import OpsException
from controltower.finance.choices import JournalState
from controltower.finance.models import JournalEntry
from controltower.finance.services import retry_posting
from controltower.orders.choices import PostingStatus
from integrations.ledger import translate
from integrations.ledger.simulator import LedgerSimulator
from integrations.ledger.tasks import post_one_batch
from integrations.runtime import outbox
from integrations.runtime.choices import OutboundStatus
from integrations.runtime.models import Connection, OutboundMessage
from tests.integrations.ledger.conftest import (
    LEDGER_TOKEN,
    ledger_connection,
    plain_entries,
    sales_entry,
    sim_get,
    sim_post,
)

pytestmark = pytest.mark.django_db


def batch(connection: Connection, *, size: int = 100) -> OutboundMessage:
    with acting_as("sync.finance"):
        ref = post_one_batch(connection, size=size)
    assert ref is not None
    return OutboundMessage.objects.get(idempotency_key=ref)


def deliver(message: OutboundMessage) -> str:
    """One attempt now, as a drain makes it (claim, call, record); backoff is not waited out."""
    OutboundMessage.objects.filter(pk=message.pk).update(next_attempt_at=timezone.now())
    assert outbox.claim_outbound(10) == [message.pk]
    with acting_as("system.runtime"):
        return outbox.deliver_outbound_message(message.pk)


def ledger_entries(sim: LedgerSimulator) -> list[dict[str, Any]]:
    return sim_get(sim, "/api/v1/entries")["results"]


def reloaded(entry: JournalEntry) -> JournalEntry:
    return JournalEntry.objects.select_related("order").get(pk=entry.pk)


def test_accepted_batch_posts_each_entry_with_its_ledger_id(
    ledger_simulator: LedgerSimulator,
) -> None:
    # given two orders' sales entries, queued
    connection = ledger_connection(base_url=ledger_simulator.url)
    first, second = sales_entry(1001), sales_entry(1002)
    message = batch(connection)
    assert reloaded(first).state == JournalState.SENT
    # when
    status = deliver(message)
    # then
    assert status == OutboundStatus.DELIVERED
    first, second = reloaded(first), reloaded(second)
    assert (first.state, first.ledger_id) == (JournalState.POSTED, "JE-000001")
    assert (second.state, second.ledger_id) == (JournalState.POSTED, "JE-000002")
    assert first.order.posting_status == PostingStatus.POSTED
    history = first.history.first()
    assert history.history_user.username == "sync.finance"
    assert history.history_change_reason == "posted as JE-000001"
    [call] = ledger_simulator.request_log()
    assert call["idempotency_key"] == message.idempotency_key == first.batch_reference
    assert call["correlation_id"] == str(message.correlation_id)
    assert {e["external_ref"] for e in ledger_entries(ledger_simulator)} == {
        f"sale:{first.correlation_id}",
        f"sale:{second.correlation_id}",
    }


def test_closed_period_rejects_naming_the_period_and_a_repost_books_once(
    ledger_simulator: LedgerSimulator, finance_approver: Any
) -> None:
    # given the ledger closed November
    connection = ledger_connection(base_url=ledger_simulator.url)
    entry = sales_entry(1001)
    sim_post(ledger_simulator, "/_sim/periods/2026-11/close")
    # when
    deliver(batch(connection))
    # then
    entry = reloaded(entry)
    assert entry.state == JournalState.REJECTED
    assert entry.order.posting_status == PostingStatus.REJECTED
    problem = OpsException.objects.open().get(dedupe_key=f"posting:{entry.order_id}:rejected")
    assert problem.detail == (
        "the ledger rejected the entry (period_closed): the period 2026-11 of legal entity "
        "default is closed — fiscal period 2026-11 of legal entity default is closed in the "
        "ledger; reopen it there (or move the entry) and re-post"
    )
    # when finance has it reopened and re-posts
    sim_post(ledger_simulator, "/_sim/periods/2026-11/open")
    retry_posting(entry.order, actor=finance_approver)
    assert reloaded(entry).state == JournalState.DRAFT
    second = batch(connection)
    deliver(second)
    # then: the same external ref, a new batch, one booking
    entry = reloaded(entry)
    assert (entry.state, entry.ledger_id) == (JournalState.POSTED, "JE-000001")
    assert entry.batch_reference == second.idempotency_key
    assert len(ledger_entries(ledger_simulator)) == 1
    assert not OpsException.objects.open().filter(dedupe_key__startswith="posting:").exists()


def test_unbalanced_entry_is_rejected_alone_and_the_rest_of_the_batch_posts(
    ledger_simulator: LedgerSimulator,
) -> None:
    # given a batch whose first entry a person edited out of balance before it went
    connection = ledger_connection(base_url=ledger_simulator.url)
    first, second = sales_entry(1001), sales_entry(1002)
    message = batch(connection)
    message.payload["entries"][0]["lines"][0]["debit"] = "70.70"
    message.save(update_fields=["payload"])
    # when
    deliver(message)
    # then
    first, second = reloaded(first), reloaded(second)
    assert first.state == JournalState.REJECTED
    assert first.rejection_reason == (
        "the ledger rejected the entry (unbalanced): debits 71.20 ≠ credits 71.27 EUR "
        "(difference -0.07)"
    )
    assert (second.state, second.ledger_id) == (JournalState.POSTED, "JE-000001")


def test_5xx_is_retried_with_the_same_key_and_books_once(
    ledger_simulator: LedgerSimulator,
) -> None:
    # given
    connection = ledger_connection(base_url=ledger_simulator.url)
    entries = plain_entries(3)
    message = batch(connection)
    sim_post(ledger_simulator, "/_sim/faults", {"fail_next": 2, "fail_status": 503})
    # when
    statuses = [deliver(message) for _ in range(3)]
    # then
    assert statuses == [OutboundStatus.PENDING, OutboundStatus.PENDING, OutboundStatus.DELIVERED]
    assert list(message.attempt_log.values_list("status_code", flat=True)) == [503, 503, 200]
    assert {reloaded(e).state for e in entries} == {JournalState.POSTED}
    keys = {call["idempotency_key"] for call in ledger_simulator.request_log()}
    assert keys == {message.idempotency_key}
    assert len(ledger_entries(ledger_simulator)) == 3


def test_timeout_after_booking_then_retry_gets_the_booking_not_a_second_one(
    ledger_simulator: LedgerSimulator,
) -> None:
    # given a ledger that books the batch, then answers too late for our 1 s timeout
    connection = ledger_connection(base_url=ledger_simulator.url, timeout_s=1)
    entries = plain_entries(2)
    message = batch(connection)
    sim_post(ledger_simulator, "/_sim/faults", {"timeout_next": 1, "timeout_seconds": 2.0})
    # when
    first = deliver(message)
    # then: we do not know; the entries stay sent
    assert first == OutboundStatus.PENDING
    assert "ReadTimeout" in message.attempt_log.get().error
    assert {reloaded(e).state for e in entries} == {JournalState.SENT}
    assert len(ledger_entries(ledger_simulator)) == 2  # booked all the same
    # when the retry goes
    assert deliver(message) == OutboundStatus.DELIVERED
    # then
    ids = sorted(reloaded(e).ledger_id for e in entries)
    assert ids == ["JE-000001", "JE-000002"]
    assert len(ledger_entries(ledger_simulator)) == 2


def test_entry_the_ledger_already_holds_is_accepted_as_a_duplicate(
    ledger_simulator: LedgerSimulator,
) -> None:
    # given the ledger booked this entry before (e.g. our database was restored from a backup)
    connection = ledger_connection(base_url=ledger_simulator.url)
    entry = sales_entry(1001)
    earlier = httpx.post(
        f"{ledger_simulator.url}/api/v1/journal-batches",
        json={"batch_ref": "earlier", "entries": [translate.entry_payload(entry)]},
        headers={"Authorization": f"Bearer {LEDGER_TOKEN}"},
    ).json()["results"][0]
    # when
    message = batch(connection)
    deliver(message)
    # then
    entry = reloaded(entry)
    assert (entry.state, entry.ledger_id) == (JournalState.POSTED, earlier["ledger_id"])
    assert message.__class__.objects.get(pk=message.pk).response["results"][0]["duplicate"]
    assert len(ledger_entries(ledger_simulator)) == 1


def test_oversized_batch_is_dead_lettered_naming_the_batch(
    ledger_simulator: LedgerSimulator,
) -> None:
    # given a batch of 101 (the batcher never makes one; a wrong size setting would)
    connection = ledger_connection(base_url=ledger_simulator.url)
    plain_entries(101)
    message = batch(connection, size=101)
    # when
    status = deliver(message)
    # then
    assert status == OutboundStatus.DEAD
    dead = OpsException.objects.open().get(dedupe_key=f"outbound:{message.pk}")
    assert dead.title == "Ledger: post journal batch to General ledger dead-lettered"
    assert (
        f"HTTP 413: journal batch {message.idempotency_key} (101 entries) too large for the "
        "ledger" in dead.detail
    )
    assert "a batch holds at most 100 entries, this one 101" in dead.detail
    assert dead.money_at_risk_amount == 1010
    assert not ledger_entries(ledger_simulator)


def test_wrong_token_dead_letters_the_whole_batch_at_once(
    ledger_simulator: LedgerSimulator,
) -> None:
    # given
    connection = ledger_connection(base_url=ledger_simulator.url)
    connection.set_credentials({"token": "stale"})
    connection.save()
    entries = plain_entries(2)
    message = batch(connection)
    # when
    status = deliver(message)
    # then
    assert status == OutboundStatus.DEAD
    dead = OpsException.objects.open().get(dedupe_key=f"outbound:{message.pk}")
    assert f"HTTP 401: journal batch {message.idempotency_key} (2 entries) refused whole" in (
        dead.detail
    )
    assert "unauthorized" in dead.detail
    assert {reloaded(e).state for e in entries} == {JournalState.SENT}
