"""Releases and their withdrawal, delivered by a real Celery worker to the WMS simulator over
HTTP under its faults: one release per order whatever fails on the way, a cancel that lands
while the release waits, and one that comes too late and is handed to a person."""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from controltower.exceptions.models import OpsException
from controltower.orders.choices import FulfilmentStatus
from controltower.orders.models import Order
from controltower.orders.services import cancel_order
from integrations.runtime.models import OutboundMessage
from integrations.wms.adapter import RELEASE_CANCEL, RELEASE_CREATE
from tests.conftest import wait_for
from tests.integrations.wms.conftest import (
    SLUG,
    WMS_TOKEN,
    make_order,
    make_release_ready,
    sim_post,
    sim_releases,
    wms_connection,
)

F = FulfilmentStatus


def faults(sim: Any, **plan: Any) -> None:
    assert sim_post(sim, "/_sim/faults", plan).status_code == 200


def codes(message: OutboundMessage) -> list[int | None]:
    return list(message.attempt_log.order_by("number").values_list("status_code", flat=True))


def fulfilment(order: Order, status: str) -> Any:
    def check() -> bool:
        return Order.objects.filter(pk=order.pk, fulfilment_status=status).exists()

    check.__doc__ = f"order {order.number} is {status}"
    return check


@pytest.mark.django_db
def test_release_ready_order_queues_one_release_with_its_open_lines(
    django_capture_on_commit_callbacks: Any,
) -> None:
    # given
    wms_connection()
    # when
    with django_capture_on_commit_callbacks(execute=False):
        order = make_release_ready(make_order())
    # then
    message = OutboundMessage.objects.get(kind=RELEASE_CREATE)
    assert message.idempotency_key == f"wms:{SLUG}:release:{order.correlation_id}"
    assert message.payload == {
        "external_ref": "web-1001",
        "correlation_id": str(order.correlation_id),
        "sales_order": "SO-1001",
        "warehouse": "AMS1",
        "ship_to": {"name": "Anna de Vries", "country": "NL"},
        "lines": [
            {"line_number": 1, "sku": "NW-TEE-001-BLK-M", "quantity": 2},
            {"line_number": 2, "sku": "NW-CAP-002-NAV-OS", "quantity": 1},
        ],
    }
    assert order.fulfilment_status == F.RELEASE_REQUESTED


@pytest.mark.slow
@pytest.mark.django_db(transaction=True)
def test_release_is_created_and_recorded(celery_worker, wms_simulator) -> None:
    # given
    wms_connection(base_url=wms_simulator.url)
    # when
    order = make_release_ready(make_order())
    # then
    wait_for(fulfilment(order, F.RELEASED), timeout=30)
    (held,) = sim_releases(wms_simulator)
    order.refresh_from_db()
    assert order.wms_reference == held["id"] == "REL-000001"
    assert (held["external_ref"], held["sales_order"], held["warehouse"]) == (
        "web-1001",
        "SO-1001",
        "AMS1",
    )
    assert held["request_correlation_id"] == str(order.correlation_id)
    assert [(x["line_number"], x["quantity"]) for x in held["lines"]] == [(1, 2), (2, 1)]
    assert order.lines.get(line_number=1).quantity_released == 2


@pytest.mark.slow
@pytest.mark.django_db(transaction=True)
def test_release_the_warehouse_already_holds_is_the_same_outcome(
    celery_worker, wms_simulator
) -> None:
    # given: the warehouse already holds web-1001 (made by an earlier attempt under another key)
    connection = wms_connection(base_url=wms_simulator.url, enabled=False)
    order = make_release_ready(make_order())
    payload = OutboundMessage.objects.get(kind=RELEASE_CREATE).payload
    made = httpx.post(
        f"{wms_simulator.url}/api/v1/releases",
        json=payload,
        headers={"Authorization": f"Bearer {WMS_TOKEN}", "Idempotency-Key": "other-key"},
    )
    assert made.status_code == 201
    # when
    connection.enabled = True
    connection.save(update_fields=["enabled", "updated_at"])
    # then: the 409 names it, and that is recorded
    wait_for(fulfilment(order, F.RELEASED), timeout=30)
    message = OutboundMessage.objects.get(kind=RELEASE_CREATE)
    assert codes(message) == [409]
    assert message.status == "delivered"
    order.refresh_from_db()
    assert order.wms_reference == made.json()["id"]
    assert len(sim_releases(wms_simulator)) == 1


@pytest.mark.slow
@pytest.mark.django_db(transaction=True)
def test_release_through_429_and_5xx_is_retried_and_made_once(celery_worker, wms_simulator) -> None:
    # given
    wms_connection(base_url=wms_simulator.url)
    faults(wms_simulator, rate_limit_next=1, retry_after=1, fail_next=2, fail_status=503)
    # when
    order = make_release_ready(make_order())
    # then
    wait_for(fulfilment(order, F.RELEASED), timeout=40)
    message = OutboundMessage.objects.get(kind=RELEASE_CREATE)
    assert codes(message) == [429, 503, 503, 201]
    assert len(sim_releases(wms_simulator)) == 1
    assert not OpsException.objects.open().exists()


