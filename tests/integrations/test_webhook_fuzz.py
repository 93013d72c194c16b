"""Every webhook parser under any bytes and any headers: an answer of 2xx or 4xx with a message,
never a 5xx, and never a half-applied record.

Both entrances are driven: Django's view through the test client, and the lean WSGI entrance
(``with_fast_webhooks``) called directly with a WSGI environ, in autocommit as under gunicorn (so
the lean route really answers, instead of handing the request to Django). After each example the
inbox is drained in-process and the database invariants are asserted. Bounded and deterministic
(``derandomize=True``, no example database) so that it runs in CI in well under a minute.
"""

from __future__ import annotations

import io
import json
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from django.core.wsgi import get_wsgi_application
from django.test import Client
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from controltower.exceptions.choices import ExceptionType
from controltower.exceptions.models import OpsException
from controltower.orders.models import Order
from integrations.runtime import kick, registry
from integrations.runtime.choices import InboundStatus
from integrations.runtime.inbox import claim_inbound, process_inbound_event, raw_body
from integrations.runtime.models import InboundEvent, OutboundMessage
from integrations.runtime.receive import with_fast_webhooks
from integrations.woocommerce import products
from tests.factories.integrations import WOO_SECRET, woo_connection
from tests.factories.woocommerce import signature, woo_order

PATH = "/hooks/woocommerce/woo-web/"
FUZZ = settings(
    max_examples=120,
    derandomize=True,
    database=None,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)

# --- what a hostile sender sends ----------------------------------------------------------------
json_values = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(min_value=-(10**30), max_value=10**30)
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(max_size=12),
    lambda children: (
        st.lists(children, max_size=3) | st.dictionaries(st.text(max_size=8), children, max_size=3)
    ),
    max_leaves=10,
)
ORDER_KEYS = sorted(woo_order(1))
LINE_KEYS = sorted(woo_order(1)["line_items"][0])


@st.composite
def mutated_orders(draw: st.DrawFn) -> bytes:
    """A real order body with a field or a line's field replaced by anything."""
    payload = woo_order(draw(st.integers(min_value=1, max_value=50)))
    for _ in range(draw(st.integers(min_value=0, max_value=2))):
        if draw(st.booleans()):
            payload[draw(st.sampled_from(ORDER_KEYS))] = draw(json_values)
        elif isinstance(payload.get("line_items"), list) and payload["line_items"]:
            line = payload["line_items"][0]
            if isinstance(line, dict):
                line[draw(st.sampled_from(LINE_KEYS))] = draw(json_values)
    text = json.dumps(payload, ensure_ascii=draw(st.booleans()))
    return text.encode("utf-8", errors="surrogatepass")


SPECIAL = [
    b"[" * 5000 + b"]" * 5000,
    b'{"a":' * 200 + b"1" + b"}" * 200,
    b'{"id": 1, "x": "\x00"}',
    b'{"id": 1, "total": NaN}',
    b'{"id": 1e400}',
    b'{"id": ' + b"9" * 80 + b"}",
    b'{"id": "1"}',
    b'{"id": 7}',
    b'{"id": 7, "id": 8}',
    b'{"action": "woocommerce_x", "arg": 3}',
    b"\xef\xbb\xbf{}",
    b"\xff\xfe{\x00}\x00",
    b"webhook_id=12",
    json.dumps({**woo_order(3), "customer_note": "a\u0000b", "number": "\ud800"}).encode(),
    json.dumps({**woo_order(4), "number": "9" * 300}).encode(),
    json.dumps({**woo_order(5), "date_modified_gmt": "9999-12-31T23:59:59-23:59"}).encode(),
    json.dumps({"id": 9, "type": "simple", "name": "T\u0000", "sku": "s" * 100}).encode(),
]
bodies = st.one_of(
    st.binary(max_size=300),
    json_values.map(lambda v: json.dumps(v).encode()),
    mutated_orders(),
    st.sampled_from(SPECIAL),
)
HEADER_NAMES = [
    "X-WC-Webhook-Topic",
    "X-WC-Webhook-Resource",
    "X-WC-Webhook-Event",
    "X-WC-Webhook-Delivery-ID",
    "X-WC-Webhook-ID",
    "X-WC-Webhook-Source",
    "User-Agent",
]
header_text = st.one_of(
    st.sampled_from(["order.created", "order.updated", "order.deleted", "product.deleted"]),
    st.sampled_from(["order", "product", "coupon", "action"]),
    st.text(st.characters(codec="latin-1", exclude_characters="\r\n"), max_size=40),
    st.integers(min_value=0, max_value=6000).map(lambda n: "x" * n),
)


