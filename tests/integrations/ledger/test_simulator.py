"""The ledger simulator over real HTTP: what a journal batch gets back per entry, idempotency,
periods and the chart, and the faults tests drive it with."""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from integrations.ledger.simulator import LedgerSimulator
from tests.integrations.ledger.conftest import LEDGER_TOKEN, sim_get, sim_post

AUTH = {"Authorization": f"Bearer {LEDGER_TOKEN}"}


def entry(ref: str, *, debit: str = "12.10", credit: str | None = None, **over: Any) -> dict:
    return {
        "external_ref": ref,
        "date": "2026-11-22",
        "currency": "EUR",
        "description": f"Sales {ref}",
        "legal_entity": "default",
        "lines": [
            {"account": "1100", "debit": debit, "credit": "0", "tax_code": "", "dimensions": {}},
            {"account": over.pop("account", "4000"), "debit": "0", "credit": credit or debit},
        ],
        **over,
    }


def post(sim: LedgerSimulator, body: Any, **headers: str) -> httpx.Response:
    return httpx.post(f"{sim.url}/api/v1/journal-batches", json=body, headers={**AUTH, **headers})


def test_batch_books_each_entry_on_its_own(ledger_simulator: LedgerSimulator) -> None:
    # given
    sim_post(ledger_simulator, "/_sim/periods/2026-10/close")
    batch = {
        "batch_ref": "B-1",
        "entries": [
            entry("sale:1"),
            entry("sale:2", credit="12.00"),
            entry("sale:3", account="9999"),
            entry("sale:4", date="2026-10-31"),
            entry("sale:5", currency="euro"),
        ],
    }
    # when
    response = post(ledger_simulator, batch)
    # then
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["id"] == "JB-000001" and body["batch_ref"] == "B-1"
    first, unbalanced, unknown, closed, invalid = body["results"]
    assert first == {"external_ref": "sale:1", "status": "accepted", "ledger_id": "JE-000001"}
    assert (unbalanced["code"], unbalanced["reason"]) == (
        "unbalanced",
        "debits 12.10 ≠ credits 12.00 EUR (difference 0.10)",
    )
    assert unknown["code"] == "unknown_account"
    assert "account 9999 is not in the chart" in unknown["reason"]
    assert closed["code"] == "period_closed"
    assert closed["reason"] == "the period 2026-10 of legal entity default is closed"
    assert invalid["code"] == "invalid" and "currency" in invalid["reason"]
    booked = sim_get(ledger_simulator, "/api/v1/entries", external_ref="sale:1")
    assert booked["count"] == 1
    assert booked["results"][0]["lines"][0]["debit"] == "12.1000"


def test_same_batch_ref_or_key_returns_the_stored_answer(ledger_simulator: LedgerSimulator) -> None:
    # given
    batch = {"batch_ref": "B-2", "entries": [entry("sale:1")]}
    first = post(ledger_simulator, batch, **{"Idempotency-Key": "k-1"}).json()
    # when
    again = post(ledger_simulator, batch)
    changed = post(
        ledger_simulator,
        {"batch_ref": "B-3", "entries": [entry("sale:9")]},
        **{"Idempotency-Key": "k-1"},
    )
    # then
    assert again.status_code == 200 and again.headers["Idempotent-Replayed"] == "true"
    assert again.json() == first
    assert changed.status_code == 422
    assert changed.json()["error"] == "idempotency key or batch_ref reused with different entries"
    assert sim_get(ledger_simulator, "/api/v1/entries")["count"] == 1


def test_rebooked_external_ref_is_a_duplicate_or_a_conflict(
    ledger_simulator: LedgerSimulator,
) -> None:
    # given
    post(ledger_simulator, {"batch_ref": "B-1", "entries": [entry("sale:1")]})
    # when
    answer = post(
        ledger_simulator,
        {"batch_ref": "B-2", "entries": [entry("sale:1"), entry("sale:1", debit="13.00")]},
    ).json()
    # then
    same, different = answer["results"]
    assert same == {
        "external_ref": "sale:1",
        "status": "accepted",
        "ledger_id": "JE-000001",
        "duplicate": True,
    }
    assert different["code"] == "conflict"
    assert "already booked as JE-000001" in different["reason"]
    assert sim_get(ledger_simulator, "/api/v1/entries")["count"] == 1


def test_batch_over_100_entries_is_refused_whole(ledger_simulator: LedgerSimulator) -> None:
    # when
    response = post(
        ledger_simulator,
        {"batch_ref": "B-big", "entries": [entry(f"sale:{n}") for n in range(101)]},
    )
    # then
    assert response.status_code == 413
    assert response.json()["error"] == "a batch holds at most 100 entries, this one 101"
    assert sim_get(ledger_simulator, "/api/v1/entries")["count"] == 0


