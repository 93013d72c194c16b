"""Shared fixtures: personas, the WooCommerce channel, real Celery workers and simulators.

Tests run on PostgreSQL and Redis: the servers named by DATABASE_URL / REDIS_URL, or the
embedded engines the settings start when those are unset. pytest-django creates a fresh test
database; every run uses its own Celery queue and Channels prefix so runs never share work.
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from django.conf import settings
from django.contrib.auth.models import Group, User

from controltower.engines import database_url

ROOT = Path(__file__).resolve().parent.parent
RUN_ID = uuid.uuid4().hex[:8]


@pytest.fixture(scope="session", autouse=True)
def _isolated_queues() -> Iterator[None]:
    """Give this test run its own Celery queue and Channels prefix on the shared Redis."""
    from controltower.celery import app

    queue = f"ct-test-{RUN_ID}"
    settings.CELERY_TASK_DEFAULT_QUEUE = queue
    app.conf.task_default_queue = queue
    settings.CHANNEL_LAYERS["default"]["CONFIG"]["prefix"] = f"ct-test-{RUN_ID}"
    yield
    try:
        from integrations.runtime.redis_store import redis_client

        client = redis_client()
        client.delete(queue)
        for key in client.scan_iter(f"ct:kick:{queue}:*"):
            client.delete(key)
    except Exception:
        pass


@pytest.fixture(autouse=True)
def _fresh_runtime_state() -> Iterator[None]:
    """Circuit breakers, rate buckets and drain slots live in Redis: start each test clean."""
    from integrations.runtime.redis_store import redis_client

    queue = settings.CELERY_TASK_DEFAULT_QUEUE
    client = redis_client()
    for pattern in (f"ct:{queue}:breaker:*", f"ct:{queue}:bucket:*", f"ct:kick:{queue}:*"):
        for key in client.scan_iter(pattern):
            client.delete(key)
    yield


def _persona(username: str, *groups: str, **extra: Any) -> User:
    user = User.objects.create_user(username=username, password="pw-" + username, **extra)
    for name in groups:
        user.groups.add(Group.objects.get(name=name))
    return user


@pytest.fixture
def ops_user(db: None) -> User:
    return _persona("olivia.ops", "ops", first_name="Olivia")


@pytest.fixture
def finance_requester(db: None) -> User:
    return _persona("fred.finance", "finance")


@pytest.fixture
def finance_approver(db: None) -> User:
    return _persona("fiona.finance", "finance")


@pytest.fixture
def exec_viewer(db: None) -> User:
    return _persona("erin.exec", "executive")


@pytest.fixture
def admin_user(db: None) -> User:
    return _persona("adam.admin", "admin", is_staff=True)


@pytest.fixture
def outsider(db: None) -> User:
    return _persona("oscar.outsider")


PERSONAS = ("ops_user", "finance_requester", "exec_viewer", "admin_user", "outsider")


# --- real processes ------------------------------------------------------------------------------
class CeleryWorker:
    """A real ``celery worker`` process (with embedded beat) on this run's queue and test DB."""

    def __init__(self, *, concurrency: int = 3, beat: bool = True, **env_extra: str) -> None:
        self.log_path = ROOT / "var" / f"test-worker-{RUN_ID}-{uuid.uuid4().hex[:6]}.log"
        self.log_path.parent.mkdir(parents=True, exist_ok=True)
        env = _process_env(CT_SWEEP_INTERVAL_S="1", **env_extra)
        args = [
            sys.executable,
            "-m",
            "celery",
            "-A",
            "controltower",
            "worker",
            "-Q",
            settings.CELERY_TASK_DEFAULT_QUEUE,
            "-c",
            str(concurrency),
            "--without-gossip",
            "--without-mingle",
            "--loglevel=INFO",
            "-n",
            f"test-{uuid.uuid4().hex[:6]}@%h",
        ]
        if beat:
            args += ["-B", "-s", str(self.log_path.with_suffix(".beat"))]
        self._log = self.log_path.open("wb")
        self.process = subprocess.Popen(
            args,
            cwd=ROOT,
            env=env,
            stdout=self._log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )

    def wait_ready(self, timeout: float = 60.0) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"worker exited early:\n{self.log()}")
            if b" ready." in self.log_path.read_bytes():
                return
            time.sleep(0.1)
        raise TimeoutError(f"worker not ready in {timeout}s:\n{self.log()}")

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")[-5000:]

    def kill(self) -> None:
        """SIGKILL the worker and its pool processes at once, as a crashed machine would."""
        os.killpg(self.process.pid, signal.SIGKILL)
        self.process.wait(10)

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(20)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(5)
        # Whatever the worker left behind in its session (pool, embedded beat) goes too.
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(self.process.pid, signal.SIGKILL)
        self._log.close()


