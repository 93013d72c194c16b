"""Ops follow one web order from the storefront to the ledger on its page, in a real browser,
while the real web tier, a Celery worker (with beat) and the four simulators — gateway, ERP,
warehouse, ledger — move it by their own signed webhooks; then an executive reads the KPI charts
that order now feeds."""

from __future__ import annotations

import time
from collections.abc import Iterator
from datetime import date
from typing import Any

import httpx
import pytest
from playwright.sync_api import expect

from controltower.catalog.choices import SystemKind
from controltower.orders.models import Order
from controltower.payments.services import order_reference
from integrations.runtime.models import Connection
from tests.browser.test_ops_orders import log_in
from tests.conftest import wait_for
from tests.factories import lifecycle
from tests.factories.catalog import SKUFactory
from tests.factories.integrations import ERP_TOKEN, erp_connection, woo_connection
from tests.factories.woocommerce import body_of, webhook_headers, woo_order

SECRETS = {"payments": "whsec-gw", "wms": "whsec-wms", "erp": "whsec-erp"}


@pytest.fixture
def estate() -> Iterator[dict[str, Any]]:
    """The gateway, warehouse and ledger simulators over real HTTP (the ERP's is a fixture)."""
    from integrations.ledger.simulator import LedgerSimulator
    from integrations.payments.simulator import PaymentsSimulator
    from integrations.wms.simulator import WmsSimulator

    sims = {
        "gateway": PaymentsSimulator(secret_key="sk_test_b", webhook_retry_base_s=0.2),
        "wms": WmsSimulator(
            token="wms-b",
            seed=3,
            config={"pick_after_s": 0.3, "pack_after_s": 0.3, "ship_after_s": 0.3},
            webhook_retry_base_s=0.2,
        ),
        "ledger": LedgerSimulator(token="ledger-b"),
    }
    for sim in sims.values():
        sim.serve_in_thread()
    try:
        yield sims
    finally:
        for sim in sims.values():
            sim.shutdown()


def connect(kind: str, slug: str, base_url: str, credentials: dict[str, Any]) -> None:
    connection = Connection(slug=slug, name=slug, kind=kind, base_url=base_url, timeout_s=5)
    connection.set_credentials(credentials)
    connection.save()


def books() -> None:
    """The demo chart, mapped for every tax code and method, this year open; cards at checkout."""
    year = date.today().year
    lifecycle.books(tax_codes=None, method=None, period=(date(year, 1, 1), date(year, 12, 31)))
    lifecycle.payment_method("stripe")


