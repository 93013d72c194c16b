"""The ERP simulator and an httpx client on it, and a webhook receiver, for this folder's tests
(``client`` here is not Django's test client)."""

from __future__ import annotations

from collections.abc import Iterator

import httpx
import pytest

from integrations.erp.simulator.server import ErpSimulator
from tests.integrations.erp.invoicing.support import (
    SECRET,
    TOKEN,
    Receiver,
)


@pytest.fixture
def erp() -> Iterator[ErpSimulator]:
    sim = ErpSimulator(port=0, token=TOKEN, invoice_after_s=0.05).serve_in_thread()
    yield sim
    sim.shutdown()


@pytest.fixture
def client(erp: ErpSimulator) -> Iterator[httpx.Client]:
    with httpx.Client(
        base_url=erp.url, headers={"Authorization": f"Bearer {TOKEN}"}, timeout=5
    ) as c:
        yield c


@pytest.fixture
def receiver(client: httpx.Client) -> Iterator[Receiver]:
    hooks = Receiver().serve_in_thread()
    response = client.post(
        "/_sim/webhook_endpoints", json={"url": f"{hooks.url}/hooks", "secret": SECRET}
    )
    assert response.status_code == 201, response.text
    yield hooks
    hooks.shutdown()
