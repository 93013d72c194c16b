"""The ERP item feed end to end over real HTTP: ``erp.pull_prices`` reads the ERP simulator's
``GET /api/v1/items`` with a watermark, stores each page in the inbox, and the ERP's inbound
handler sets the SKUs' base prices and tax classes through the catalog — where the price policy
is checked at once. Bad input (a negative price, an unknown SKU, a tax class nobody charges, a
number for a price) dead-letters the page with every bad line named, and nothing is applied."""

from __future__ import annotations

import time
from collections.abc import Iterator
from decimal import Decimal
from typing import Any

import httpx
import pytest

from controltower.catalog.models import SKU, Channel, ChannelPrice
from controltower.core.context import acting_as
from controltower.core.writepath import service_scope
from controltower.exceptions.choices import ExceptionType
from controltower.exceptions.models import OpsException
from integrations.erp import tasks
from integrations.erp.prices import ITEMS_PAGE, REFUSED
from integrations.runtime.actions import replay_inbound_event
from integrations.runtime.choices import InboundStatus
from integrations.runtime.inbox import claim_inbound, process_inbound_event
from integrations.runtime.models import Connection, InboundEvent, SyncCursor, SyncRun
from tests.factories.catalog import ChannelFactory, SKUFactory
from tests.factories.integrations import erp_connection


@pytest.fixture
def erp(db: None, erp_simulator: Any) -> Connection:
    for code in ("TEE-1", "MUG-1"):
        SKUFactory(code=code, currency="EUR")
    return erp_connection(base_url=erp_simulator.url)


@pytest.fixture
def sim(erp_simulator: Any) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=erp_simulator.url, timeout=5) as client:
        yield client


def set_items(sim: httpx.Client, *items: dict[str, Any]) -> str:
    response = sim.post("/_sim/items", json={"items": list(items)})
    assert response.status_code == 200, response.text
    time.sleep(0.003)
    return response.json()["updated_at"]


def item(sku: str, price: Any = "20.00", tax_class: Any = "standard", **extra: Any) -> dict:
    return {"sku": sku, "price": price, "tax_class": tax_class, **extra}


def pull(connection: Connection, **options: Any) -> SyncRun:
    with acting_as("sync.erp"):
        return tasks.pull_prices_of(connection, **options)


def drain() -> None:
    while ids := claim_inbound(50):
        for event_id in ids:
            process_inbound_event(event_id)


def prices() -> dict[str, tuple[Decimal | None, str]]:
    return {s.code: (s.erp_price_amount, s.erp_tax_class) for s in SKU.objects.order_by("code")}


def watermark(connection: Connection) -> str | None:
    cursor = SyncCursor.objects.filter(connection=connection, name=tasks.PULL_ITEMS).first()
    if cursor is None or cursor.watermark is None:
        return None
    return cursor.watermark.isoformat(timespec="milliseconds").replace("+00:00", "Z")


# --- the feed ------------------------------------------------------------------------------------
@pytest.mark.django_db
def test_pull_prices_sets_base_prices_and_tax_classes_over_http(
    erp: Connection, sim: httpx.Client
) -> None:
    # given
    stamp = set_items(sim, item("TEE-1", "19.90"), item("MUG-1", "8.50", "reduced-rate"))
    # when
    run = pull(erp)
    drain()
    # then
    assert (run.status, run.counts) == (
        SyncRun.Status.SUCCEEDED,
        {"requests": 1, "lines": 2, "stored": 1, "duplicate": 0},
    )
    assert prices() == {
        "MUG-1": (Decimal("8.5000"), "reduced-rate"),
        "TEE-1": (Decimal("19.9000"), "standard"),
    }
    (event,) = InboundEvent.objects.filter(topic=ITEMS_PAGE)
    assert event.status == InboundStatus.PROCESSED
    change = SKU.objects.get(code="TEE-1").history.first()
    assert change.history_user.username == "sync.erp"
    assert change.history_change_reason == (
        "ERP items page 1 from erp:erp-main: price None → 19.9000, tax ∅ → standard"
    )
    assert watermark(erp) == stamp


@pytest.mark.django_db
def test_pull_prices_second_pull_reads_past_the_watermark(
    erp: Connection, sim: httpx.Client
) -> None:
    # given
    first = set_items(sim, item("TEE-1", "19.90"), item("MUG-1"))
    pull(erp)
    drain()
    # when
    set_items(sim, item("TEE-1", "21.00"))
    again = pull(erp)
    drain()
    # then
    queries = [r["query"] for r in sim.get("/_sim/requests").json() if r["path"] == "/api/v1/items"]
    assert [q.get("updated_since") for q in queries] == [None, first]
    assert again.counts["lines"] == 1
    assert prices()["TEE-1"] == (Decimal("21.0000"), "standard")
    assert SKU.objects.get(code="TEE-1").history.count() == 3  # created, two price changes


@pytest.mark.django_db
def test_pull_prices_opens_a_breach_for_a_storefront_price_under_the_floor(
    erp: Connection, sim: httpx.Client
) -> None:
    # given: the web store sells TEE-1 at 15.00 (no rule: no discount allowed)
    web = ChannelFactory(code="web")
    tee = SKU.objects.get(code="TEE-1")
    with service_scope():
        ChannelPrice.objects.create(
            sku=tee,
            channel=web,
            currency="EUR",
            price_amount=Decimal("15.00"),
            regular_price_amount=Decimal("15.00"),
            tax_class="standard",
        )
    # when: the ERP says 20.00
    set_items(sim, item("TEE-1", "20.00"))
    pull(erp)
    drain()
    # then
    (exc,) = OpsException.objects.open()
    assert exc.type == ExceptionType.PRICE_BELOW_FLOOR
    assert exc.title == "Price below floor: TEE-1 on web at 15.00 (floor 20.00)"
    assert Channel.objects.count() == 1


