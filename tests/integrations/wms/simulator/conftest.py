"""The WMS simulator and a client over real HTTP, and a webhook receiver, for this folder's
tests (``client`` here is an httpx client on the simulator, not Django's test client)."""

from __future__ import annotations

from collections.abc import Iterator

import httpx
import pytest

from integrations.wms.simulator import WmsSimulator
from tests.integrations.wms.simulator.support import FAST, SECRET, TOKEN, Receiver


@pytest.fixture
def wms() -> Iterator[WmsSimulator]:
    sim = WmsSimulator(
        token=TOKEN, config={**FAST, "auto_progress": False}, seed=7, webhook_retry_base_s=0.05
    )
    sim.serve_in_thread()
    yield sim
    sim.shutdown()


@pytest.fixture
def client(wms: WmsSimulator) -> Iterator[httpx.Client]:
    with httpx.Client(
        base_url=wms.url, headers={"Authorization": f"Bearer {TOKEN}"}, timeout=5
    ) as c:
        yield c


@pytest.fixture
def receiver(client: httpx.Client) -> Iterator[Receiver]:
    hook = Receiver().serve_in_thread()
    response = client.post(
        "/_sim/webhook_endpoints", json={"url": f"{hook.url}/hook", "secret": SECRET, "id": "we_1"}
    )
    assert response.status_code == 201
    yield hook
    hook.shutdown()
