"""translate.py on hostile and unusual intents: refused with the field named, never half-read;
minor units by the currency's exponent."""

from __future__ import annotations

import copy
from decimal import Decimal
from typing import Any

import pytest

from controltower.payments.choices import PaymentState
from integrations.payments.translate import TranslationError, to_major, to_minor, translate_intent

INTENT: dict[str, Any] = {
    "id": "pi_1",
    "object": "payment_intent",
    "amount": 7077,
    "amount_received": 3000,
    "currency": "eur",
    "capture_method": "manual",
    "status": "requires_capture",
    "created": 1_795_000_000,
    "metadata": {"order_ref": "web-1001"},
    "last_payment_error": None,
    "latest_charge": {
        "id": "ch_1",
        "status": "succeeded",
        "created": 1_795_000_000,
        "amount_captured": 3000,
        "amount_refunded": 0,
        "captures": [
            {
                "id": "cpt_1",
                "amount": 3000,
                "created": 1_795_000_100,
                "balance_transaction": {"id": "txn_1", "fee": 70},
            }
        ],
        "refunds": {"data": []},
    },
}


def intent(**changes: Any) -> dict[str, Any]:
    value = copy.deepcopy(INTENT)
    value.update(changes)
    return value


def test_translate_partial_capture_is_authorized_with_its_fee() -> None:
    # when
    data = translate_intent(intent(), source_system="gw")
    # then
    assert (data.state, data.currency, data.amount, data.captured) == (
        PaymentState.AUTHORIZED,
        "EUR",
        Decimal("70.77"),
        Decimal("30.00"),
    )
    assert [(t.type, t.amount, t.fee) for t in data.transactions] == [
        ("authorize", Decimal("70.77"), Decimal("0")),
        ("capture", Decimal("30.00"), Decimal("0.70")),
    ]


def test_translate_minor_units_follow_the_currency_exponent() -> None:
    # then
    assert to_major(7077, "JPY") == Decimal("7077")
    assert to_major(7077, "KWD") == Decimal("7.077")
    assert to_minor(Decimal("70.77"), "EUR") == 7077
    with pytest.raises(TranslationError, match="more decimals"):
        to_minor(Decimal("1.5"), "JPY")


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"amount": -5}, "payment_intent.amount: negative amount -5"),
        ({"amount": 10**12}, "above the gateway's maximum"),
        ({"amount": "7077"}, "payment_intent.amount: must be an integer"),
        ({"amount": True}, "payment_intent.amount: must be an integer"),
        ({"status": "exploded"}, "payment_intent.status: unknown status 'exploded'"),
        ({"currency": "euro"}, "payment_intent.currency: must be a three-letter ISO code"),
        ({"metadata": {}}, "metadata.order_ref is missing"),
        ({"latest_charge": "ch_1"}, "not expanded"),
        ({"amount_received": 5000}, "does not match the charge's captures"),
        ({"object": "charge"}, "expected 'payment_intent'"),
    ],
)
def test_translate_refuses_hostile_intents_naming_the_field(
    changes: dict[str, Any], message: str
) -> None:
    # when / then
    with pytest.raises(TranslationError, match=message):
        translate_intent(intent(**changes), source_system="gw")


def test_translate_refuses_a_fee_above_its_capture() -> None:
    # given
    value = intent()
    value["latest_charge"]["captures"][0]["balance_transaction"]["fee"] = 4000
    # when / then
    with pytest.raises(TranslationError, match="fee 4000 is larger than the capture 3000"):
        translate_intent(value, source_system="gw")


def test_translate_refuses_refunds_above_captures() -> None:
    # given
    value = intent(status="succeeded")
    value["latest_charge"]["amount_refunded"] = 9000
    # when / then
    with pytest.raises(TranslationError, match="refunded 9000 is more than captured 3000"):
        translate_intent(value, source_system="gw")