# --- bad input -----------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("bad", "problem"),
    [
        (item("MUG-1", "-5.00"), "line 2: 'MUG-1': price '-5.00' is negative"),
        (item("MUG-1", 8.5), "line 2: 'MUG-1': price 8.5 is not a decimal string"),
        (item("MUG-1", "cheap"), "line 2: 'MUG-1': price 'cheap' is not a decimal amount"),
        (item("MUG-1", "1.23456"), "line 2: 'MUG-1': price '1.23456' has more than 4 decimals"),
        (item("MUG-1", tax_class=""), "line 2: 'MUG-1': tax_class must be a non-empty string"),
        (item("MUG-1", currency="euro"), "line 2: 'MUG-1': currency 'euro' is not a 3-letter code"),
    ],
)
@pytest.mark.django_db
def test_pull_prices_bad_line_dead_letters_the_page(
    erp: Connection, sim: httpx.Client, bad: dict[str, Any], problem: str
) -> None:
    # given: a good line and a bad one, in one page
    set_items(sim, item("TEE-1", "19.90"))
    set_items(sim, bad)
    # when
    run = pull(erp)
    drain()
    # then: stored (the watermark moves), dead-lettered with the text, nothing applied
    assert run.status == SyncRun.Status.SUCCEEDED
    (event,) = InboundEvent.objects.filter(topic=ITEMS_PAGE)
    assert (event.status, event.error) == (InboundStatus.FAILED, REFUSED + problem)
    exception = OpsException.objects.get(dedupe_key=f"inbound:{event.pk}")
    assert (exception.type, exception.detail) == (ExceptionType.DEAD_LETTER, REFUSED + problem)
    assert prices() == {"MUG-1": (None, ""), "TEE-1": (None, "")}


@pytest.mark.django_db
def test_pull_prices_unknown_sku_and_tax_class_are_refused_by_the_domain(
    erp: Connection, sim: httpx.Client
) -> None:
    # given
    set_items(sim, item("TEE-1", "19.90", "luxury"), item("NOPE-9"), item("MUG-1"))
    # when
    pull(erp)
    drain()
    # then: every bad line named, nothing applied (not even MUG-1's good line)
    (event,) = InboundEvent.objects.filter(topic=ITEMS_PAGE)
    assert event.error == (
        "ERP prices refused, nothing written: 'TEE-1': unknown tax class 'luxury' (known: "
        "reduced-rate, standard, zero-rate); 'NOPE-9': unknown SKU"
    )
    assert OpsException.objects.open().get().type == ExceptionType.DEAD_LETTER
    assert prices() == {"MUG-1": (None, ""), "TEE-1": (None, "")}


@pytest.mark.django_db
def test_items_page_replayed_edited_applies(
    erp: Connection, sim: httpx.Client, ops_user: Any
) -> None:
    # given: a dead-lettered page
    set_items(sim, item("TEE-1", "-19.90"))
    pull(erp)
    drain()
    (event,) = InboundEvent.objects.filter(topic=ITEMS_PAGE)
    # when: ops replay it with the sign fixed
    body = event.body.replace('"price":"-19.90"', '"price":"19.90"')
    with acting_as(ops_user):
        replay_inbound_event(event, body=body, reason="the ERP confirmed 19.90")
    drain()
    # then
    assert prices()["TEE-1"] == (Decimal("19.9000"), "standard")
    assert not OpsException.objects.open().filter(dedupe_key=f"inbound:{event.pk}").exists()


@pytest.mark.django_db
def test_pull_prices_erp_failure_fails_the_run(erp: Connection, sim: httpx.Client) -> None:
    # given
    set_items(sim, item("TEE-1"))
    sim.post("/_sim/faults", json={"fail_next": 1, "fail_status": 503})
    # when
    run = pull(erp)
    # then
    assert run.status == SyncRun.Status.FAILED
    assert run.error.startswith("ItemReadError: GET /api/v1/items page 1 answered HTTP 503")
    assert watermark(erp) is None


@pytest.mark.django_db
def test_items_feed_needs_the_bearer_token(sim: httpx.Client) -> None:
    # when
    response = sim.get("/api/v1/items")
    # then
    assert response.status_code == 401
    assert response.json() == {"error": "unauthorized"}


def test_pull_prices_task_is_registered_and_scheduled() -> None:
    from django.conf import settings

    from controltower.celery import app

    assert app.tasks[tasks.PULL_PRICES].name == "erp.pull_prices"
    assert settings.CELERY_BEAT_SCHEDULE["erp.pull_prices"]["schedule"] == 900.0


@pytest.mark.django_db
def test_sim_items_validates_its_shape(sim: httpx.Client) -> None:
    # when
    empty = sim.post("/_sim/items", json={"items": []})
    no_price = sim.post("/_sim/items", json={"items": [{"sku": "TEE-1"}]})
    # then
    assert empty.json() == {
        "error": "validation failed",
        "fields": {"items": "must be a non-empty list"},
    }
    assert no_price.json()["fields"] == {"items[0].price": "this field is required"}
