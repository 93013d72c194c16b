"""Two channels sell the last unit at the same instant, in two real PostgreSQL transactions: only
one reserves it; the other is an oversell with the quantity short."""

from __future__ import annotations

import threading
import time

import pytest
from django.db import connection, transaction

from controltower.core.context import service_user
from controltower.exceptions.choices import ExceptionType
from controltower.exceptions.models import OpsException
from controltower.inventory.choices import ReservationStatus
from controltower.inventory.models import Reservation
from controltower.orders.models import ChannelStatusMapping, Order
from tests.controltower.inventory.support import allocate, ats, report, sku, warehouse
from tests.factories.catalog import ChannelFactory
from tests.factories.integrations import web_channel
from tests.factories.lifecycle import TEE, web_order


@pytest.mark.django_db(transaction=True)
def test_the_last_unit_is_reserved_once_when_two_channels_sell_it_at_the_same_instant():
    web = web_channel()
    outlet = ChannelFactory(code="outlet", name="Outlet store")
    for mapping in ChannelStatusMapping.objects.filter(channel=web):
        ChannelStatusMapping.objects.get_or_create(
            channel=outlet, channel_status=mapping.channel_status, defaults={"state": mapping.state}
        )
    wh, tee = warehouse(), sku(TEE)
    allocate(web, wh)
    allocate(outlet, wh)
    report("wms", tee, wh, 1)
    service_user("sync.woocommerce")  # exists in production: not a row the sales contend for

    first_reserved = threading.Event()
    let_first_commit = threading.Event()
    finished: dict[str, float] = {}
    errors: list[BaseException] = []

    def sell_on_web() -> None:
        try:
            with transaction.atomic():
                web_order(2001, lines=[(TEE, 1, "10.00")], channel=web)
                first_reserved.set()
                let_first_commit.wait(10)
            finished["web"] = time.monotonic()
        except BaseException as exc:  # surfaced by the assertion below
            errors.append(exc)
            first_reserved.set()
        finally:
            connection.close()

    def sell_in_outlet() -> None:
        try:
            first_reserved.wait(10)
            web_order(2002, lines=[(TEE, 1, "10.00")], channel=outlet)
            finished["outlet"] = time.monotonic()
        except BaseException as exc:
            errors.append(exc)
        finally:
            connection.close()

    threads = [threading.Thread(target=sell_on_web), threading.Thread(target=sell_in_outlet)]
    for thread in threads:
        thread.start()
    first_reserved.wait(10)
    time.sleep(0.5)  # the outlet's transaction is waiting on the SKU's lock by now
    assert "outlet" not in finished, "the second sale did not wait for the first"
    committed_at = time.monotonic()
    let_first_commit.set()
    for thread in threads:
        thread.join(20)
    assert not errors, errors
    assert finished["outlet"] >= committed_at

    reserved = Reservation.objects.filter(sku=tee, status=ReservationStatus.OPEN)
    assert [(r.order_line.order.channel.code, r.quantity) for r in reserved] == [("web", 1)]
    oversell = OpsException.objects.get(type=ExceptionType.OVERSELL)
    outlet_order = Order.objects.get(channel=outlet)
    assert oversell.title == f"{outlet_order}: {TEE} oversold by 1"
    assert ats(tee, web) == ats(tee, outlet) == 0