# the test client encodes the body with the charset it is given, so an unknown one only goes
# through the WSGI environ
CONTENT_TYPES = ["application/json", "application/x-www-form-urlencoded", "text/plain"]


@st.composite
def deliveries(draw: st.DrawFn) -> tuple[bytes, dict[str, str], str]:
    body = draw(bodies)
    headers = draw(st.dictionaries(st.sampled_from(HEADER_NAMES), header_text, max_size=5))
    signing = draw(st.sampled_from(["signed", "signed", "wrong", "none", "garbage"]))
    if signing == "signed":
        headers["X-WC-Webhook-Signature"] = signature(body, WOO_SECRET)
    elif signing == "wrong":
        headers["X-WC-Webhook-Signature"] = signature(body, "another secret")
    elif signing == "garbage":
        headers["X-WC-Webhook-Signature"] = draw(header_text)
    content_type = draw(st.sampled_from(CONTENT_TYPES))
    return body, headers, content_type


# --- the database after each example ------------------------------------------------------------
def snapshot() -> dict[str, int]:
    return {
        "events": InboundEvent.objects.count(),
        "rejected": InboundEvent.objects.filter(status=InboundStatus.REJECTED).count(),
    }


def assert_answer(status: int, data: dict[str, Any], before: dict[str, int], body: bytes) -> None:
    assert status < 500, data
    after = snapshot()
    if 200 <= status < 300:
        assert "status" in data
        if data["status"] == "accepted":
            assert after["events"] == before["events"] + 1
            assert raw_body(InboundEvent.objects.latest("id")) == body
        else:
            assert after["events"] == before["events"]
    else:
        assert isinstance(data.get("detail"), str) and data["detail"], data
        if status == 400:  # signed but unreadable: kept for ops (once per body)
            assert after["rejected"] in (before["rejected"], before["rejected"] + 1)
            kept = InboundEvent.objects.filter(status=InboundStatus.REJECTED).latest("id")
            assert kept.error
        else:
            assert after == before, (status, data)


def drain_and_assert_invariants() -> None:
    while ids := claim_inbound(50):
        for event_id in ids:
            assert process_inbound_event(event_id) in {
                InboundStatus.PROCESSED,
                InboundStatus.IGNORED,
                InboundStatus.FAILED,
            }
    assert not InboundEvent.objects.filter(
        status__in=[InboundStatus.PENDING, InboundStatus.PROCESSING]
    ).exists()
    events = InboundEvent.objects.all()
    for event in events:
        raw_body(event)  # always readable back
        if event.status == InboundStatus.REJECTED:
            assert OpsException.objects.filter(
                type=ExceptionType.REJECTED_INBOUND, subject_id=str(event.pk)
            ).exists()
        if event.status == InboundStatus.FAILED:
            assert OpsException.objects.filter(
                type=ExceptionType.DEAD_LETTER, subject_id=str(event.pk)
            ).exists()
    # nothing half-applied: every order came whole from a processed event, with its lines
    processed_ids = set(
        events.filter(status=InboundStatus.PROCESSED).values_list("resource_id", flat=True)
    )
    for order in Order.objects.prefetch_related("lines"):
        assert order.external_id in processed_ids
        assert order.lines.exists()
    assert not OutboundMessage.objects.exclude(
        correlation_id__in=Order.objects.values("correlation_id")
    ).exists()


