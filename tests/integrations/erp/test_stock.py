"""The ERP stock feed end to end over real HTTP: the scheduled pull reads the ERP simulator's
``GET /api/v1/stock`` with a watermark, stores each page in the inbox, and the ERP's inbound
handler applies it through the inventory domain (and the SKUs' unit costs through the catalog's)
— and what a bad page, a failing ERP or an unreachable one leaves."""

from __future__ import annotations

import time
from collections.abc import Iterator
from datetime import timedelta
from decimal import Decimal
from typing import Any

import httpx
import pytest
from django.conf import settings
from django.utils import timezone

from controltower.catalog.models import SKU
from controltower.core.context import acting_as
from controltower.exceptions.choices import ExceptionType
from controltower.exceptions.models import OpsException
from controltower.inventory.models import StockPosition
from integrations.erp import tasks
from integrations.erp.stock import STOCK_PAGE
from integrations.runtime.actions import replay_inbound_event
from integrations.runtime.choices import InboundStatus
from integrations.runtime.inbox import claim_inbound, process_inbound_event
from integrations.runtime.models import Connection, InboundEvent, SyncCursor, SyncRun
from integrations.simkit import free_port
from tests.factories.catalog import LocationFactory, SKUFactory
from tests.factories.integrations import erp_connection

REFUSED = "stock feed refused, nothing applied: "


@pytest.fixture
def catalog(db: None) -> dict[str, Any]:
    """Three SKUs and two warehouses, as the ERP names them."""
    return {
        "skus": [SKUFactory(code=code) for code in ("TEE-1", "MUG-1", "CAP-1")],
        "locations": [LocationFactory(code="WH-1"), LocationFactory(code="WH-2")],
    }


@pytest.fixture
def erp(catalog: dict[str, Any], erp_simulator: Any) -> Connection:
    return erp_connection(base_url=erp_simulator.url)


@pytest.fixture
def sim(erp_simulator: Any) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=erp_simulator.url, timeout=5) as client:
        yield client


def set_stock(sim: httpx.Client, *items: dict[str, Any]) -> str:
    """One ERP posting; its ``updated_at`` (distinct from the next one's)."""
    response = sim.post("/_sim/stock", json={"items": list(items)})
    assert response.status_code == 200, response.text
    time.sleep(0.003)
    return response.json()["updated_at"]


def line(sku: str, location: str = "WH-1", on_hand: Any = 5, **extra: Any) -> dict[str, Any]:
    return {"sku": sku, "location": location, "on_hand": on_hand, **extra}


def pull(connection: Connection, **options: Any) -> SyncRun:
    with acting_as("sync.erp"):
        return tasks.pull_stock_of(connection, **options)


def drain() -> None:
    while ids := claim_inbound(50):
        for event_id in ids:
            process_inbound_event(event_id)


def positions() -> dict[tuple[str, str], int]:
    return {
        (p.sku.code, p.location.code): p.on_hand
        for p in StockPosition.objects.filter(reporting_system="erp").select_related(
            "sku", "location"
        )
    }


def stock_queries(sim: httpx.Client) -> list[dict[str, str]]:
    return [r["query"] for r in sim.get("/_sim/requests").json() if r["path"] == "/api/v1/stock"]


def watermark(connection: Connection) -> str | None:
    cursor = SyncCursor.objects.filter(connection=connection, name=tasks.PULL).first()
    if cursor is None or cursor.watermark is None:
        return None
    return cursor.watermark.isoformat(timespec="milliseconds").replace("+00:00", "Z")


# --- the feed ------------------------------------------------------------------------------------
@pytest.mark.django_db
def test_pull_stock_applies_figures_and_costs_over_http(erp: Connection, sim: httpx.Client) -> None:
    # given
    stamp = set_stock(
        sim, line("TEE-1", on_hand=12, unit_cost="4.2500"), line("MUG-1", "WH-2", on_hand=3)
    )
    # when
    run = pull(erp)
    drain()
    # then: one page stored, applied as the ERP's figures; the cost set with its history
    assert (run.status, run.counts) == (
        SyncRun.Status.SUCCEEDED,
        {"requests": 1, "lines": 2, "stored": 1, "duplicate": 0},
    )
    assert positions() == {("TEE-1", "WH-1"): 12, ("MUG-1", "WH-2"): 3}
    (event,) = InboundEvent.objects.filter(topic=STOCK_PAGE)
    assert (event.status, event.resource_id) == (InboundStatus.PROCESSED, stamp)
    assert event.correlation_id is not None
    tee = SKU.objects.get(code="TEE-1")
    assert tee.cost_amount == Decimal("4.2500")
    change = tee.history.first()
    assert change.history_user.username == "sync.erp"
    assert change.history_change_reason == "unit cost from erp:erp-main: cost 0.0000 → 4.2500"
    assert SKU.objects.get(code="MUG-1").cost_amount == Decimal(0)  # no cost on its line
    assert watermark(erp) == stamp


