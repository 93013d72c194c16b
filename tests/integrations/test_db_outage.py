"""A PostgreSQL outage under load does not cost the webhook (issue 16, item 2).

Real processes: a PostgreSQL server of the test's own (never the shared one), gunicorn serving
``controltower.wsgi`` on it, a Celery worker with beat on it, and a stream of signed WooCommerce
order webhooks from four senders. PostgreSQL is stopped (``-m immediate``, as a crash would) for
15 s and started again. Every delivery must be answered 2xx — WooCommerce disables a webhook after
a few non-2xx answers and never retries — and once the database is back every order is in the
inbox exactly once, and one Order.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import psycopg
import pytest

from tests.conftest import ROOT, CeleryWorker, _process_env, wait_for
from tests.factories.woocommerce import body_of, webhook_headers, woo_order

OUTAGE_S = 15.0
SENDERS = 4


def _bindir() -> Path | None:
    pg_ctl = shutil.which("pg_ctl")
    if pg_ctl is None:
        for candidate in sorted(Path("/usr/lib/postgresql").glob("*/bin/pg_ctl"), reverse=True):
            return candidate.parent
        return None
    return Path(os.path.realpath(pg_ctl)).parent


class OwnPostgres:
    """A throwaway PostgreSQL cluster on a free port (run as ``postgres`` when we are root)."""

    def __init__(self, bindir: Path, root: Path) -> None:
        from controltower.engines import free_port

        self.bindir, self.pgdata, self.port = bindir, root / "pgdata", free_port()
        self.log = root / "postgres.log"
        self.url = f"postgresql://postgres@127.0.0.1:{self.port}/postgres"
        if os.geteuid() == 0:
            shutil.chown(root, "postgres")
        self._run("initdb", "-D", str(self.pgdata), "-U", "postgres", "-A", "trust", "-N")

    def _run(self, tool: str, *args: str) -> None:
        prefix = ["runuser", "-u", "postgres", "--"] if os.geteuid() == 0 else []
        subprocess.run(
            [*prefix, str(self.bindir / tool), *args],
            check=True,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.STDOUT,
            timeout=120,
        )

    def start(self) -> None:
        options = (
            f"-p {self.port} -c listen_addresses=127.0.0.1 -k {self.pgdata} "
            "-c fsync=off -c max_connections=50"  # fsync off: only the OS cache must survive
        )
        self._run(
            "pg_ctl", "start", "-w", "-D", str(self.pgdata), "-l", str(self.log), "-o", options
        )

    def stop(self, mode: str = "immediate") -> None:
        self._run("pg_ctl", "stop", "-w", "-m", mode, "-D", str(self.pgdata))


@pytest.fixture
def own_postgres() -> Iterator[OwnPostgres]:
    bindir = _bindir()
    if bindir is None:
        pytest.skip("no PostgreSQL server binaries (pg_ctl) on this machine")
    root = Path(tempfile.mkdtemp(prefix="ct-outage-"))
    server = OwnPostgres(bindir, root)
    server.start()
    try:
        yield server
    finally:
        with contextlib.suppress(subprocess.CalledProcessError):
            server.stop("fast")
        shutil.rmtree(root, ignore_errors=True)


def _env(server: OwnPostgres, spool_dir: Path) -> dict[str, str]:
    env = _process_env(DATABASE_URL=server.url, CT_SPOOL_DIR=str(spool_dir))
    env["DATABASE_URL"] = server.url  # _process_env names the test database; this one is ours
    env["CT_SPOOL_RETRY_S"] = "1"
    return env


SETUP = """
import django
django.setup()
from tests.factories.catalog import SKUFactory
from tests.factories.integrations import woo_connection
woo_connection()
SKUFactory(code="NW-TEE-001-BLK-M")
SKUFactory(code="NW-CAP-002-NAV-OS")
"""


@pytest.fixture
def receiver(own_postgres: OwnPostgres, tmp_path: Path) -> Iterator[tuple[str, Path]]:
    """gunicorn (two sync workers) serving controltower.wsgi on our own PostgreSQL, and a Celery
    worker with beat on it that turns inbound events into orders."""
    from controltower.engines import free_port

    spool_dir = tmp_path / "spool"
    env = _env(own_postgres, spool_dir)
    manage = [sys.executable, "manage.py"]
    subprocess.run([*manage, "migrate", "-v", "0"], cwd=ROOT, env=env, check=True, timeout=300)
    subprocess.run([sys.executable, "-c", SETUP], cwd=ROOT, env=env, check=True, timeout=60)
    worker = CeleryWorker(
        concurrency=2,
        DATABASE_URL=own_postgres.url,
        CT_SPOOL_DIR=str(spool_dir),
        CT_SPOOL_DRAIN_S="2",
    )
    port = free_port()
    log = (tmp_path / "gunicorn.log").open("wb")
    process = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "gunicorn",
            "controltower.wsgi:application",
            "-b",
            f"127.0.0.1:{port}",
            "-w",
            "2",
            "--log-level",
            "warning",
        ],
        cwd=ROOT,
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    url = f"http://127.0.0.1:{port}"
    try:
        worker.wait_ready()
        deadline = time.monotonic() + 30
        while True:
            try:
                httpx.get(f"{url}/accounts/login/", timeout=1)
                break
            except httpx.HTTPError:
                if time.monotonic() > deadline or process.poll() is not None:
                    raise RuntimeError("gunicorn did not start") from None
                time.sleep(0.1)
        yield url, spool_dir
    finally:
        process.send_signal(signal.SIGTERM)
        process.wait(15)
        log.close()
        worker.stop()


class Senders:
    """Signed order webhooks from a few concurrent senders, each order once, 5 s timeout
    (WooCommerce's own), every answer recorded."""

    def __init__(self, hook: str) -> None:
        self.hook = hook
        self.answers: list[tuple[int, int | str, float, float]] = []  # id, status, at, took
        self._ids = iter(range(100_000, 1_000_000))
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._threads = [threading.Thread(target=self._send) for _ in range(SENDERS)]

    def _send(self) -> None:
        with httpx.Client(timeout=5.0) as client:
            while not self._stop.is_set():
                with self._lock:
                    order_id = next(self._ids)
                body = body_of(woo_order(order_id))
                headers = {**webhook_headers(body), "Content-Type": "application/json"}
                started = time.monotonic()
                try:
                    status: int | str = client.post(
                        self.hook, content=body, headers=headers
                    ).status_code
                except httpx.HTTPError as exc:
                    status = type(exc).__name__
                with self._lock:
                    self.answers.append((order_id, status, started, time.monotonic() - started))
                time.sleep(0.02)

    def __enter__(self) -> Senders:
        for thread in self._threads:
            thread.start()
        return self

    def __exit__(self, *exc: Any) -> None:
        self._stop.set()
        for thread in self._threads:
            thread.join(10)


def _counts(url: str, table: str, column: str) -> Counter[str]:
    with psycopg.connect(url, connect_timeout=5) as conn:
        rows = conn.execute(f"SELECT {column}, count(*) FROM {table} GROUP BY {column}").fetchall()
    return Counter({key: count for key, count in rows})


def _inbox_counts(url: str) -> Counter[str]:
    return _counts(url, "integrations_inboundevent", "resource_id")


def _order_counts(url: str) -> Counter[str]:
    return _counts(url, "orders_order", "external_id")


def test_rearm_watcher_notices_a_disabled_webhook_within_a_minute(settings: Any) -> None:
    # given / when
    rearm = settings.CELERY_BEAT_SCHEDULE["woocommerce.rearm_webhooks"]
    drain = settings.CELERY_BEAT_SCHEDULE["integrations.drain_spool"]

    # then
    assert rearm["task"] == "woocommerce.rearm_webhooks" and rearm["schedule"] <= 60
    assert drain["task"] == "integrations.drain_spool"


@pytest.mark.slow
def test_database_outage_every_delivery_answered_2xx_and_stored_once(
    own_postgres: OwnPostgres, receiver: tuple[str, Path]
) -> None:
    # given a steady stream of signed order webhooks
    url, spool_dir = receiver
    with Senders(f"{url}/hooks/woocommerce/woo-web/") as senders:
        time.sleep(4)

        # when PostgreSQL stops for 15 s under load, then comes back
        own_postgres.stop("immediate")
        down_at = time.monotonic()
        time.sleep(OUTAGE_S)
        own_postgres.start()
        up_at = time.monotonic()
        time.sleep(6)

    # then every delivery was answered 2xx: no webhook would have been disabled
    answers = senders.answers
    statuses = Counter(status for _, status, _, _ in answers)
    during = [a for a in answers if down_at <= a[2] < up_at]
    failed = [a for a in answers if not (isinstance(a[1], int) and 200 <= a[1] < 300)]
    print(
        f"\ndeliveries={len(answers)} during_outage={len(during)} statuses={dict(statuses)} "
        f"max_latency_ms={max(a[3] for a in answers) * 1000:.0f} "
        f"outage_max_latency_ms={max((a[3] for a in during), default=0) * 1000:.0f}"
    )
    assert failed == [], f"{len(failed)} non-2xx answers, first {failed[:5]}"
    assert statuses[202] > 0, "the outage was not noticed: nothing was spooled"
    assert len(during) >= 50

    # and once the database is back every order is in the inbox exactly once
    sent = {str(order_id) for order_id, _, _, _ in answers}

    def all_stored() -> bool:
        """every order sent is in the inbox"""
        return sent <= set(_inbox_counts(own_postgres.url))

    wait_for(all_stored, timeout=60, interval=0.5)
    counts = _inbox_counts(own_postgres.url)
    assert {rid: n for rid, n in counts.items() if n != 1} == {}
    assert set(counts) == sent
    assert wait_for(lambda: not list(spool_dir.glob("*.spool")), timeout=30)

    # and the worker, which lived through the outage too, made each of them one order
    def all_orders() -> bool:
        """every order sent is an Order"""
        return sent <= set(_order_counts(own_postgres.url))

    wait_for(all_orders, timeout=240, interval=1)
    orders = _order_counts(own_postgres.url)
    assert set(orders) == sent and set(orders.values()) == {1}
