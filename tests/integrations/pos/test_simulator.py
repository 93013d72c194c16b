"""The POS simulator on its own, over HTTP: the API's auth and the fault plan, its controls'
answers to bad requests, and what its tills compute (split tenders, returns, the Z report)."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from integrations.pos.simulator import DEFAULT_TOKEN, PosSimulator

AUTH = {"Authorization": f"Bearer {DEFAULT_TOKEN}"}


@pytest.fixture
def pos() -> Iterator[Any]:
    sim = PosSimulator(stores=10)
    sim.serve_in_thread()
    try:
        yield sim
    finally:
        sim.shutdown()


def post(sim: Any, path: str, payload: dict[str, Any]) -> httpx.Response:
    return httpx.post(f"{sim.url}{path}", json=payload, timeout=10)


def test_ten_stores_and_the_api_needs_the_token(pos: Any) -> None:
    assert httpx.get(f"{pos.url}/api/v1/stores").status_code == 401
    stores = httpx.get(f"{pos.url}/api/v1/stores", headers=AUTH).json()["results"]
    assert [s["id"] for s in stores] == [f"store-{n:02d}" for n in range(1, 11)]


def test_the_fault_plan_answers_5xx_and_429_on_the_api(pos: Any) -> None:
    post(pos, "/_sim/faults", {"fail_next": 1, "fail_status": 503, "rate_limit_next": 1})
    assert httpx.get(f"{pos.url}/api/v1/stores", headers=AUTH).status_code == 429
    assert httpx.get(f"{pos.url}/api/v1/stores", headers=AUTH).status_code == 503
    assert httpx.get(f"{pos.url}/api/v1/stores", headers=AUTH).status_code == 200
    assert post(pos, "/_sim/faults", {"eod_mismatch": "lots"}).status_code == 400


def test_split_tenders_a_return_and_the_close_add_up(pos: Any) -> None:
    sale = post(
        pos,
        "/_sim/sales",
        {
            "store": "store-04",
            "lines": [{"sku": "TEE-1", "quantity": 2, "unit_price": "20.00"}],
            "tenders": [
                {"type": "gift_card", "amount": "15.00"},
                {"type": "cash", "tendered": "50"},
            ],
        },
    ).json()
    assert [(t["type"], t["amount"]) for t in sale["tenders"]] == [
        ("gift_card", "15.00"),
        ("cash", "25.00"),
    ]
    assert (sale["tenders"][1]["change"], sale["sequence"], sale["register"]) == ("25.00", 1, "R1")
    back = post(
        pos,
        "/_sim/returns",
        {
            "store": "store-04",
            "original": sale["id"],
            "lines": [{"original_line": 1, "quantity": 1}],
        },
    ).json()
    assert (back["totals"]["total"], back["tenders"][0]["type"]) == ("20.00", "gift_card")
    close = post(pos, "/_sim/stores/store-04/close", {}).json()
    assert close["tenders"] == {"cash": "25.00", "gift_card": "-5.00"}
    assert (close["net_total"], close["transaction_count"]) == ("20.00", 2)


def test_bad_control_requests_say_what_is_wrong(pos: Any) -> None:
    unknown = post(pos, "/_sim/sales", {"store": "store-99", "lines": []})
    assert (unknown.status_code, unknown.json()) == (400, {"error": "unknown store 'store-99'"})
    tender = post(
        pos,
        "/_sim/sales",
        {
            "store": "store-01",
            "lines": [{"sku": "A", "quantity": 1, "unit_price": "1.00"}],
            "tenders": [{"type": "cheque"}],
        },
    )
    assert tender.json() == {"error": "unknown tender type 'cheque'"}