@pytest.mark.django_db
def test_pull_stock_second_pull_fetches_only_newer(erp: Connection, sim: httpx.Client) -> None:
    # given: a first pull
    first = set_stock(sim, line("TEE-1", on_hand=12, unit_cost="4.2500"), line("MUG-1"))
    pull(erp)
    drain()
    # when: one figure changes, then two more pulls
    second = set_stock(sim, line("TEE-1", on_hand=9))
    again = pull(erp)
    drain()
    idle = pull(erp)
    # then: the second reads past the watermark (exclusive), the third finds nothing
    assert [q.get("updated_since") for q in stock_queries(sim)] == [None, first, second]
    assert (again.counts["lines"], again.counts["stored"]) == (1, 1)
    assert idle.counts == {"requests": 1, "lines": 0, "stored": 0, "duplicate": 0}
    assert positions() == {("TEE-1", "WH-1"): 9, ("MUG-1", "WH-1"): 5}
    assert InboundEvent.objects.filter(topic=STOCK_PAGE).count() == 2
    tee = SKU.objects.get(code="TEE-1")
    assert tee.cost_amount == Decimal("4.2500")  # a line without a cost keeps it
    assert tee.history.count() == 2  # created, then the one cost change
    assert watermark(erp) == second


@pytest.mark.django_db
def test_pull_stock_a_page_read_again_is_one_event(erp: Connection, sim: httpx.Client) -> None:
    # given
    set_stock(sim, line("TEE-1"))
    pull(erp)
    SyncCursor.objects.filter(connection=erp).update(watermark=None)  # as if it had not moved
    # when
    run = pull(erp)
    # then
    assert (run.counts["stored"], run.counts["duplicate"]) == (0, 1)
    assert InboundEvent.objects.filter(topic=STOCK_PAGE).count() == 1


@pytest.mark.django_db
def test_pull_stock_pages_past_each_page_newest_but_one(erp: Connection, sim: httpx.Client) -> None:
    # given: four postings, four updated_at
    stamps = [
        set_stock(sim, line(sku, location))
        for sku, location in [("TEE-1", "WH-1"), ("MUG-1", "WH-1"), ("TEE-1", "WH-2")]
    ]
    stamps.append(set_stock(sim, line("MUG-1", "WH-2")))
    # when
    run = pull(erp, per_page=2)
    drain()
    # then: each request asks from page 1 past the previous page's newest but one
    assert [(q.get("updated_since"), q["page"]) for q in stock_queries(sim)] == [
        (None, "1"),
        (stamps[0], "1"),
        (stamps[1], "1"),
    ]
    assert run.counts == {"requests": 3, "lines": 6, "stored": 3, "duplicate": 0}
    assert len(positions()) == 4
    assert watermark(erp) == stamps[3]


@pytest.mark.django_db
def test_pull_stock_pages_by_number_through_one_updated_at(
    erp: Connection, sim: httpx.Client
) -> None:
    # given: one posting of three figures (one updated_at), then three more postings
    bulk = set_stock(sim, line("CAP-1"), line("CAP-1", "WH-2"), line("MUG-1"))
    later = [set_stock(sim, item) for item in (line("MUG-1", "WH-2"), line("TEE-1"))]
    last = set_stock(sim, line("TEE-1", "WH-2", on_hand=1))
    # when
    run = pull(erp, per_page=2)
    drain()
    # then: page 2 of the tie, then past it, then as usual
    assert [(q.get("updated_since"), q["page"]) for q in stock_queries(sim)] == [
        (None, "1"),
        (None, "2"),
        (bulk, "1"),
        (later[0], "1"),
    ]
    assert run.counts == {"requests": 4, "lines": 8, "stored": 4, "duplicate": 0}
    assert len(positions()) == 6
    assert positions()[("TEE-1", "WH-2")] == 1
    assert watermark(erp) == last


