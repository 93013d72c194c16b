"""Ops staff watch orders arrive and move, live, in a real browser against the real server."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pytest
from django.db import connections
from playwright.sync_api import expect

from controltower.core.context import acting_as
from controltower.orders.services import register_order_in_erp, upsert_channel_order
from integrations.woocommerce.translate import translate_order
from tests.factories.integrations import web_channel
from tests.factories.woocommerce import woo_order


def elsewhere(func: Any, *args: Any) -> Any:
    """Run server-side work off this thread (Playwright's event loop lives here), as a worker
    process would: the service's on-commit push then goes out through the Channels layer."""

    def run() -> Any:
        try:
            return func(*args)
        finally:
            connections.close_all()

    with ThreadPoolExecutor(max_workers=1) as pool:
        return pool.submit(run).result()


def accept_order(channel: Any, number: int) -> Any:
    with acting_as("sync.woocommerce"):
        data = translate_order(woo_order(number), source_system="woocommerce:woo-web")
        return upsert_channel_order(channel, data).order


def register(order: Any, reference: str) -> Any:
    with acting_as("sync.erp"):
        return register_order_in_erp(order, erp_reference=reference, connection="erp-main")


def log_in(page, base_url: str, username: str, password: str) -> None:
    page.goto(f"{base_url}/accounts/login/?next=/orders/")
    page.get_by_label("Username").fill(username)
    page.get_by_label("Password").fill(password)
    page.get_by_role("button", name="Log in").click()


@pytest.mark.slow
@pytest.mark.django_db(transaction=True)
def test_orders_page_shows_new_orders_and_changes_live(web_server, browser_page, ops_user) -> None:
    # given: ops staff on the orders page, nothing there yet
    channel = web_channel()
    page = browser_page
    log_in(page, web_server.url, "olivia.ops", "pw-olivia.ops")
    expect(page.get_by_role("heading", name="Orders")).to_be_visible()
    expect(page.get_by_text("No orders yet.")).to_be_visible()
    page.wait_for_function("() => document.querySelector('#live-region') && window.htmx")
    page.wait_for_timeout(1000)  # the websocket connects after htmx initialises

    # when: a storefront order is accepted (pushed over Channels; the page's poll is 300 s)
    order = elsewhere(accept_order, channel, 4711)

    # then: its row appears without a reload, with stage, channel, amount and age
    row = page.locator(f"#order-{order.pk}")
    expect(row).to_be_visible(timeout=10_000)
    expect(row).to_contain_text("4711")
    expect(row).to_contain_text("Accepted")
    expect(row).to_contain_text("Web store")
    expect(row).to_contain_text(f"{order.total_amount:.2f} EUR")

    # when: the ERP registers it
    elsewhere(register, order, "SO-000042")

    # then: the same row changes in place
    expect(row).to_contain_text("Registered in ERP", timeout=10_000)
    expect(row).to_contain_text("SO-000042")
    assert page.locator("tr[id^='order-']").count() == 1

    # and: a plain reload renders the same state
    page.reload()
    expect(page.locator(f"#order-{order.pk}")).to_contain_text("SO-000042")

    # when: ops open the order
    page.get_by_role("link", name="4711").click()

    # then: lines, timeline, raw events and history are there
    expect(page.get_by_role("heading", name="Order 4711")).to_be_visible()
    expect(page.locator("#order-lines")).to_contain_text("NW-TEE-001-BLK-M")
    expect(page.locator("#order-events")).to_contain_text("Registered in ERP")
    expect(page.locator("#order-history")).to_contain_text("sync.woocommerce")
    expect(page.locator("#order-history")).to_contain_text("sync.erp")


@pytest.mark.slow
@pytest.mark.django_db(transaction=True)
def test_orders_page_forbidden_to_executives(web_server, browser_page, exec_viewer) -> None:
    # given
    page = browser_page
    orders_url = f"{web_server.url}/orders/"
    # when: an executive logs in on the way to the orders page
    with page.expect_response(lambda r: r.url == orders_url) as answer:
        log_in(page, web_server.url, "erin.exec", "pw-erin.exec")
    # then: refused with Django's 403 page, and nothing of the orders page shown
    assert answer.value.status == 403
    assert page.url == orders_url
    expect(page).to_have_title("403 Forbidden")
    assert page.locator("body").inner_text().strip() == "403 Forbidden"
