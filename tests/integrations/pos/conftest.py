"""POS connector fixtures: a POS channel with its stores, the connection, the GL mappings a till
sale posts with, and the POS simulator over real HTTP sending its signed events to a live server
(our receive endpoint); the inbox is drained in the test, as the worker would."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from decimal import Decimal
from typing import Any

import httpx
import pytest

from controltower.catalog.choices import ChannelType, LocationType, SystemKind
from controltower.catalog.models import Channel
from controltower.core.writepath import service_scope
from controltower.finance.choices import AccountType, PostingEvent
from controltower.finance.models import GLAccount, GLMapping
from controltower.orders.choices import OrderState
from controltower.orders.models import ChannelStatusMapping
from integrations.runtime.inbox import claim_inbound, process_inbound_event
from integrations.runtime.models import Connection
from integrations.runtime.signing import signature_header
from tests.conftest import wait_for
from tests.factories import lifecycle
from tests.factories.catalog import ChannelFactory, LocationFactory, SKUFactory

POS_SECRET = "whsec_pos_test"
SLUG = "pos-stores"
HOOK = f"/hooks/pos/{SLUG}/"
TEE, CAP = "TEE-1", "CAP-1"
STORES = ("store-01", "store-02", "store-03")
GIFT_CARD_ACCOUNT = "2300"


def pos_channel() -> Channel:
    with service_scope():  # an admin's set-up
        channel = ChannelFactory(code="pos", name="Stores", type=ChannelType.POS)
        for status, state in (("completed", OrderState.ACCEPTED), ("voided", "cancelled")):
            ChannelStatusMapping.objects.get_or_create(
                channel=channel, channel_status=status, defaults={"state": state}
            )
    return channel


def pos_books() -> None:
    """The demo chart (tax STD, one clearing for every method) and the gift-card liability."""
    lifecycle.books(tax_codes=("STD",), method=None)
    with service_scope():
        account, _ = GLAccount.objects.get_or_create(
            code=GIFT_CARD_ACCOUNT,
            defaults={"name": "Gift cards outstanding", "type": AccountType.LIABILITY},
        )
        GLMapping.objects.get_or_create(
            event=PostingEvent.GIFT_CARDS,
            channel=None,
            tax_code="",
            payment_method="",
            defaults={"account": account},
        )


@pytest.fixture
def estate(db: None) -> dict[str, Any]:
    """The POS channel, three stores, two SKUs, the books and the POS connection."""
    channel = pos_channel()
    stores = {
        code: LocationFactory(code=code, name=f"Store {code[-2:]}", type=LocationType.STORE)
        for code in STORES
    }
    skus = {code: SKUFactory(code=code, price_amount=Decimal("20.00")) for code in (TEE, CAP)}
    pos_books()
    connection = Connection(
        slug=SLUG,
        name="Store tills",
        kind=SystemKind.POS,
        base_url="http://127.0.0.1:9/",
        channel=channel,
    )
    connection.set_credentials({"webhook_secret": POS_SECRET})
    connection.save()
    return {"channel": channel, "stores": stores, "skus": skus, "connection": connection}


@pytest.fixture
def tills(live_server: Any) -> Iterator[Any]:
    """The POS simulator sending its signed events to our receive endpoint on a live server."""
    from integrations.pos.simulator import PosSimulator

    sim = PosSimulator(stores=3, webhook_retry_base_s=0.2)
    sim.serve_in_thread()
    sim.webhooks.add_endpoint(f"{live_server.url}{HOOK}", POS_SECRET)
    try:
        yield sim
    finally:
        sim.shutdown()


def sim(tills: Any, path: str, payload: dict[str, Any] | None = None) -> dict[str, Any]:
    response = httpx.post(f"{tills.url}{path}", json=payload or {}, timeout=10)
    assert response.status_code in (200, 201), response.text
    return response.json()


def delivered(tills: Any) -> None:
    """Wait until every delivery the simulator queued was answered and stored."""

    def done() -> bool:
        """every delivery answered and none pending"""
        return tills.webhooks.pending() == 0 and all(d["ok"] for d in tills.webhooks.deliveries())

    wait_for(done, timeout=20)


def drain() -> list[str]:
    """Apply what the inbox holds, as the worker would (until nothing is left)."""
    statuses: list[str] = []
    while ids := claim_inbound(50):
        statuses += [process_inbound_event(event_id) for event_id in ids]
    return statuses


_sequence = iter(range(1, 10**6))


def envelope(event_type: str, obj: dict[str, Any]) -> dict[str, Any]:
    return {
        "id": f"evt_{next(_sequence):08d}",
        "object": "event",
        "type": event_type,
        "created": int(time.time()),
        "data": {"object": obj},
    }


def post_event(client: Any, event: dict[str, Any] | bytes, secret: str = POS_SECRET) -> Any:
    body = event if isinstance(event, bytes) else json.dumps(event).encode()
    headers = {"POS-Signature": signature_header([secret], body, None)}
    return client.post(HOOK, data=body, content_type="application/json", headers=headers)
