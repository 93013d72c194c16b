"""The flash sale (issue 18, item 8), on real processes: a real Celery worker and web tier, the
WooCommerce, WMS and POS simulators over HTTP.

A SKU has 5 units at a warehouse, counted by the WMS. A promotion sells it: the shop takes 20
orders of one unit before it hears of any, and its signed ``order.created`` webhooks reach us all
at once. Control Tower must reserve no more than the allocation allows (5), report the other 15
as oversells with the quantity short, and tell the storefront 0 within the publish target (1 s
after the last order is accepted). Then the warehouse confirms picks late — three of the reserved
orders ship seconds after their release, one is cancelled, one waits — and every reservation is
accounted for: open + consumed + released = units reserved, consumed = units shipped.

The same promotion runs in a store: its POS counted 3 units there, the till channel may sell the
store's whole count, and the web none of it (each channel sells from its own location, as a
retailer that does not ship from stores allocates). While the web burst arrives, the tills ring
up 6 one-unit sales of the SKU, their signed ``transaction.completed`` webhooks sent by the POS
simulator to the same web tier. Till sales reserve under the same per-SKU lock as web orders: 3
are reserved and consumed at once (the customer took the goods), the other 3 are oversells with
the quantity short (the shelf held fewer than the count said) — handed over all the same, so
sold at the till = consumed + short. Neither channel takes a unit of the other's allocation.
"""

from __future__ import annotations

import threading
import time
import uuid
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import httpx
import pytest
from django.db.models import Sum

from controltower.catalog.choices import LocationType, SystemKind
from controltower.catalog.models import Location
from controltower.core.context import acting_as
from controltower.core.writepath import service_scope
from controltower.exceptions.choices import ExceptionType
from controltower.exceptions.models import OpsException
from controltower.fulfilment.models import ShipmentLine
from controltower.inventory.choices import ReservationStatus
from controltower.inventory.models import AvailableToSell, ChannelAllocationRule, Reservation
from controltower.orders.choices import FulfilmentStatus
from controltower.orders.models import Order
from controltower.orders.services import cancel_order
from integrations.runtime.models import Connection
from integrations.woocommerce import products
from integrations.woocommerce.client import get_json, request_json, woo_client
from integrations.woocommerce.simulator.common import php_json
from integrations.woocommerce.simulator.server import HOOKSHOT_USER_AGENT, webhook_signature
from tests.conftest import wait_for
from tests.factories import lifecycle
from tests.factories.catalog import LocationFactory
from tests.factories.integrations import WOO_SECRET, woo_connection
from tests.integrations.pos.conftest import POS_SECRET, pos_books, pos_channel
from tests.integrations.pos.conftest import SLUG as POS_SLUG
from tests.integrations.wms.conftest import HOOK, WMS_SECRET, WMS_TOKEN, wms_connection

pytestmark = [pytest.mark.slow, pytest.mark.django_db(transaction=True)]

SKU = "APP-TEE-001"  # the simulator's Organic Cotton Tee, a simple product
PRODUCT_ID = 110
UNITS = 5
ORDERS = 20
STORE, STORE_UNITS, TILL_SALES = "store-01", 3, 6  # the store's POS count; sales at its tills
SHIP, CANCEL = 3, 1  # of the reserved orders; the rest stay open
PUBLISH_TARGET_S = 1.0
# The warehouse picks late: a release waits 2 s before picking starts.
LATE_PICKS = {
    "auto_progress": True,
    "pick_after_s": 2.0,
    "pack_after_s": 0.5,
    "ship_after_s": 0.5,
    "split_shipments": False,
}


@pytest.fixture
def warehouse_sim() -> Iterator[Any]:
    from integrations.wms.simulator import WmsSimulator

    sim = WmsSimulator(token=WMS_TOKEN, config=LATE_PICKS, seed=18, webhook_retry_base_s=0.2)
    sim.serve_in_thread()
    try:
        yield sim
    finally:
        sim.shutdown()


# --- the estate ----------------------------------------------------------------------------------
def store_selling(shop_url: str) -> Connection:
    """The web channel's store with its products pulled (the cross references stock publishing
    uses), allowed enough calls a second that the burst is never held back by our own limit."""
    connection = woo_connection(base_url=shop_url, rate_limit_per_s=100)
    with acting_as("sync.woocommerce"):
        run = products.pull_products(connection)
    assert run.status == "succeeded", run.error
    return connection


