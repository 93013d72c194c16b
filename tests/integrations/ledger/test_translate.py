"""A sales entry the domain built, as the ledger receives it: lines, accounts, tax codes,
dimensions, and amounts as decimal strings to the cent."""

from __future__ import annotations

from decimal import Decimal

import pytest

from integrations.ledger import translate
from tests.integrations.ledger.conftest import sales_entry

pytestmark = pytest.mark.django_db


def test_entry_payload_carries_the_domain_entry_to_the_cent() -> None:
    # given an order of 2 × 19.95 + 14.50, 21 % tax, 4.95 shipping, captured with a 0.50 fee
    entry = sales_entry(1001)
    # when
    payload = translate.batch_payload("LB-1", [entry])
    # then
    assert payload["batch_ref"] == "LB-1"
    assert (payload["currency"], payload["total"]) == ("EUR", "71.27")
    [sent] = payload["entries"]
    assert sent["external_ref"] == f"sale:{entry.correlation_id}"
    assert (sent["date"], sent["currency"], sent["legal_entity"]) == (
        "2026-11-22",
        "EUR",
        "default",
    )
    assert sent["description"] == entry.description
    lines = sorted((x["account"], x["debit"], x["credit"], x["tax_code"]) for x in sent["lines"])
    assert lines == [
        ("1100", "0.00", "0.50", ""),  # the fee the gateway kept, out of clearing
        ("1100", "70.77", "0.00", ""),  # what was captured
        ("2100", "0.00", "11.42", "STD"),
        ("4000", "0.00", "54.40", ""),
        ("4200", "0.00", "4.95", ""),
        ("6100", "0.50", "0.00", ""),
    ]
    debits = sum(Decimal(x["debit"]) for x in sent["lines"])
    assert debits == sum(Decimal(x["credit"]) for x in sent["lines"]) == Decimal("71.27")
    assert sent["lines"][0]["dimensions"] == {
        "correlation_id": str(entry.correlation_id),
        "channel": "web",
        "order": "web-1001",
    }
    assert translate.request_body(payload) == {"batch_ref": "LB-1", "entries": [sent]}


def test_amount_keeps_sub_cent_digits_rather_than_rounding() -> None:
    assert translate.amount(Decimal("12.1")) == "12.10"
    assert translate.amount(Decimal("0.0050")) == "0.0050"


def test_batch_results_refuse_an_answer_without_results() -> None:
    with pytest.raises(translate.TranslationError, match="holds no results list"):
        translate.batch_results({"id": "JB-1"})
    with pytest.raises(translate.TranslationError, match="accepted sale:1 without a ledger_id"):
        translate.batch_results({"results": [{"external_ref": "sale:1", "status": "accepted"}]})