@pytest.fixture
def quiet(monkeypatch: pytest.MonkeyPatch) -> None:
    """No worker here: kicks and product syncs are not sent (the drain runs in-process)."""
    monkeypatch.setattr(kick, "kick", lambda queue: True)
    monkeypatch.setattr(products, "_queue_sync", lambda *a, **k: None)


@pytest.fixture
def woo(transactional_db: None, quiet: None) -> Iterator[None]:
    woo_connection()
    assert "woocommerce" in registry.WEBHOOKS
    yield


# --- entrance 1: Django's view ------------------------------------------------------------------
@pytest.mark.django_db(transaction=True)
@pytest.mark.timeout(120)
@FUZZ
@given(delivery=deliveries())
def test_webhook_fuzz_django_view_answers_2xx_or_4xx_and_applies_whole(
    woo: None, delivery: tuple[bytes, dict[str, str], str]
) -> None:
    # given
    body, headers, content_type = delivery
    before = snapshot()
    # when
    response = Client(raise_request_exception=True).post(
        PATH, data=body, content_type=content_type, headers=headers
    )
    # then
    assert_answer(response.status_code, response.json(), before, body)
    drain_and_assert_invariants()


# --- entrance 2: the lean WSGI route ------------------------------------------------------------
_APP: Callable[..., Any] | None = None
HANDED_TO_DJANGO: list[str] = []


def lean_app() -> Callable[..., Any]:
    """The lean route around Django's application; what it hands to Django is counted (a small
    body, a known host and autocommit: the lean route must answer every example itself)."""
    global _APP
    if _APP is None:
        django_app = get_wsgi_application()

        def counted(environ: dict[str, Any], start_response: Callable[..., Any]) -> Any:
            HANDED_TO_DJANGO.append(environ["PATH_INFO"])
            return django_app(environ, start_response)

        _APP = with_fast_webhooks(counted)
    return _APP


def call_wsgi(body: bytes, headers: dict[str, str], content_type: str) -> tuple[int, Any]:
    environ: dict[str, Any] = {
        "REQUEST_METHOD": "POST",
        "PATH_INFO": PATH,
        "SCRIPT_NAME": "",
        "QUERY_STRING": "",
        "SERVER_NAME": "testserver",
        "SERVER_PORT": "80",
        "SERVER_PROTOCOL": "HTTP/1.1",
        "HTTP_HOST": "testserver",
        "CONTENT_TYPE": content_type,
        "CONTENT_LENGTH": str(len(body)),
        "wsgi.input": io.BytesIO(body),
        "wsgi.errors": io.StringIO(),
        "wsgi.url_scheme": "http",
        "wsgi.version": (1, 0),
        "wsgi.multithread": False,
        "wsgi.multiprocess": True,
        "wsgi.run_once": False,
    }
    for name, value in headers.items():
        environ["HTTP_" + name.upper().replace("-", "_")] = value
    started: list[str] = []

    def start_response(status: str, response_headers: list[tuple[str, str]]) -> None:
        started.append(status)

    content = b"".join(lean_app()(environ, start_response))
    return int(started[0].split()[0]), json.loads(content)


@pytest.mark.django_db(transaction=True)
@pytest.mark.timeout(120)
@FUZZ
@given(delivery=deliveries())
def test_webhook_fuzz_lean_wsgi_answers_2xx_or_4xx_and_applies_whole(
    woo: None, delivery: tuple[bytes, dict[str, str], str]
) -> None:
    # given
    body, headers, content_type = delivery
    before = snapshot()
    if content_type == "text/plain":
        content_type = "text/plain; charset=no-such-codec"
    # when
    status, data = call_wsgi(body, headers, content_type)
    # then
    assert not HANDED_TO_DJANGO
    assert_answer(status, data, before, body)
    drain_and_assert_invariants()