@pytest.fixture
def tills() -> Iterator[Any]:
    """The POS simulator's one store (``store-01``, two registers); its endpoint is added in
    the test, once the web tier is up."""
    from integrations.pos.simulator import PosSimulator

    sim = PosSimulator(stores=1, webhook_retry_base_s=0.2)
    sim.serve_in_thread()
    try:
        yield sim
    finally:
        sim.shutdown()


def warehouse_for(connection: Connection) -> Location:
    """A warehouse whose whole stock the web may sell (100 %, no safety stock): 5 counted is 5
    to sell, so the allocation allows exactly 5."""
    warehouse = LocationFactory(code="wh-flash", name="Flash DC", type=LocationType.WAREHOUSE)
    with service_scope():  # an admin's rule, built as the mappings page would
        ChannelAllocationRule.objects.create(
            channel=connection.channel, location=warehouse, percent=100, safety_stock=0
        )
    return warehouse


def store_tills(web_url: str, tills: Any) -> Connection:
    """The POS channel (its status mapping, the books a till sale posts with), its store with
    the till channel allowed the store's whole count (100 %, no safety stock), and the POS
    connection the simulator's signed events reach us through."""
    channel = pos_channel()
    pos_books()
    store = LocationFactory(code=STORE, name="Flash store", type=LocationType.STORE)
    with service_scope():  # an admin's rule, built as the mappings page would
        ChannelAllocationRule.objects.create(
            channel=channel, location=store, percent=100, safety_stock=0
        )
    connection = Connection(
        slug=POS_SLUG, name="Store tills", kind=SystemKind.POS, base_url=tills.url, channel=channel
    )
    connection.set_credentials({"webhook_secret": POS_SECRET})
    connection.save()
    tills.webhooks.add_endpoint(f"{web_url}/hooks/pos/{POS_SLUG}/", POS_SECRET)
    return connection


def till(tills: Any, path: str, payload: dict[str, Any]) -> dict[str, Any]:
    """One ``/_sim/`` control of the POS simulator, over HTTP."""
    response = httpx.post(f"{tills.url}{path}", json=payload, timeout=10)
    assert response.status_code == 201, response.text
    return response.json()


def ring_up(tills: Any, n: int) -> dict[str, Any]:
    """A one-unit sale of the SKU at the store's tills (alternating registers), paid by card."""
    line = {"sku": SKU, "quantity": 1, "unit_price": "25.00"}
    return till(
        tills, "/_sim/sales", {"store": STORE, "register": f"R{n % 2 + 1}", "lines": [line]}
    )


def ats(connection: Connection) -> int:
    return AvailableToSell.objects.get(sku__code=SKU, channel=connection.channel).quantity


def shop_stock(connection: Connection) -> int | None:
    with woo_client(connection) as woo:
        return get_json(woo, f"/products/{PRODUCT_ID}")["stock_quantity"]


def place_orders(connection: Connection, count: int) -> list[int]:
    """The shop takes ``count`` paid orders of one unit (it does not stop at its own stock
    figure: it sells before Control Tower's answer reaches it)."""
    ids = []
    with woo_client(connection) as woo:
        for n in range(count):
            order = request_json(
                woo,
                "POST",
                "/orders",
                json_body={
                    "status": "processing",
                    "set_paid": True,
                    "payment_method": "stripe",
                    "payment_method_title": "Credit card (Stripe)",
                    "billing": {"first_name": "Flash", "last_name": f"Buyer {n}",
                                "email": f"buyer{n}@example.com", "country": "NL"},
                    "line_items": [{"product_id": PRODUCT_ID, "quantity": 1}],
                },
            )  # fmt: skip
            ids.append(order["id"])
    return ids


def webhook(shop: Any, order_id: int) -> tuple[bytes, dict[str, str]]:
    """``order.created`` for ``order_id`` as the store delivers it: its REST rendering, PHP's
    JSON encoding, Hookshot's headers and the HMAC signature."""
    body = php_json(shop.get_order_json(order_id))
    return body, {
        "Content-Type": "application/json",
        "User-Agent": HOOKSHOT_USER_AGENT,
        "X-WC-Webhook-Source": shop.site_url,
        "X-WC-Webhook-Topic": "order.created",
        "X-WC-Webhook-Resource": "order",
        "X-WC-Webhook-Event": "created",
        "X-WC-Webhook-Signature": webhook_signature(WOO_SECRET, body),
        "X-WC-Webhook-ID": "1",
        "X-WC-Webhook-Delivery-ID": uuid.uuid4().hex,
    }