@pytest.mark.django_db
def test_pull_stock_a_figure_changed_while_reading_skips_none(
    erp: Connection, sim: httpx.Client, monkeypatch: pytest.MonkeyPatch
) -> None:
    # given: four figures, four updated_at; the first changes right after the first page
    for sku, location in [
        ("TEE-1", "WH-1"),
        ("MUG-1", "WH-1"),
        ("TEE-1", "WH-2"),
        ("MUG-1", "WH-2"),
    ]:
        set_stock(sim, line(sku, location))
    real_fetch = tasks.fetch_page
    calls = []

    def fetch_while_the_erp_posts(*args: Any, **kwargs: Any) -> dict[str, Any]:
        body = real_fetch(*args, **kwargs)
        calls.append(kwargs["page"])
        if len(calls) == 1:
            set_stock(sim, line("TEE-1", on_hand=99))
        return body

    monkeypatch.setattr(tasks, "fetch_page", fetch_while_the_erp_posts)
    # when
    pull(erp, per_page=2)
    drain()
    # then: paging by number (page 2 of the same query) would have skipped TEE-1 at WH-2
    assert positions() == {
        ("TEE-1", "WH-1"): 99,
        ("MUG-1", "WH-1"): 5,
        ("TEE-1", "WH-2"): 5,
        ("MUG-1", "WH-2"): 5,
    }


# --- bad lines: dead letter with the exact text, nothing applied ----------------------------------
def _stale() -> str:
    moment = (timezone.now() - timedelta(days=2)).replace(microsecond=0)
    return moment.isoformat()


@pytest.mark.parametrize(
    ("bad", "problem"),
    [
        (line("MUG-1", on_hand=-2), "line 2: 'MUG-1' at 'WH-1': on-hand -2 is negative"),
        (line("NOPE-9"), "line 2: 'NOPE-9' at 'WH-1': unknown SKU"),
        (line("MUG-1", "WH-9"), "line 2: 'MUG-1' at 'WH-9': unknown location"),
        (
            line("MUG-1", on_hand=2.5),
            "line 2: 'MUG-1' at 'WH-1': on-hand '2.5' is not a whole number",
        ),
        (
            line("MUG-1", unit_cost="abc"),
            "line 2: 'MUG-1' at 'WH-1': unit_cost 'abc' is not a decimal amount",
        ),
        (
            line("MUG-1", unit_cost="-1.00"),
            "line 2: 'MUG-1' at 'WH-1': unit_cost '-1.00' is negative",
        ),
        (
            line("MUG-1", unit_cost=12.5),
            "line 2: 'MUG-1' at 'WH-1': unit_cost 12.5 is not a decimal string",
        ),
        (
            line("MUG-1", unit_cost="1.23456"),
            "line 2: 'MUG-1' at 'WH-1': unit_cost '1.23456' has more than 4 decimals",
        ),
    ],
)
@pytest.mark.django_db
def test_pull_stock_bad_line_dead_letters_the_page(
    erp: Connection, sim: httpx.Client, bad: dict[str, Any], problem: str
) -> None:
    # given: a good line (with a cost) and a bad one after it, in one page
    set_stock(sim, line("TEE-1", unit_cost="4.0000"))
    set_stock(sim, bad)
    # when
    run = pull(erp)
    drain()
    # then: the page is stored (the watermark moves), dead-lettered with the text, nothing applied
    assert run.status == SyncRun.Status.SUCCEEDED
    (event,) = InboundEvent.objects.filter(topic=STOCK_PAGE)
    assert (event.status, event.error) == (InboundStatus.FAILED, REFUSED + problem)
    exception = OpsException.objects.get(dedupe_key=f"inbound:{event.pk}")
    assert (exception.type, exception.detail) == (ExceptionType.DEAD_LETTER, REFUSED + problem)
    assert exception.money_at_risk_amount == 0
    assert positions() == {}
    assert SKU.objects.get(code="TEE-1").cost_amount == Decimal(0)


@pytest.mark.django_db
def test_pull_stock_stale_line_dead_letters_the_page(erp: Connection, sim: httpx.Client) -> None:
    # given: a count two days old (the ERP's freshness SLA: a day without a rule)
    as_of = _stale()
    set_stock(sim, line("TEE-1"))
    set_stock(sim, line("MUG-1", as_of=as_of))
    # when
    pull(erp)
    drain()
    # then
    (event,) = InboundEvent.objects.filter(topic=STOCK_PAGE)
    assert event.error == (
        f"{REFUSED}line 2: 'MUG-1' at 'WH-1': stale: as of {as_of} (2880 min old; the "
        "freshness SLA is 1440 min)"
    )
    assert positions() == {}