@pytest.mark.slow
@pytest.mark.django_db(transaction=True)
def test_release_timing_out_after_it_was_made_is_not_made_twice(
    celery_worker, wms_simulator
) -> None:
    # given: the warehouse makes the release but answers after our 1 s timeout
    wms_connection(base_url=wms_simulator.url, timeout_s=1)
    faults(wms_simulator, timeout_next=1, timeout_seconds=3)
    # when
    order = make_release_ready(make_order())
    # then: the retry, under the same Idempotency-Key, gets the stored 201
    wait_for(fulfilment(order, F.RELEASED), timeout=30)
    message = OutboundMessage.objects.get(kind=RELEASE_CREATE)
    assert codes(message) == [None, 201]
    assert "Timeout" in message.attempt_log.order_by("number").first().error
    (held,) = sim_releases(wms_simulator)
    order.refresh_from_db()
    assert order.wms_reference == held["id"]


@pytest.mark.slow
@pytest.mark.django_db(transaction=True)
def test_cancel_before_picking_withdraws_the_release(
    celery_worker, wms_simulator, ops_user
) -> None:
    # given
    wms_connection(base_url=wms_simulator.url)
    order = make_release_ready(make_order())
    wait_for(fulfilment(order, F.RELEASED), timeout=30)
    # when
    cancel_order(Order.objects.get(pk=order.pk), actor=ops_user, reason="customer asked")
    # then
    wait_for(fulfilment(order, F.RELEASE_CANCELLED), timeout=30)
    (held,) = sim_releases(wms_simulator)
    assert (held["status"], held["cancel_reason"]) == (
        "cancelled",
        "cancelled here: customer asked",
    )
    assert OutboundMessage.objects.get(kind=RELEASE_CANCEL).status == "delivered"


@pytest.mark.slow
@pytest.mark.django_db(transaction=True)
def test_cancel_after_picking_started_is_dead_lettered_saying_what_remains(
    celery_worker, wms_simulator, ops_user
) -> None:
    # given: released, and the warehouse started picking (we have not heard yet)
    wms_connection(base_url=wms_simulator.url)
    order = make_release_ready(make_order())
    wait_for(fulfilment(order, F.RELEASED), timeout=30)
    order.refresh_from_db()
    assert sim_post(wms_simulator, f"/_sim/releases/{order.wms_reference}/advance", {}).is_success
    # when
    cancel_order(order, actor=ops_user, reason="customer asked")

    # then: one try (a 409 is permanent), a dead letter naming the release, its status and the rest
    def dead() -> bool:
        """the cancel is dead-lettered"""
        return OutboundMessage.objects.filter(kind=RELEASE_CANCEL, status="dead").exists()

    wait_for(dead, timeout=30)
    message = OutboundMessage.objects.get(kind=RELEASE_CANCEL)
    assert codes(message) == [409]
    exception = OpsException.objects.get(type="dead_letter")
    assert "WMS: cancel release" in exception.title
    assert "release REL-000001 is picking and can no longer be cancelled" in exception.detail
    assert "What remains: stop the pick at the warehouse." in exception.detail
    assert sim_releases(wms_simulator)[0]["status"] == "picking"


@pytest.mark.slow
@pytest.mark.django_db(transaction=True)
def test_cancel_while_the_release_waits_in_the_outbox_sends_nothing(
    celery_worker, wms_simulator, ops_user
) -> None:
    # given: the warehouse connection is paused, so the release waits
    connection = wms_connection(base_url=wms_simulator.url, enabled=False)
    order = make_release_ready(make_order())
    cancel_order(order, actor=ops_user, reason="customer asked")
    # when: the connection is switched back on
    connection.enabled = True
    connection.save(update_fields=["enabled", "updated_at"])
    # then: the create is withdrawn, the cancel has nothing to cancel, the warehouse saw nothing
    wait_for(fulfilment(order, F.RELEASE_CANCELLED), timeout=30)

    def settled() -> bool:
        """both messages are delivered"""
        return OutboundMessage.objects.filter(status="delivered").count() == 2

    wait_for(settled, timeout=30)
    assert sim_releases(wms_simulator) == []
    posts = [r for r in wms_simulator.request_log() if r["method"] == "POST"]
    assert [r["path"] for r in posts if r["path"].startswith("/api/")] == []


@pytest.mark.django_db
def test_cancel_waits_while_the_release_create_has_not_settled(
    django_capture_on_commit_callbacks: Any, ops_user
) -> None:
    # given: the release is queued, not yet delivered, and the order is cancelled
    from integrations.wms.adapter import deliver_release_cancel

    wms_connection()
    with django_capture_on_commit_callbacks(execute=False):
        order = make_release_ready(make_order())
        cancel_order(order, actor=ops_user, reason="customer asked")
    cancel = OutboundMessage.objects.get(kind=RELEASE_CANCEL)
    # when: the cancel is tried before the create was
    result = deliver_release_cancel(cancel)
    # then: it waits (a retry soon), and asks the warehouse nothing
    assert (result.ok, result.retryable) == (False, True)
    assert result.error == "waiting for the release create to settle before cancelling"
    assert result.status_code is None
