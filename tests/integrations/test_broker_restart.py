"""A Redis restart under a real worker: the worker rides it out, orders keep flowing (each once),
and the periodic jobs on beat resume.

The test starts its own throwaway ``redis-server`` (no persistence, so a restart loses every
queued message, as a crashed Redis without AOF would) and points a real web server (daphne), a
real Celery worker and its embedded beat at it; PostgreSQL is the test database as usual.
"""

from __future__ import annotations

import signal
import subprocess
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from unittest import mock

import httpx
import pytest
from django.test import Client

from controltower.engines import free_port
from controltower.orders.choices import OrderState
from controltower.orders.models import Order
from integrations.runtime.models import InboundEvent, OutboundMessage
from tests.conftest import FAST_RETRIES, CeleryWorker, WebServer, wait_for
from tests.factories.integrations import ERP_TOKEN, erp_connection, woo_connection
from tests.factories.woocommerce import body_of, webhook_headers, woo_order

pytestmark = [pytest.mark.slow, pytest.mark.django_db(transaction=True)]

OUTAGE_S = 10.0
OUTAGES = 3


class ThrowawayRedis:
    """A ``redis-server`` of our own on a free port, to SIGKILL and restart on the same port."""

    def __init__(self, workdir: Path) -> None:
        self.port = free_port()
        self.url = f"redis://127.0.0.1:{self.port}/0"
        self.workdir = workdir
        self.process: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        self.process = subprocess.Popen(
            [
                *("redis-server", "--port", str(self.port), "--bind", "127.0.0.1"),
                *("--save", "", "--appendonly", "no", "--dir", str(self.workdir)),
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            try:
                if redis_answers_ping(self.port):
                    return
            except OSError:
                pass
            time.sleep(0.05)
        raise TimeoutError(f"redis-server did not start on port {self.port}")

    def kill(self) -> None:
        """SIGKILL, as a crashed or OOM-killed Redis: no shutdown, no save."""
        assert self.process is not None
        self.process.send_signal(signal.SIGKILL)
        self.process.wait(10)

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.kill()


def redis_answers_ping(port: int) -> bool:
    """PING over a raw socket (no client library state to go stale between restarts)."""
    import socket

    with socket.create_connection(("127.0.0.1", port), timeout=1) as sock:
        sock.sendall(b"PING\r\n")
        return sock.recv(16).startswith(b"+PONG")


@pytest.fixture
def throwaway_redis(tmp_path: Path) -> Iterator[ThrowawayRedis]:
    server = ThrowawayRedis(tmp_path)
    server.start()
    try:
        yield server
    finally:
        server.stop()


class OrderFeed(threading.Thread):
    """Posts signed order webhooks at a steady rate; like WooCommerce, retries an order until
    it is answered 2xx, and records which orders were acknowledged."""

    def __init__(self, url: str, *, first: int, per_s: float = 4.0) -> None:
        super().__init__(daemon=True)
        self.url = url
        self.next_number = first
        self.interval = 1.0 / per_s
        self.acknowledged: list[int] = []
        self.refused = 0
        self._halt = threading.Event()

    def run(self) -> None:
        with httpx.Client(base_url=self.url, timeout=5) as client:
            while not self._halt.is_set():
                number = self.next_number
                body = body_of(woo_order(number))
                try:
                    response = client.post(
                        "/hooks/woocommerce/woo-web/", content=body, headers=webhook_headers(body)
                    )
                    answered = response.status_code == 200
                except httpx.HTTPError:
                    answered = False
                if answered:
                    self.acknowledged.append(number)
                    self.next_number += 1
                else:
                    self.refused += 1
                self._halt.wait(self.interval)

    def stop(self) -> None:
        self._halt.set()
        if self.is_alive():
            self.join(10)


def test_channel_left_open_by_a_dropped_connection_closes_without_crashing(
    throwaway_redis: ThrowawayRedis,
) -> None:
    """The kombu 5.7 fault behind "Unrecoverable error: AttributeError(... 'hostname')",
    on a real Redis: the sequence celery's consumer runs when the broker connection drops
    (``collect()``, then ``close()``), with a task's message still unacked and a first close
    that fails part-way against the dead server (controltower/celery.py)."""
    import redis
    from kombu import Connection, Exchange, Queue

    # given: a consumer holding one delivered, unacked message, a BRPOP in flight
    queue = Queue("ct-probe", Exchange("ct-probe"), "ct-probe")
    with Connection(throwaway_redis.url) as producer_connection:
        producer_connection.Producer().publish(
            {"n": 1}, exchange=queue.exchange, routing_key="ct-probe", declare=[queue]
        )
    connection = Connection(throwaway_redis.url)
    channel = connection.default_channel
    channel.basic_qos(prefetch_count=1)
    connection.Consumer(queue, callbacks=[lambda body, message: None], channel=channel).consume()
    connection.drain_events(timeout=5)
    channel._brpop_start()
    assert len(channel.qos._delivered) == 1
    # when: Redis dies; the consumer collects the connection (its channel's close fails
    # part-way, after dropping its pools) and then closes it
    throwaway_redis.kill()
    with mock.patch.object(channel, "_close_clients", side_effect=redis.ConnectionError("reset")):
        connection.collect(socket_timeout=1)
    assert channel.connection.client is None and not channel.closed
    # then: closing is a connection error kombu ignores, not an AttributeError that ends the
    # worker
    connection.close()


def erp_sales_orders(sim: Any) -> list[dict[str, Any]]:
    response = httpx.get(
        f"{sim.url}/api/v1/sales-orders",
        params={"page_size": 1000},
        headers={"Authorization": f"Bearer {ERP_TOKEN}"},
    )
    return response.json()["results"]


def test_worker_rides_out_redis_restarts_and_orders_and_sweeps_resume(
    throwaway_redis: ThrowawayRedis, erp_simulator: Any
) -> None:
    # given: the web receiver, a worker with beat (sweeper every second) and an ERP taking
    # 500 ms per request, all on our own Redis; orders arriving at 4/s, about what the two
    # outbox drains can deliver, so both pool processes are busy most of the time (then the
    # worker has its full prefetch of unacked messages and is not polling BRPOP: the state in
    # which a Redis restart ended the worker)
    woo_connection()
    erp_connection(base_url=erp_simulator.url)
    httpx.post(f"{erp_simulator.url}/_sim/faults", json={"latency_ms": 500})
    on_our_redis = {"REDIS_URL": throwaway_redis.url}
    web = WebServer(CT_LIVE_POLL_S="300", **on_our_redis)
    worker = CeleryWorker(concurrency=2, **FAST_RETRIES, **on_our_redis)
    feed = OrderFeed("", first=16001)
    try:
        web.wait_ready()
        worker.wait_ready()
        feed.url = web.url
        feed.start()
        wait_for(lambda: Order.objects.filter(state=OrderState.REGISTERED).count() >= 5, timeout=30)

        # when: Redis is SIGKILLed for 10 s and restarted on the same port, several times,
        # while orders keep arriving
        for _ in range(OUTAGES):
            throwaway_redis.kill()
            time.sleep(OUTAGE_S)
            throwaway_redis.start()
            time.sleep(4)
            assert worker.process.poll() is None, f"the worker died:\n{worker.log()}"
        feed.stop()

        # then: the worker is alive, and every acknowledged order reaches the ERP exactly once
        acknowledged = sorted(feed.acknowledged)
        assert len(acknowledged) >= 50, f"only {len(acknowledged)} orders were acknowledged"

        def all_registered() -> bool:
            """every acknowledged order registered in the ERP"""
            return Order.objects.filter(state=OrderState.REGISTERED).count() == len(acknowledged)

        wait_for(all_registered, timeout=90, interval=0.5)
        assert worker.process.poll() is None, f"the worker died:\n{worker.log()}"
        refs = sorted(o["external_ref"] for o in erp_sales_orders(erp_simulator))
        assert refs == sorted(f"web-{n}" for n in acknowledged)
        assert OutboundMessage.objects.filter(status="delivered").count() == len(acknowledged)

        # and: the sweeper on beat runs again: an event stored with no wake-up at all (its kick
        # lost, as in an outage) is found by the sweep and processed
        body = body_of(woo_order(19999))
        with (
            mock.patch("integrations.runtime.store.wake_inbox"),
            mock.patch("integrations.runtime.kick.kick"),
        ):
            response = Client().post(
                "/hooks/woocommerce/woo-web/",
                data=body,
                content_type="application/json",
                headers=webhook_headers(body),
            )
        assert response.status_code == 200
        event = InboundEvent.objects.get(resource_id="19999")

        def swept() -> bool:
            """the un-kicked event was swept up and its order registered"""
            return Order.objects.filter(external_id="19999", state=OrderState.REGISTERED).exists()

        wait_for(swept, timeout=30, interval=0.5)
        event.refresh_from_db()
        assert event.status == "processed"
        assert worker.process.poll() is None
    finally:
        feed.stop()
        worker.stop()
        web.stop()