@pytest.mark.django_db
def test_pull_stock_every_bad_line_is_named(erp: Connection, sim: httpx.Client) -> None:
    # given: one posting, served by SKU then location
    set_stock(sim, line("TEE-1", on_hand=-1), line("MUG-1", "WH-9"), line("MUG-1", "WH-2"))
    # when
    pull(erp)
    drain()
    # then
    (event,) = InboundEvent.objects.filter(topic=STOCK_PAGE)
    assert event.error == (
        f"{REFUSED}line 2: 'MUG-1' at 'WH-9': unknown location; "
        "line 3: 'TEE-1' at 'WH-1': on-hand -1 is negative"
    )
    assert positions() == {}


@pytest.mark.django_db
def test_stock_page_replayed_edited_applies(
    erp: Connection, sim: httpx.Client, ops_user: Any
) -> None:
    # given: a dead-lettered page
    set_stock(sim, line("TEE-1", on_hand=-1))
    pull(erp)
    drain()
    (event,) = InboundEvent.objects.filter(topic=STOCK_PAGE)
    # when: ops replay it with the figure corrected
    body = event.body.replace('"on_hand":-1', '"on_hand":1')
    with acting_as(ops_user):
        replay_inbound_event(event, body=body, reason="the ERP confirmed 1 on the shelf")
    drain()
    # then: applied, and the dead letter closed
    assert positions() == {("TEE-1", "WH-1"): 1}
    assert not OpsException.objects.open().filter(dedupe_key=f"inbound:{event.pk}").exists()


@pytest.mark.parametrize(
    ("results", "error"),
    [
        (
            [5, {"location": "WH-1", "on_hand": 1, "as_of": "soon"}],
            f"{REFUSED}line 1: must be an object, not int; line 2: (missing) at 'WH-1': sku must "
            "be a non-empty string, as_of 'soon' is not an ISO 8601 time",
        ),
        ({"sku": "TEE-1"}, "results: must be a list"),
    ],
)
@pytest.mark.django_db
def test_stock_page_replayed_hostile_is_refused_whole(
    erp: Connection, sim: httpx.Client, ops_user: Any, results: Any, error: str
) -> None:
    # given: a page applied, then replayed by a person with hostile lines
    set_stock(sim, line("TEE-1", on_hand=4))
    pull(erp)
    drain()
    (event,) = InboundEvent.objects.filter(topic=STOCK_PAGE)
    # when
    with acting_as(ops_user):
        replay = replay_inbound_event(
            event, body={"object": "stock_page", "results": results}, reason="testing the ERP"
        )
    drain()
    # then
    replay.refresh_from_db()
    assert (replay.status, replay.error) == (InboundStatus.FAILED, error)
    assert positions() == {("TEE-1", "WH-1"): 4}


# --- the ERP failing -----------------------------------------------------------------------------
@pytest.mark.django_db
def test_pull_stock_erp_5xx_fails_the_run_and_keeps_the_watermark(
    erp: Connection, sim: httpx.Client
) -> None:
    # given: a first pull, a new figure, and an ERP answering 503
    first = set_stock(sim, line("TEE-1"))
    pull(erp)
    set_stock(sim, line("MUG-1"))
    sim.post("/_sim/faults", json={"fail_next": 1, "fail_status": 503})
    # when
    failed = pull(erp)
    # then
    assert failed.status == SyncRun.Status.FAILED
    assert failed.error == (
        'StockReadError: GET /api/v1/stock page 1 answered HTTP 503: {"error": "simulated failure"}'
    )
    assert failed.finished_at is not None
    assert watermark(erp) == first
    assert InboundEvent.objects.filter(topic=STOCK_PAGE).count() == 1
    # and the next run catches up
    assert pull(erp).counts["stored"] == 1


@pytest.mark.django_db
def test_pull_stock_5xx_mid_run_keeps_the_pages_stored(
    erp: Connection, sim: httpx.Client, monkeypatch: pytest.MonkeyPatch
) -> None:
    # given: three figures, three updated_at; the ERP fails from the second request on
    stamps = [set_stock(sim, line(sku)) for sku in ("TEE-1", "MUG-1")]
    stamps.append(set_stock(sim, line("TEE-1", "WH-2")))
    real_fetch = tasks.fetch_page

    def fetch_then_fail(*args: Any, **kwargs: Any) -> dict[str, Any]:
        body = real_fetch(*args, **kwargs)
        sim.post("/_sim/faults", json={"fail_next": 1, "fail_status": 502})
        return body

    monkeypatch.setattr(tasks, "fetch_page", fetch_then_fail)
    # when
    run = pull(erp, per_page=2)
    # then: the watermark moved over the stored page only
    assert run.status == SyncRun.Status.FAILED
    assert (run.counts["requests"], run.counts["stored"]) == (1, 1)
    assert watermark(erp) == stamps[0]