def deliver_at_once(
    url: str, deliveries: list[tuple[bytes, dict[str, str]]], tills: Any, sales: int
) -> tuple[list[Any], list[dict[str, Any]]]:
    """Every web delivery and every till sale from its own thread, released together: the
    store's tills ring up while the shop's webhooks arrive."""
    start = threading.Barrier(len(deliveries) + sales)

    def send(delivery: tuple[bytes, dict[str, str]]) -> Any:
        body, headers = delivery
        start.wait()
        response = httpx.post(url, content=body, headers=headers, timeout=30)
        return response.status_code, response.json()

    def sell(n: int) -> dict[str, Any]:
        start.wait()
        return ring_up(tills, n)

    with ThreadPoolExecutor(max_workers=len(deliveries) + sales) as pool:
        answers = pool.map(send, deliveries)
        receipts = pool.map(sell, range(sales))
        return list(answers), list(receipts)


def oversells(connection: Connection) -> list[OpsException]:
    """The channel's oversell exceptions (their subject is the order)."""
    orders = Order.objects.filter(channel=connection.channel).values_list("pk", flat=True)
    return list(
        OpsException.objects.filter(
            type=ExceptionType.OVERSELL, subject_id__in=[str(pk) for pk in orders]
        ).order_by("pk")
    )


def reserved_units(**filters: Any) -> int:
    held = Reservation.objects.filter(sku__code=SKU, **filters)
    return held.aggregate(n=Sum("quantity"))["n"] or 0


