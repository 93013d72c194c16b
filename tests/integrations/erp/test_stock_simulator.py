"""The ERP simulator's stock feed over real HTTP (no Django, no database): ``GET /api/v1/stock``
(exclusive ``updated_since``, ordering, paging, what bad parameters are told) and
``POST /_sim/stock``."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from integrations.erp.simulator.server import ErpSimulator

TOKEN = "secret-token"


@pytest.fixture
def erp() -> Iterator[ErpSimulator]:
    sim = ErpSimulator(host="127.0.0.1", port=0, token=TOKEN)
    sim.serve_in_thread()
    yield sim
    sim.shutdown()


@pytest.fixture
def client(erp: ErpSimulator) -> Iterator[httpx.Client]:
    with httpx.Client(
        base_url=erp.url, headers={"Authorization": f"Bearer {TOKEN}"}, timeout=5
    ) as c:
        yield c


def set_stock(client: httpx.Client, *items: dict[str, Any]) -> str:
    response = client.post("/_sim/stock", json={"items": list(items)})
    assert response.status_code == 200, response.text
    return response.json()["updated_at"]


def item(sku: str, location: str = "WH-1", on_hand: Any = 5, **extra: Any) -> dict[str, Any]:
    return {"sku": sku, "location": location, "on_hand": on_hand, **extra}


def test_stock_requires_the_bearer_token(erp: ErpSimulator) -> None:
    # when
    response = httpx.get(f"{erp.url}/api/v1/stock", headers={"Authorization": "Bearer wrong"})
    # then
    assert response.status_code == 401
    assert response.json() == {"error": "unauthorized"}
    assert response.headers["WWW-Authenticate"] == 'Bearer realm="erp"'


def test_stock_lists_figures_in_updated_at_order(client: httpx.Client) -> None:
    # given: two postings, the second changing a figure of the first
    first = set_stock(client, item("B"), item("A", "WH-2", unit_cost="4.5000"))
    second = set_stock(client, item("B", on_hand=7))
    # when
    body = client.get("/api/v1/stock").json()
    # then: by (updated_at, sku, location); the cost kept when a posting does not name it
    assert [(r["sku"], r["on_hand"], r["updated_at"]) for r in body["results"]] == [
        ("A", 5, first),
        ("B", 7, second),
    ]
    assert body["results"][0] == {
        "sku": "A",
        "location": "WH-2",
        "on_hand": 5,
        "as_of": first,
        "unit_cost": "4.5000",
        "updated_at": first,
    }
    assert body["results"][1]["unit_cost"] is None
    assert (body["page"], body["per_page"], body["total"], body["next_page"]) == (1, 100, 2, None)


def test_stock_updated_since_is_exclusive(client: httpx.Client) -> None:
    # given
    first = set_stock(client, item("A"), item("B"))
    second = set_stock(client, item("C"))
    # when
    after_first = client.get("/api/v1/stock", params={"updated_since": first}).json()
    after_second = client.get("/api/v1/stock", params={"updated_since": second}).json()
    # then
    assert [r["sku"] for r in after_first["results"]] == ["C"]
    assert after_first["total"] == 1
    assert after_second == {
        "results": [],
        "page": 1,
        "per_page": 100,
        "total": 0,
        "next_page": None,
    }


def test_stock_pages(client: httpx.Client) -> None:
    # given: five figures of one posting (one updated_at), ordered by sku then location
    set_stock(client, *(item(f"S{n}") for n in (3, 1, 5, 2, 4)))
    # when
    pages = [
        client.get("/api/v1/stock", params={"page": n, "per_page": 2}).json() for n in (1, 2, 3, 4)
    ]
    # then
    assert [[r["sku"] for r in p["results"]] for p in pages] == [
        ["S1", "S2"],
        ["S3", "S4"],
        ["S5"],
        [],
    ]
    assert [p["next_page"] for p in pages] == [2, 3, None, None]
    assert {p["total"] for p in pages} == {5}


def test_stock_as_of_and_hostile_values_are_served_as_set(client: httpx.Client) -> None:
    # given: a count from the morning, a negative and a fractional on-hand, a broken cost
    set_stock(
        client,
        item("A", as_of="2026-03-01T08:00:00+01:00"),
        item("B", on_hand=-2, unit_cost="abc"),
        item("C", on_hand=2.5, unit_cost=12.5),
    )
    # when
    rows = {r["sku"]: r for r in client.get("/api/v1/stock").json()["results"]}
    # then
    assert rows["A"]["as_of"] == "2026-03-01T07:00:00.000Z"
    assert (rows["B"]["on_hand"], rows["B"]["unit_cost"]) == (-2, "abc")
    assert (rows["C"]["on_hand"], rows["C"]["unit_cost"]) == (2.5, 12.5)


@pytest.mark.parametrize(
    ("params", "fields"),
    [
        (
            {"updated_since": "yesterday"},
            {"updated_since": "must be an ISO 8601 time with a time zone"},
        ),
        (
            {"updated_since": "2026-03-01T08:00:00"},
            {"updated_since": "must be an ISO 8601 time with a time zone"},
        ),
        ({"page": "0"}, {"page": "must be an integer >= 1"}),
        ({"page": "-1"}, {"page": "must be an integer >= 1"}),
        ({"page": "two"}, {"page": "must be an integer >= 1"}),
        ({"per_page": "501"}, {"per_page": "must be an integer from 1 to 500"}),
        ({"per_page": "0"}, {"per_page": "must be an integer from 1 to 500"}),
        ({"per_page": "1.5"}, {"per_page": "must be an integer from 1 to 500"}),
        ({"updated_after": "2026-03-01T08:00:00Z"}, {"updated_after": "unknown query parameter"}),
    ],
)
def test_stock_bad_params_are_refused(
    client: httpx.Client, params: dict[str, str], fields: dict[str, str]
) -> None:
    # when
    response = client.get("/api/v1/stock", params=params)
    # then
    assert response.status_code == 400
    assert response.json() == {"error": "validation failed", "fields": fields}


def test_stock_answers_the_fault_plan(client: httpx.Client) -> None:
    # given
    client.post("/_sim/faults", json={"fail_next": 1, "fail_status": 503})
    # when
    failed = client.get("/api/v1/stock")
    after = client.get("/api/v1/stock")
    # then
    assert failed.status_code == 503
    assert after.status_code == 200


@pytest.mark.parametrize(
    ("body", "fields"),
    [
        ([], {"_": "body must be a JSON object"}),
        ({"items": []}, {"items": "must be a non-empty list"}),
        ({"items": ["A"]}, {"items[0]": "must be an object"}),
        (
            {"items": [{"sku": "", "location": 3, "on_hand": "5"}]},
            {
                "items[0].sku": "must be a non-empty string",
                "items[0].location": "must be a non-empty string",
                "items[0].on_hand": "must be a number",
            },
        ),
        (
            {"items": [item("A", unit_cost=[1]), item("B", as_of="soon")]},
            {
                "items[0].unit_cost": "must be a string, a number or null",
                "items[1].as_of": "must be an ISO 8601 time with a time zone",
            },
        ),
    ],
)
def test_sim_set_stock_refuses_bad_items(
    client: httpx.Client, body: Any, fields: dict[str, str]
) -> None:
    # when
    response = client.post("/_sim/stock", json=body)
    # then
    assert response.status_code == 400
    assert response.json() == {"error": "validation failed", "fields": fields}
    assert client.get("/_sim/stock").json() == []


def test_sim_reset_all_wipes_stock(client: httpx.Client) -> None:
    # given
    set_stock(client, item("A"))
    # when
    client.post("/_sim/reset", json={"all": True})
    # then
    assert client.get("/api/v1/stock").json()["total"] == 0