def _process_env(**extra: str) -> dict[str, str]:
    """The environment for a child process that must share this test run's DB and Redis."""
    from django.db import connection

    return {
        **os.environ,
        "DATABASE_URL": database_url(connection.settings_dict),
        "REDIS_URL": settings.REDIS_URL,
        "CT_CELERY_QUEUE": settings.CELERY_TASK_DEFAULT_QUEUE,
        "CT_CHANNELS_PREFIX": settings.CHANNEL_LAYERS["default"]["CONFIG"]["prefix"],
        "CT_LOG_FORMAT": "console",
        **extra,
    }


class WebServer:
    """The web tier as production runs it (``controltower/topology.py``): the buffering front
    on ``url``, gunicorn's sync workers behind it (pages, API, webhooks), daphne (websockets)."""

    def __init__(self, **env: str) -> None:
        from controltower.engines import free_port
        from controltower.topology import web_processes

        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.log_path = ROOT / "var" / f"test-web-{RUN_ID}-{self.port}.log"
        self.log_path.parent.mkdir(parents=True, exist_ok=True)
        self._log = self.log_path.open("wb")
        commands = web_processes(
            sys.executable,
            port=self.port,
            gunicorn_port=free_port(),
            daphne_port=free_port(),
            workers=2,
        )
        self.processes = [
            subprocess.Popen(
                argv,
                cwd=ROOT,
                env=_process_env(**env),
                stdout=self._log,
                stderr=subprocess.STDOUT,
            )
            for argv in commands.values()
        ]
        self.process = self.processes[-1]  # the front: what clients talk to

    def wait_ready(self, timeout: float = 30.0) -> None:
        import httpx

        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if any(p.poll() is not None for p in self.processes):
                raise RuntimeError(f"web server exited early:\n{self.log()}")
            try:
                httpx.get(f"{self.url}/accounts/login/", timeout=1)
                return
            except httpx.HTTPError:
                time.sleep(0.1)
        raise TimeoutError(f"web server not ready in {timeout}s:\n{self.log()}")

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")[-5000:]

    def stop(self) -> None:
        for process in reversed(self.processes):
            if process.poll() is None:
                process.send_signal(signal.SIGTERM)
        for process in reversed(self.processes):
            try:
                process.wait(10)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait(5)
        self._log.close()


@pytest.fixture
def web_server(transactional_db: None) -> Iterator[WebServer]:
    server = WebServer(CT_LIVE_POLL_S="300")
    try:
        server.wait_ready()
        yield server
    finally:
        server.stop()


FAST_RETRIES = {
    "CT_BACKOFF_BASE_S": "0.5",
    "CT_BACKOFF_CAP_S": "2",
    "CT_BREAKER_THRESHOLD": "3",
    "CT_BREAKER_COOLDOWN_S": "2",
    "CT_LEASE_S": "5",
}


@pytest.fixture
def celery_worker(transactional_db: None) -> Iterator[CeleryWorker]:
    """A real worker with short backoff, breaker cool-down and claim lease, so failure
    scenarios play out in seconds."""
    worker = CeleryWorker(**FAST_RETRIES)
    try:
        worker.wait_ready()
        yield worker
    finally:
        worker.stop()


@pytest.fixture
def erp_simulator() -> Iterator[Any]:
    from integrations.erp.simulator import ErpSimulator

    sim = ErpSimulator(token="test-erp-token").serve_in_thread()
    try:
        yield sim
    finally:
        sim.shutdown()


@pytest.fixture
def woo_simulator() -> Iterator[Any]:
    """The WooCommerce simulator over real HTTP (consumer key ck_t / secret cs_t)."""
    from integrations.woocommerce.simulator import WooCommerceSimulator

    sim = WooCommerceSimulator(consumer_key="ck_t", consumer_secret="cs_t", seed=7)
    sim.serve_in_thread()
    try:
        yield sim
    finally:
        sim.shutdown()


def wait_for(predicate: Any, *, timeout: float = 30.0, interval: float = 0.1) -> Any:
    """Poll until ``predicate()`` is truthy; return its value or fail with a clear message."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(interval)
    raise AssertionError(f"condition not met within {timeout}s: {predicate.__doc__ or predicate}")
