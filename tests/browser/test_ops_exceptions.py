"""Ops fix a dead-lettered ERP order in the browser: find it, correct it, replay it."""

from __future__ import annotations

import httpx
import pytest
from playwright.sync_api import expect

from controltower.exceptions.models import OpsException
from integrations.runtime.models import OutboundMessage
from tests.browser.test_ops_orders import log_in
from tests.conftest import wait_for
from tests.factories.integrations import erp_connection, woo_connection
from tests.factories.woocommerce import body_of, webhook_headers, woo_order


@pytest.mark.slow
@pytest.mark.django_db(transaction=True)
def test_ops_replay_a_dead_letter_with_a_corrected_payload(
    web_server, celery_worker, erp_simulator, ops_user, browser_page
) -> None:
    # given: ops watching an empty work queue
    woo_connection()
    erp_connection(base_url=erp_simulator.url)
    page = browser_page
    log_in(page, web_server.url, "olivia.ops", "pw-olivia.ops")
    page.get_by_role("link", name="Exceptions").click()
    expect(page.get_by_text("Nothing needs attention.")).to_be_visible()
    page.wait_for_function("() => window.htmx")
    page.wait_for_timeout(1000)  # the websocket connects after htmx initialises
    # when: the ERP refuses an order for good, so it is dead-lettered by the worker
    httpx.post(f"{erp_simulator.url}/_sim/faults", json={"fail_next": 1, "fail_status": 422})
    body = body_of(woo_order(7301))
    answer = httpx.post(
        f"{web_server.url}/hooks/woocommerce/woo-web/", content=body, headers=webhook_headers(body)
    )
    assert answer.status_code == 200

    def dead_lettered() -> bool:
        """the ERP message is dead-lettered and an exception is open"""
        return OpsException.objects.filter(type="dead_letter", state="open").exists()

    wait_for(dead_lettered, timeout=30)

    # then: it appears in the work queue without a reload (the page's own poll is 300 s)
    row = page.locator(f"#exception-{OpsException.objects.get().pk}")
    expect(row).to_contain_text("dead-lettered", timeout=10_000)
    expect(row).to_contain_text("EUR")

    # when: ops open it and the message behind it
    row.get_by_role("link").click()
    expect(page.locator("#exception-detail")).to_contain_text("422")
    page.locator("#subject-link").click()
    expect(page.locator("#attempts")).to_contain_text("422")

    # and: correct the customer's name and replay it, giving a reason
    payload = page.locator("#replay-form textarea[name=payload]")
    payload.fill(payload.input_value().replace('"name": "Anna de Vries"', '"name": "A. de Vries"'))
    page.locator("#replay-form textarea[name=reason]").fill("name corrected per ticket 9")
    page.locator("#replay-form").get_by_role("button", name="Replay").click()

    # then: the replay goes out through the outbox and is delivered
    expect(page.locator(".flash")).to_contain_text("Replayed as message")
    replay = OutboundMessage.objects.get(replay_of__isnull=False)
    wait_for(lambda: OutboundMessage.objects.get(pk=replay.pk).status == "delivered", timeout=30)
    page.reload()
    expect(page.get_by_text("Delivered").first).to_be_visible()
    # and: the exception closed itself, with the replay as its reason, shown to ops
    page.goto(f"{web_server.url}/exceptions/?state=all")
    expect(page.locator("#exceptions-body")).to_contain_text("Resolved")
    exception = OpsException.objects.get(type="dead_letter")
    assert exception.state == "resolved"
    erp = httpx.get(
        f"{erp_simulator.url}/api/v1/sales-orders",
        headers={"Authorization": "Bearer test-erp-token"},
    ).json()["results"]
    assert [o["customer"]["name"] for o in erp] == ["A. de Vries"]