def test_batch_without_token_is_unauthorized(ledger_simulator: LedgerSimulator) -> None:
    response = httpx.post(
        f"{ledger_simulator.url}/api/v1/journal-batches",
        json={"batch_ref": "B", "entries": [entry("sale:1")]},
        headers={"Authorization": "Bearer wrong"},
    )
    assert response.status_code == 401
    assert response.json() == {"error": "unauthorized"}


def test_malformed_batch_names_the_fields(ledger_simulator: LedgerSimulator) -> None:
    response = post(ledger_simulator, {"entries": []})
    assert response.status_code == 400
    assert set(response.json()["fields"]) == {"batch_ref", "entries"}


def test_reject_next_rejects_with_the_given_code(ledger_simulator: LedgerSimulator) -> None:
    # given
    plan = {"reject_next": 1, "reject_code": "period_closed", "reject_reason": "year-end lock"}
    assert sim_post(ledger_simulator, "/_sim/faults", plan).status_code == 200
    # when
    results = post(
        ledger_simulator, {"batch_ref": "B", "entries": [entry("sale:1"), entry("sale:2")]}
    ).json()["results"]
    # then
    assert results[0] == {
        "external_ref": "sale:1",
        "status": "rejected",
        "code": "period_closed",
        "reason": "year-end lock",
    }
    assert results[1]["status"] == "accepted"
    bad = sim_post(ledger_simulator, "/_sim/faults", {"reject_code": "nope"})
    assert bad.status_code == 400 and "reject_code must be one of" in bad.json()["error"]


def test_timeout_after_processing_books_then_the_retry_gets_the_stored_answer(
    ledger_simulator: LedgerSimulator,
) -> None:
    # given
    sim_post(ledger_simulator, "/_sim/faults", {"timeout_next": 1, "timeout_seconds": 1.0})
    batch = {"batch_ref": "B-t", "entries": [entry("sale:1")]}
    # when
    with pytest.raises(httpx.ReadTimeout):
        httpx.post(
            f"{ledger_simulator.url}/api/v1/journal-batches", json=batch, headers=AUTH, timeout=0.3
        )
    retry = post(ledger_simulator, batch)
    # then
    assert retry.json()["results"][0]["ledger_id"] == "JE-000001"
    assert sim_get(ledger_simulator, "/api/v1/entries")["count"] == 1


def test_periods_are_monthly_per_legal_entity_and_follow_close_and_open(
    ledger_simulator: LedgerSimulator,
) -> None:
    # when
    sim_post(ledger_simulator, "/_sim/periods/2026-10/close", {"legal_entity": "nl-bv"})
    sim_post(ledger_simulator, "/_sim/periods/2026-09/close")
    sim_post(ledger_simulator, "/_sim/periods/2026-09/open")
    periods = sim_get(ledger_simulator, "/api/v1/periods")["results"]
    # then
    by_key = {(p["legal_entity"], p["period"]): p for p in periods}
    assert by_key[("nl-bv", "2026-10")]["status"] == "closed"
    assert by_key[("default", "2026-10")]["status"] == "open"
    assert by_key[("default", "2026-09")]["status"] == "open"
    assert by_key[("default", "2026-02")] == {
        "legal_entity": "default",
        "period": "2026-02",
        "starts_on": "2026-02-01",
        "ends_on": "2026-02-28",
        "status": "open",
    }
    assert sim_post(ledger_simulator, "/_sim/periods/2026-13/close").status_code == 400


def test_accounts_are_the_demo_chart_and_can_be_added(ledger_simulator: LedgerSimulator) -> None:
    # when
    added = sim_post(
        ledger_simulator, "/_sim/accounts", {"code": "4010", "name": "Discounts", "type": "revenue"}
    )
    codes = {a["code"]: a["name"] for a in sim_get(ledger_simulator, "/api/v1/accounts")["results"]}
    # then
    assert added.status_code == 201
    assert codes["4000"] == "Gross sales" and codes["6100"] == "Payment gateway fees"
    assert codes["4010"] == "Discounts"
    results = post(
        ledger_simulator, {"batch_ref": "B", "entries": [entry("sale:1", account="4010")]}
    ).json()["results"]
    assert results[0]["status"] == "accepted"


def test_reset_all_wipes_the_books(ledger_simulator: LedgerSimulator) -> None:
    post(ledger_simulator, {"batch_ref": "B", "entries": [entry("sale:1")]})
    sim_post(ledger_simulator, "/_sim/reset", {"all": True})
    assert sim_get(ledger_simulator, "/api/v1/entries")["count"] == 0
    again = post(ledger_simulator, {"batch_ref": "B", "entries": [entry("sale:1")]}).json()
    assert again["id"] == "JB-000001"