@pytest.mark.slow
@pytest.mark.django_db(transaction=True)
def test_ops_follow_an_order_from_the_web_to_the_ledger_and_executives_see_it(
    web_server, celery_worker, erp_simulator, estate, browser_page, ops_user, exec_viewer
) -> None:
    # given: the store, the gateway, the ERP, the warehouse and the ledger, all connected and
    # each sending its signed webhooks to the web tier
    gateway, wms, ledger = estate["gateway"], estate["wms"], estate["ledger"]
    for code in ("NW-TEE-001-BLK-M", "NW-CAP-002-NAV-OS"):
        SKUFactory(code=code)
    woo_connection()
    erp = erp_connection(base_url=erp_simulator.url)
    erp.set_credentials({"token": ERP_TOKEN, "webhook_secret": SECRETS["erp"]})
    erp.save()
    connect(SystemKind.PAYMENTS, "gw", gateway.url, {"secret_key": "sk_test_b",
            "webhook_secret": SECRETS["payments"]})  # fmt: skip
    connect(SystemKind.WMS, "wms-main", wms.url, {"token": "wms-b",
            "webhook_secret": SECRETS["wms"]})  # fmt: skip
    connect(SystemKind.FINANCE, "ledger-main", ledger.url, {"token": "ledger-b"})
    books()
    gateway.webhooks.add_endpoint(f"{web_server.url}/hooks/payments/gw/", SECRETS["payments"])
    wms.webhooks.add_endpoint(f"{web_server.url}/hooks/wms/wms-main/", SECRETS["wms"])
    httpx.post(
        f"{erp_simulator.url}/_sim/webhook_endpoints",
        json={"url": f"{web_server.url}/hooks/erp/erp-main/", "secret": SECRETS["erp"]},
    ).raise_for_status()
    # when: a customer checks out on the web: the store's webhook, the gateway's payment
    body = body_of(woo_order(1001))
    stored = httpx.post(
        f"{web_server.url}/hooks/woocommerce/woo-web/",
        content=body,
        headers={"Content-Type": "application/json", **webhook_headers(body)},
    )
    assert stored.status_code == 200, stored.text
    order = wait_for(lambda: Order.objects.filter(number="1001").first(), timeout=30)
    httpx.post(
        f"{gateway.url}/_sim/checkout",
        json={
            "order_ref": order_reference(order),
            "correlation_id": str(order.correlation_id),
            "amount": 7077,
            "currency": "eur",
            "capture_method": "automatic",
        },
    ).raise_for_status()
    # then: ops, on the order's page, see it go through every system to the ledger
    page = browser_page
    log_in(page, web_server.url, "olivia.ops", "pw-olivia.ops")
    page.goto(f"{web_server.url}/orders/{order.pk}/")
    expect(page.locator("#lifecycle-strip")).to_be_visible()
    deadline = time.monotonic() + 90
    ledger_step = page.locator("#step-ledger")
    while "Posted as JE-" not in (ledger_step.text_content() or ""):
        if time.monotonic() > deadline:
            order.refresh_from_db()
            raise AssertionError(
                f"not posted: stage {order.stage}, waiting on {order.waiting_on}\n"
                f"{celery_worker.log()}"
            )
        page.wait_for_timeout(1000)
        page.reload()
    order.refresh_from_db()
    strip = page.locator("#lifecycle-strip")
    expect(page.locator("#step-gateway")).to_contain_text("Captured")
    expect(page.locator("#step-gateway")).to_contain_text("70.77")
    expect(page.locator("#step-erp")).to_contain_text(order.erp_reference)
    expect(page.locator("#step-erp")).to_contain_text("INV-")
    expect(page.locator("#step-wms")).to_contain_text("Shipped")
    shipment = order.shipments.get()
    expect(page.locator("#step-wms")).to_contain_text(shipment.tracking_number)
    expect(ledger_step).to_contain_text(f"Posted as {order.journal.get().ledger_id}")
    expect(strip).to_contain_text("waiting on")
    # and the trace — on the page and in the API — holds every system's step for this one
    # correlation id: the store's webhook, the gateway's payment, the ERP's sales order, the
    # warehouse's release and shipment, the shipment confirmed and invoiced, the ledger batch
    trace = page.locator("#order-trace")
    steps = (
        "order.created received",
        "payment_intent.succeeded received",
        "ERP: create sales order",
        "WMS: release order",
        "shipment.shipped received",
        "ERP: confirm shipment",
        "invoice.issued received",
        "Ledger: post journal batch",
    )
    for step in steps:
        expect(trace).to_contain_text(step)
    api = page.request.get(f"{web_server.url}/api/v1/traces/{order.correlation_id}/")
    assert api.status == 200, api.text()
    told = api.text()
    for step in steps:
        assert step in told, step
    # when: an executive opens the home page
    page.context.clear_cookies()
    log_in(page, web_server.url, "erin.exec", "pw-erin.exec")
    page.goto(f"{web_server.url}/")
    # then: the KPI charts are drawn from the database, this order among them
    expect(page.locator("canvas[data-chart='orders']")).to_be_visible()
    page.wait_for_function(
        "() => [...document.querySelectorAll('canvas[data-chart]')]"
        ".every(c => c.width > 0 && window.Chart && Chart.getChart(c))"
    )
    orders_table = page.locator("table", has=page.locator("caption", has_text="per day by channel"))
    expect(orders_table).to_contain_text("1")
    expect(page.locator("#posting-share")).to_contain_text("100")
