"""The buffering front on real processes: slow clients cannot starve gunicorn's sync workers."""

from __future__ import annotations

import contextlib
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator

import httpx
import pytest

from controltower.engines import free_port
from integrations.runtime.models import InboundEvent
from tests.conftest import ROOT, _process_env
from tests.factories.integrations import woo_connection
from tests.factories.woocommerce import body_of, webhook_headers, woo_order

pytestmark = [pytest.mark.slow, pytest.mark.django_db(transaction=True)]

HOOK = "/hooks/woocommerce/woo-web/"


def _wait(url: str, process: subprocess.Popen[bytes]) -> None:
    deadline = time.monotonic() + 30
    while True:
        try:
            httpx.get(url, timeout=1)
            return
        except httpx.HTTPError:
            if time.monotonic() > deadline or process.poll() is not None:
                process.kill()
                raise RuntimeError(f"{url} did not come up") from None
            time.sleep(0.1)


@pytest.fixture
def topology() -> Iterator[tuple[str, str]]:
    """gunicorn with 2 sync workers, and the front in front of it: (front URL, gunicorn URL)."""
    gunicorn_port, front_port = free_port(), free_port()
    gunicorn = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "gunicorn",
            "controltower.wsgi:application",
            "-b",
            f"127.0.0.1:{gunicorn_port}",
            "-w",
            "2",
            "--timeout",
            "60",
            "--log-level",
            "warning",
        ],
        cwd=ROOT,
        env=_process_env(),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    front = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "controltower.front",
            "--listen",
            f"127.0.0.1:{front_port}",
            "--upstream",
            f"127.0.0.1:{gunicorn_port}",
            "--header-timeout",
            "3",
        ],
        cwd=ROOT,
        env=_process_env(),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    gunicorn_url, front_url = f"http://127.0.0.1:{gunicorn_port}", f"http://127.0.0.1:{front_port}"
    try:
        _wait(f"{gunicorn_url}/accounts/login/", gunicorn)
        _wait(f"{front_url}/accounts/login/", front)
        yield front_url, gunicorn_url
    finally:
        for process in (front, gunicorn):
            process.send_signal(signal.SIGTERM)
        for process in (front, gunicorn):
            try:
                process.wait(10)
            except subprocess.TimeoutExpired:
                process.kill()


def _slow_clients(url: str, count: int) -> list[socket.socket]:
    """Clients that open a request and send its head one byte at a time, never finishing."""
    host, port = url.removeprefix("http://").split(":")
    sockets = []
    for _ in range(count):
        sock = socket.create_connection((host, int(port)))
        sock.sendall(b"POST /hooks/woocommerce/woo-web/ HTTP/1.1\r\nHost: x\r\n")
        sockets.append(sock)
    return sockets


def _trickle(sockets: list[socket.socket]) -> None:
    for sock in sockets:
        with contextlib.suppress(OSError):
            sock.sendall(b"X")


def _signed_post(url: str, order_id: int) -> tuple[float, httpx.Response | None]:
    body = body_of(woo_order(order_id))
    started = time.monotonic()
    try:
        response = httpx.post(url + HOOK, content=body, headers=webhook_headers(body), timeout=3)
    except httpx.TimeoutException:
        return time.monotonic() - started, None
    return time.monotonic() - started, response


def test_front_keeps_webhooks_answered_while_slow_clients_hold_connections(
    topology: tuple[str, str],
) -> None:
    # given: six slow clients on the front, more than the two workers behind it
    front_url, _ = topology
    woo_connection()
    slow = _slow_clients(front_url, 6)
    try:
        # when: signed webhooks arrive meanwhile
        timings = []
        for order_id in range(3001, 3006):
            _trickle(slow)
            took, response = _signed_post(front_url, order_id)
            assert response is not None, f"webhook {order_id} timed out"
            assert (response.status_code, response.json()) == (200, {"status": "accepted"})
            timings.append(took)
        # then: each answered within a second, and stored
        assert max(timings) < 1.0, timings
        assert InboundEvent.objects.filter(resource_id__startswith="300").count() == 5
    finally:
        for sock in slow:
            sock.close()


def test_without_the_front_the_same_slow_clients_starve_gunicorn(
    topology: tuple[str, str],
) -> None:
    # given: the control — the same slow clients straight at gunicorn's two sync workers
    _, gunicorn_url = topology
    woo_connection()
    slow = _slow_clients(gunicorn_url, 6)
    try:
        time.sleep(0.5)
        # when
        took, response = _signed_post(gunicorn_url, 3101)
        # then: the webhook waits behind them (this is what the front is for)
        assert response is None or took > 1.0
    finally:
        for sock in slow:
            sock.close()


def test_front_times_out_a_client_too_slow_to_send_its_request(
    topology: tuple[str, str],
) -> None:
    # given
    front_url, _ = topology
    (sock,) = _slow_clients(front_url, 1)
    sock.settimeout(10)
    try:
        # when: nothing more arrives within the header timeout (3 s here)
        answer = sock.recv(4096)
    finally:
        sock.close()
    # then
    assert answer.startswith(b"HTTP/1.1 408 Request Timeout")
    assert answer.endswith(b'{"detail": "request not received in time"}')


def test_front_refuses_an_oversized_body_and_keeps_alive_otherwise(
    topology: tuple[str, str],
) -> None:
    # given
    front_url, _ = topology
    woo_connection()
    with httpx.Client(base_url=front_url, timeout=5) as client:
        # when: two requests on one kept-alive connection, then one too large
        first = client.get("/accounts/login/")
        second = client.get("/accounts/login/")
        big = client.post(HOOK, content=b"x" * (10 * 1024 * 1024 + 1))
    # then
    assert (first.status_code, second.status_code) == (200, 200)
    assert first.headers.get("Connection", "keep-alive") != "close"
    assert first.headers["X-Frame-Options"] == "DENY"  # Django's answer, passed through
    assert big.status_code == 413
    assert big.json() == {"detail": "body larger than 10485760 bytes"}
    assert not InboundEvent.objects.exists()