@pytest.mark.django_db
def test_pull_stock_erp_down_fails_the_run(catalog: dict[str, Any]) -> None:
    # given: nothing listens there
    erp = erp_connection(base_url=f"http://127.0.0.1:{free_port()}")
    # when
    run = pull(erp)
    # then
    assert run.status == SyncRun.Status.FAILED
    assert run.error.startswith("ConnectError: ")
    assert watermark(erp) is None
    assert not InboundEvent.objects.exists()


@pytest.mark.django_db
def test_pull_stock_bad_updated_at_fails_the_run_after_storing(
    erp: Connection, sim: httpx.Client, erp_simulator: Any
) -> None:
    # given: an ERP serving a line whose updated_at is not a time
    set_stock(sim, line("TEE-1"))
    real_rows = erp_simulator.stock_rows

    def rows(since: Any = None) -> list[dict[str, Any]]:
        served = real_rows(since)
        for row in served:
            row["updated_at"] = "later"
        return served

    erp_simulator.stock_rows = rows
    # when
    run = pull(erp)
    drain()
    # then: the page is kept and applied; the run fails naming the line; no watermark
    assert run.status == SyncRun.Status.FAILED
    assert run.error == (
        "StockReadError: page 1 line 1.updated_at: 'later' is not an ISO 8601 time with a time "
        "zone (the watermark cannot move past it)"
    )
    assert watermark(erp) is None
    assert positions() == {("TEE-1", "WH-1"): 5}


# --- the task ------------------------------------------------------------------------------------
@pytest.mark.django_db
def test_erp_pull_stock_task_pulls_every_enabled_erp(erp: Connection, sim: httpx.Client) -> None:
    # given
    from controltower.celery import app

    set_stock(sim, line("TEE-1"))
    erp_connection(base_url="http://127.0.0.1:9", slug="erp-off", enabled=False)
    # when
    results = tasks.pull_stock()
    # then
    assert results == {
        "erp-main": {
            "status": "succeeded",
            "requests": 1,
            "lines": 1,
            "stored": 1,
            "duplicate": 0,
        }
    }
    assert app.tasks[tasks.PULL_STOCK].name == "erp.pull_stock"
    assert settings.CELERY_BEAT_SCHEDULE["erp.pull_stock"]["task"] == "erp.pull_stock"


# --- the catalog's cost service ------------------------------------------------------------------
@pytest.mark.django_db
def test_set_sku_costs_writes_only_what_differs(catalog: dict[str, Any]) -> None:
    from controltower.catalog.services import set_sku_costs

    # when
    with acting_as("sync.erp"):
        first = set_sku_costs({"TEE-1": Decimal("3.5"), "MUG-1": Decimal(0)})
        again = set_sku_costs({"TEE-1": Decimal("3.5000")})
    # then
    assert (first, again) == (1, 0)
    assert SKU.objects.get(code="TEE-1").history.count() == 2


@pytest.mark.parametrize(
    ("costs", "error"),
    [
        (
            {"TEE-1": Decimal("-1"), "NOPE": Decimal(1)},
            "SKU costs refused, nothing written: 'TEE-1': -1 is not a unit cost; "
            "'NOPE': unknown SKU",
        ),
        (
            {"TEE-1": Decimal("1.00001")},
            "SKU costs refused, nothing written: 'TEE-1': 1.00001 has more than 4 decimals",
        ),
        (
            {"TEE-1": Decimal("NaN")},
            "SKU costs refused, nothing written: 'TEE-1': NaN is not a unit cost",
        ),
    ],
)
@pytest.mark.django_db
def test_set_sku_costs_refuses_bad_costs_whole(
    catalog: dict[str, Any], costs: dict[str, Decimal], error: str
) -> None:
    from controltower.catalog.services import set_sku_costs

    # when
    with acting_as("sync.erp"), pytest.raises(ValueError) as refused:
        set_sku_costs({"MUG-1": Decimal(2), **costs})
    # then
    assert str(refused.value) == error
    assert set(SKU.objects.values_list("cost_amount", flat=True)) == {Decimal(0)}
    with acting_as("sync.erp"), pytest.raises(TypeError, match="must be a Decimal, not float"):
        set_sku_costs({"TEE-1": 1.5})  # type: ignore[dict-item]
