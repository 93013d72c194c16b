"""The receiver as production serves it: gunicorn (WSGI), where signed webhooks take the lean
route of ``controltower.wsgi`` past the middleware. Same answers, same durability."""

from __future__ import annotations

import signal
import subprocess
import sys
import time
from collections.abc import Iterator

import httpx
import pytest

from controltower.exceptions.models import OpsException
from integrations.runtime.models import InboundEvent
from tests.conftest import ROOT, _process_env
from tests.factories.integrations import woo_connection
from tests.factories.woocommerce import body_of, webhook_headers, woo_order

pytestmark = [pytest.mark.slow, pytest.mark.django_db(transaction=True)]


@pytest.fixture
def gunicorn_url() -> Iterator[str]:
    from controltower.engines import free_port

    port = free_port()
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
        env=_process_env(),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 30
    while True:
        try:
            httpx.get(f"{url}/accounts/login/", timeout=1)
            break
        except httpx.HTTPError:
            if time.monotonic() > deadline or process.poll() is not None:
                process.kill()
                raise RuntimeError("gunicorn did not start") from None
            time.sleep(0.1)
    try:
        yield url
    finally:
        process.send_signal(signal.SIGTERM)
        process.wait(10)


def test_gunicorn_receiver_answers_like_the_view_and_stores_durably(gunicorn_url: str) -> None:
    # given
    woo_connection()
    hook = f"{gunicorn_url}/hooks/woocommerce/woo-web/"
    body = body_of(woo_order(1201))
    with httpx.Client() as client:
        # when / then: a signed order is accepted, and committed before the answer
        first = client.post(hook, content=body, headers=webhook_headers(body))
        assert (first.status_code, first.json()) == (200, {"status": "accepted"})
        # with the security headers Django's middleware gives every other answer
        page = client.get(f"{gunicorn_url}/accounts/login/")
        for name in ("X-Content-Type-Options", "X-Frame-Options", "Referrer-Policy"):
            assert first.headers[name] == page.headers[name]
        assert InboundEvent.objects.filter(resource_id="1201", status="pending").exists()
        # a redelivery is recognised
        again = client.post(hook, content=body, headers=webhook_headers(body))
        assert again.json() == {"status": "duplicate"}
        # the ping, unsigned and form-encoded, gets exactly 200
        ping = client.post(
            hook,
            content=b"webhook_id=9",
            headers={"Content-Type": "application/x-www-form-urlencoded"},
        )
        assert ping.status_code == 200
        # missing and wrong signatures are refused with the same messages
        missing = client.post(hook, content=body, headers=webhook_headers(body, secret=None))
        assert (missing.status_code, missing.json()["detail"]) == (
            401,
            "missing X-WC-Webhook-Signature",
        )
        wrong = client.post(hook, content=body, headers=webhook_headers(body, secret="nope"))
        assert (wrong.status_code, wrong.json()["detail"]) == (
            401,
            "invalid X-WC-Webhook-Signature",
        )
        # a signed body that is not JSON is kept and reported
        broken = b'{"id": 1202,'
        bad = client.post(hook, content=broken, headers=webhook_headers(broken))
        assert bad.status_code == 400 and bad.json()["detail"].startswith("malformed JSON")
        # an unknown connection is 404
        unknown = client.post(
            f"{gunicorn_url}/hooks/woocommerce/nope/", content=body, headers=webhook_headers(body)
        )
        assert unknown.status_code == 404
        assert unknown.json() == {"detail": "No Connection matches the given query."}
        # a GET is not a delivery: Django's view answers it, the same way as the test client
        get = client.get(hook)
        assert (get.status_code, get.json()) == (405, {"detail": "GET not allowed"})
    assert InboundEvent.objects.filter(resource_id="1201").count() == 1
    rejected = InboundEvent.objects.get(status="rejected")
    assert rejected.body.encode() == broken
    exception = OpsException.objects.get(type="rejected_inbound")
    assert exception.subject_id == str(rejected.pk)