# --- the scenario --------------------------------------------------------------------------------
def test_flash_sale_sells_what_the_allocation_allows_and_accounts_for_every_unit(
    celery_worker: Any,
    web_server: Any,
    woo_simulator: Any,
    warehouse_sim: Any,
    tills: Any,
    ops_user: Any,
) -> None:
    # given: the store, a warehouse with 5 units as its WMS counted them, the store showing 5
    connection = store_selling(woo_simulator.url)
    warehouse = warehouse_for(connection)
    wms_connection(base_url=warehouse_sim.url)
    warehouse_sim.webhooks.add_endpoint(f"{web_server.url}{HOOK}", WMS_SECRET)
    warehouse_sim.set_stock([{"sku": SKU, "location": warehouse.code, "on_hand": UNITS}])
    warehouse_sim.send_snapshot()
    # and: a store whose POS counted 3 units, all of them the tills' to sell
    pos = store_tills(web_server.url, tills)
    till(tills, "/_sim/counts", {"store": STORE, "items": [{"sku": SKU, "on_hand": STORE_UNITS}]})

    def shows_five() -> bool:
        """the storefront shows the 5 units the web may sell, the tills may sell 3"""
        tills_may_sell = AvailableToSell.objects.filter(
            sku__code=SKU, channel=pos.channel, quantity=STORE_UNITS
        ).exists()
        return tills_may_sell and shop_stock(connection) == UNITS

    wait_for(shows_five, timeout=30, interval=0.05)
    assert ats(connection) == UNITS  # the store's units are not the web's

    # when: the promotion: 20 orders taken by the shop, their webhooks reaching us at once,
    # while the store's tills ring up 6 sales of the same SKU
    order_ids = place_orders(connection, ORDERS)
    answers, receipts = deliver_at_once(
        f"{web_server.url}/hooks/woocommerce/{connection.slug}/",
        [webhook(woo_simulator, order_id) for order_id in order_ids],
        tills,
        TILL_SALES,
    )
    assert answers == [(200, {"status": "accepted"})] * ORDERS
    assert len({receipt["id"] for receipt in receipts}) == TILL_SALES

    def all_accepted() -> bool:
        """every web order and till sale accepted: its unit reserved or reported oversold"""
        for channel, count in ((connection, ORDERS), (pos, TILL_SALES)):
            orders = Order.objects.filter(channel=channel.channel)
            held = Reservation.objects.filter(order_line__order__in=orders).count()
            if orders.count() != count or held + len(oversells(channel)) != count:
                return False
        return True

    wait_for(all_accepted, timeout=60, interval=0.02)
    web_orders = Order.objects.filter(channel=connection.channel)
    accepted_at = max(web_orders.values_list("created_at", flat=True)).timestamp()

    def shows_zero() -> bool:
        """the storefront shows 0"""
        return shop_stock(connection) == 0

    wait_for(shows_zero, timeout=15, interval=0.02)
    shown_after = time.time() - accepted_at

    # then: 5 reserved at the warehouse for the web, no more; 15 oversells naming the quantity
    # short; the store told 0 in time
    assert reserved_units(order_line__order__channel=connection.channel) == UNITS
    assert reserved_units(location=warehouse) == UNITS
    assert ats(connection) == 0
    orders = {str(order.pk): order for order in Order.objects.select_related("channel")}
    web_short = oversells(connection)
    assert len(web_short) == ORDERS - UNITS
    for exception in web_short:
        order = orders[exception.subject_id]
        assert exception.title == f"{order}: {SKU} oversold by 1"
        assert exception.context == {"sku": SKU, "short": 1, "available": 0}
        assert not Reservation.objects.filter(order_line__order=order).exists()
    print(f"storefront showed 0 {shown_after:.3f} s after the last order was accepted")
    assert shown_after < PUBLISH_TARGET_S, shown_after
    # and: the tills sold 6: 3 reserved at the store and consumed at once, 3 oversold by 1 each
    store = Location.objects.get(code=STORE)
    till_orders = Order.objects.filter(channel=pos.channel)
    assert sorted(till_orders.values_list("external_id", flat=True)) == sorted(
        f"{STORE}:{receipt['register']}:{receipt['id']}" for receipt in receipts
    )
    assert reserved_units(order_line__order__channel=pos.channel) == STORE_UNITS
    assert reserved_units(location=store) == STORE_UNITS
    assert reserved_units(location=store, status=ReservationStatus.CONSUMED) == STORE_UNITS
    assert ats(pos) == 0
    till_short = oversells(pos)
    assert len(till_short) == TILL_SALES - STORE_UNITS
    for exception in till_short:
        order = orders[exception.subject_id]
        assert exception.title == f"{order}: {SKU} oversold by 1"
        assert exception.context == {"sku": SKU, "short": 1, "available": 0}
        assert not Reservation.objects.filter(order_line__order=order).exists()

    # when: the warehouse confirms picks late — three reserved orders released, one cancelled
    reserved = list(web_orders.filter(lines__reservations__isnull=False).distinct().order_by("pk"))
    assert len(reserved) == UNITS
    shipping, cancelled = reserved[:SHIP], reserved[SHIP : SHIP + CANCEL]
    for order in shipping:
        lifecycle.take_to(order, "registered")  # paid at the gateway, registered by the ERP

    def picking() -> bool:
        """the warehouse holds the three releases, none shipped yet"""
        releases = {r["external_ref"]: r["status"] for r in warehouse_sim.releases()}
        return len(releases) == SHIP and "shipped" not in releases.values()

    wait_for(picking, timeout=30, interval=0.05)
    # then: released but unshipped stock is still held: nothing to sell meanwhile
    assert shop_stock(connection) == 0

    def shipped() -> bool:
        """the three orders are shipped"""
        return (
            Order.objects.filter(
                pk__in=[o.pk for o in shipping], fulfilment_status=FulfilmentStatus.SHIPPED
            ).count()
            == SHIP
        )

    wait_for(shipped, timeout=60)
    cancel_order(cancelled[0], actor=ops_user, reason="customer changed their mind")

    def freed_unit_on_sale() -> bool:
        """the cancelled order's unit is on sale again, and only it"""
        return shop_stock(connection) == 1

    wait_for(freed_unit_on_sale, timeout=15, interval=0.05)

    # then: every reservation accounted for; what was consumed is what shipped from the
    # warehouse and what the tills handed over within the store's count
    by_status = {status: reserved_units(status=status) for status in ReservationStatus}
    shipped_units = (
        ShipmentLine.objects.filter(
            shipment__order__in=shipping, order_line__sku__code=SKU
        ).aggregate(n=Sum("quantity"))["n"]
        or 0
    )
    handed_over = (
        till_orders.filter(lines__sku__code=SKU).aggregate(n=Sum("lines__quantity_shipped"))["n"]
        or 0
    )
    short_at_till = sum(exception.context["short"] for exception in till_short)
    assert by_status == {
        ReservationStatus.OPEN: UNITS - SHIP - CANCEL,
        ReservationStatus.CONSUMED: SHIP + STORE_UNITS,
        ReservationStatus.RELEASED: CANCEL,
    }
    assert sum(by_status.values()) == reserved_units() == UNITS + STORE_UNITS
    assert shipped_units == SHIP
    assert handed_over == TILL_SALES == STORE_UNITS + short_at_till
    assert by_status[ReservationStatus.CONSUMED] == shipped_units + handed_over - short_at_till
    assert ats(connection) == 1
    assert ats(pos) == 0
