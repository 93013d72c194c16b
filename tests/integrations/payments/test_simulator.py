"""The gateway simulator over real HTTP (no Django, no database): Stripe's shapes, idempotency,
partial and final captures with their fees, refunds bounded by what was captured, signed
webhooks as the receiver verifies them."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterator

import httpx
import pytest

from integrations.payments.simulator import PaymentsSimulator
from integrations.runtime.signing import SignatureError, verify
from integrations.simkit import JsonHTTPServer, Request, Response, json_response
from tests.integrations.payments.conftest import AUTH, WEBHOOK_SECRET, checkout, gateway_post


class Receiver(JsonHTTPServer):
    """A webhook endpoint recording every delivery."""

    name = "payments-test-receiver"

    def __init__(self) -> None:
        super().__init__(host="127.0.0.1", port=0)
        self.lock = threading.Lock()
        self.received: list[tuple[dict[str, str], bytes]] = []
        self.route("POST", r"/hook", self._hook)

    def _hook(self, request: Request) -> Response:
        with self.lock:
            self.received.append((dict(request.headers), request.body))
        return json_response({"ok": True})


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    server = Receiver().serve_in_thread()
    try:
        yield server
    finally:
        server.shutdown()


def _wait(predicate, timeout: float = 5.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return
        time.sleep(0.05)
    raise AssertionError("condition not met in time")


def _intent(sim: PaymentsSimulator, intent_id: str) -> dict:
    response = httpx.get(
        f"{sim.url}/v1/payment_intents/{intent_id}",
        params={"expand[]": "latest_charge"},
        headers=AUTH,
    )
    assert response.status_code == 200, response.text
    return response.json()


def test_simulator_refuses_calls_without_the_secret_key(gateway: PaymentsSimulator) -> None:
    # when
    missing = httpx.post(f"{gateway.url}/v1/payment_intents", data={"amount": "100"})
    wrong = httpx.get(
        f"{gateway.url}/v1/payment_intents/pi_x", headers={"Authorization": "Bearer sk_live_no"}
    )
    # then
    assert missing.status_code == wrong.status_code == 401
    assert missing.json()["error"]["type"] == "invalid_request_error"
    assert "You did not provide an API key" in missing.json()["error"]["message"]
    assert wrong.json()["error"]["message"].startswith("Invalid API Key provided: sk_live_")


def test_simulator_creates_a_form_encoded_intent_as_stripe_does(gateway: PaymentsSimulator) -> None:
    # when
    response = gateway_post(
        gateway,
        "/v1/payment_intents",
        amount="2500",
        currency="EUR",
        capture_method="manual",
        confirm="true",
        payment_method="pm_card_visa",
        **{"metadata[order_ref]": "web-7", "metadata[correlation_id]": "c-7"},
    )
    # then
    assert response.status_code == 200, response.text
    intent = response.json()
    assert (intent["object"], intent["status"], intent["currency"]) == (
        "payment_intent",
        "requires_capture",
        "eur",
    )
    assert intent["amount_capturable"] == 2500
    assert intent["metadata"] == {"order_ref": "web-7", "correlation_id": "c-7"}
    assert intent["latest_charge"].startswith("ch_")  # not expanded unless asked


def test_simulator_validates_parameters_with_stripe_errors(gateway: PaymentsSimulator) -> None:
    # when
    no_amount = gateway_post(gateway, "/v1/payment_intents", currency="eur")
    bad_amount = gateway_post(gateway, "/v1/payment_intents", amount="12.5", currency="eur")
    unknown = httpx.get(f"{gateway.url}/v1/payment_intents/pi_nope", headers=AUTH)
    # then
    assert no_amount.status_code == 400
    assert no_amount.json()["error"] == {
        "type": "invalid_request_error",
        "code": "parameter_missing",
        "message": "Missing required param: amount.",
        "param": "amount",
    }
    assert bad_amount.json()["error"]["code"] == "parameter_invalid_integer"
    assert unknown.status_code == 404
    assert unknown.json()["error"]["code"] == "resource_missing"


def test_simulator_partial_then_final_capture_books_fees_per_capture(
    gateway: PaymentsSimulator,
) -> None:
    # given: 70.77 authorized
    intent = checkout(gateway)
    path = f"/v1/payment_intents/{intent['id']}/capture"
    # when: 30.00 captured, the authorization kept; then 20.00 as the final capture
    first = gateway_post(gateway, path, amount_to_capture="3000", final_capture="false")
    last = gateway_post(gateway, path, amount_to_capture="2000")
    again = gateway_post(gateway, path, amount_to_capture="100")
    # then
    assert first.json()["status"] == "requires_capture"
    assert first.json()["amount_capturable"] == 4077
    assert last.json()["status"] == "succeeded"
    assert (last.json()["amount_received"], last.json()["amount_capturable"]) == (5000, 0)
    charge = _intent(gateway, intent["id"])["latest_charge"]
    fees = [(c["amount"], c["balance_transaction"]["fee"]) for c in charge["captures"]]
    assert fees == [(3000, 70), (2000, 55)]  # 1.5 % + 0.25 each
    txn = charge["captures"][0]["balance_transaction"]
    assert (txn["net"], txn["fee_details"][0]["type"]) == (2930, "stripe_fee")
    assert (
        httpx.get(f"{gateway.url}/v1/balance_transactions/{txn['id']}", headers=AUTH).json()["fee"]
        == 70
    )
    assert again.status_code == 400
    assert again.json()["error"]["code"] == "payment_intent_unexpected_state"
    assert "status of succeeded" in again.json()["error"]["message"]


def test_simulator_refuses_capturing_more_than_authorized(gateway: PaymentsSimulator) -> None:
    # given
    intent = checkout(gateway)
    # when
    response = gateway_post(
        gateway, f"/v1/payment_intents/{intent['id']}/capture", amount_to_capture="9000"
    )
    # then
    assert response.status_code == 400
    assert response.json()["error"]["code"] == "amount_too_large"
    assert response.json()["error"]["param"] == "amount_to_capture"


def test_simulator_idempotency_replays_same_and_refuses_different_parameters(
    gateway: PaymentsSimulator,
) -> None:
    # given
    intent = checkout(gateway)
    path = f"{gateway.url}/v1/payment_intents/{intent['id']}/capture"
    headers = {**AUTH, "Idempotency-Key": "cap-1"}
    # when
    first = httpx.post(path, data={"amount_to_capture": "1000"}, headers=headers)
    replay = httpx.post(path, data={"amount_to_capture": "1000"}, headers=headers)
    conflict = httpx.post(path, data={"amount_to_capture": "1001"}, headers=headers)
    # then
    assert first.status_code == replay.status_code == 200
    assert replay.headers["Idempotent-Replayed"] == "true"
    assert "Idempotent-Replayed" not in first.headers
    assert replay.json() == first.json()
    assert len(_intent(gateway, intent["id"])["latest_charge"]["captures"]) == 1
    assert conflict.status_code == 400
    assert conflict.json()["error"]["type"] == "idempotency_error"


def test_simulator_refunds_up_to_what_was_captured(gateway: PaymentsSimulator) -> None:
    # given: 70.77 captured at checkout
    intent = checkout(gateway, capture_method="automatic")
    # when
    part = gateway_post(gateway, "/v1/refunds", payment_intent=intent["id"], amount="2000")
    too_much = gateway_post(gateway, "/v1/refunds", payment_intent=intent["id"], amount="6000")
    rest = gateway_post(gateway, "/v1/refunds", payment_intent=intent["id"])
    more = gateway_post(gateway, "/v1/refunds", payment_intent=intent["id"], amount="1")
    # then
    assert part.status_code == 200 and part.json()["object"] == "refund"
    assert too_much.status_code == 400
    assert too_much.json()["error"]["code"] == "amount_too_large"
    assert "greater than unrefunded amount on charge (5077)" in too_much.json()["error"]["message"]
    assert rest.json()["amount"] == 5077
    assert more.json()["error"]["code"] == "charge_already_refunded"
    charge = _intent(gateway, intent["id"])["latest_charge"]
    assert (charge["amount_refunded"], charge["refunded"]) == (7077, True)
    assert [r["amount"] for r in charge["refunds"]["data"]] == [2000, 5077]


def test_simulator_refund_of_an_uncaptured_authorization_is_refused(
    gateway: PaymentsSimulator,
) -> None:
    # given
    intent = checkout(gateway)
    # when
    response = gateway_post(gateway, "/v1/refunds", payment_intent=intent["id"])
    # then
    assert response.status_code == 400
    assert response.json()["error"]["code"] == "charge_not_refundable"


def test_simulator_cancel_voids_and_then_refuses_a_capture(gateway: PaymentsSimulator) -> None:
    # given
    intent = checkout(gateway)
    # when
    cancel = gateway_post(gateway, f"/v1/payment_intents/{intent['id']}/cancel")
    capture = gateway_post(gateway, f"/v1/payment_intents/{intent['id']}/capture")
    # then
    assert cancel.json()["status"] == "canceled" and cancel.json()["canceled_at"]
    assert capture.status_code == 400
    assert capture.json()["error"]["payment_intent"]["status"] == "canceled"


def test_simulator_fee_variance_charges_more_than_the_price_list(
    gateway: PaymentsSimulator,
) -> None:
    # given
    assert httpx.post(f"{gateway.url}/_sim/pricing", json={"percent_bps": 200}).status_code == 200
    httpx.post(f"{gateway.url}/_sim/faults", json={"fee_variance_bps": 100})
    # when: 100.00 captured
    intent = checkout(gateway, amount=10000, capture_method="automatic")
    # then: listed 2 % + 0.25 = 2.25, charged 3 % + 0.25
    txn = intent["latest_charge"]["captures"][0]["balance_transaction"]
    assert txn["price_list"] == {"percent_bps": 200, "fixed_minor": 25}
    assert (txn["fee"], txn["net"]) == (325, 9675)


def test_simulator_decline_answers_402_and_leaves_the_intent_unpaid(
    gateway: PaymentsSimulator,
) -> None:
    # given
    httpx.post(f"{gateway.url}/_sim/faults", json={"decline_next": 1})
    # when
    response = gateway_post(
        gateway,
        "/v1/payment_intents",
        amount="500",
        currency="eur",
        confirm="true",
        payment_method="pm_card_visa",
    )
    # then
    assert response.status_code == 402
    error = response.json()["error"]
    assert (error["type"], error["code"]) == ("card_error", "card_declined")
    assert error["payment_intent"]["status"] == "requires_payment_method"
    assert [e["type"] for e in gateway.webhooks.events()] == ["payment_intent.payment_failed"]


def test_simulator_faults_answer_stripe_shaped_5xx_and_429(gateway: PaymentsSimulator) -> None:
    # given
    httpx.post(f"{gateway.url}/_sim/faults", json={"fail_next": 1, "rate_limit_next": 1})
    # when
    limited = httpx.get(f"{gateway.url}/v1/payment_intents/pi_x", headers=AUTH)
    failed = httpx.get(f"{gateway.url}/v1/payment_intents/pi_x", headers=AUTH)
    # then
    assert limited.status_code == 429 and limited.headers["Retry-After"] == "1"
    assert limited.json()["error"]["code"] == "rate_limit"
    assert failed.status_code == 500 and failed.json()["error"]["type"] == "api_error"


def test_simulator_webhooks_are_signed_as_the_receiver_verifies(
    gateway: PaymentsSimulator, receiver: Receiver
) -> None:
    # given
    gateway.webhooks.add_endpoint(f"{receiver.url}/hook", WEBHOOK_SECRET)
    # when
    intent = checkout(gateway)
    gateway_post(gateway, f"/v1/payment_intents/{intent['id']}/capture")
    gateway_post(gateway, "/v1/refunds", payment_intent=intent["id"], amount="77")
    _wait(lambda: len(receiver.received) == 4)
    # then
    types = []
    for headers, body in receiver.received:
        verify(headers["stripe-signature"], body, [WEBHOOK_SECRET])
        with pytest.raises(SignatureError, match="does not match"):
            verify(headers["stripe-signature"], body, ["whsec_other"])
        event = json.loads(body)
        assert event["object"] == "event" and event["id"].startswith("evt_")
        types.append(event["type"])
    assert types == [
        "payment_intent.amount_capturable_updated",
        "payment_intent.succeeded",
        "charge.refunded",
        "refund.created",
    ]
    refund = json.loads(receiver.received[3][1])["data"]["object"]
    assert refund["payment_intent"] == intent["id"]


def test_simulator_stale_webhook_fault_fails_the_tolerance(
    gateway: PaymentsSimulator, receiver: Receiver
) -> None:
    # given
    gateway.webhooks.add_endpoint(f"{receiver.url}/hook", WEBHOOK_SECRET)
    httpx.post(f"{gateway.url}/_sim/faults", json={"stale_webhook_s": 900})
    # when
    checkout(gateway)
    _wait(lambda: len(receiver.received) == 1)
    # then
    headers, body = receiver.received[0]
    with pytest.raises(SignatureError, match="outside the tolerance"):
        verify(headers["stripe-signature"], body, [WEBHOOK_SECRET])


def test_simulator_reset_all_wipes_intents(gateway: PaymentsSimulator) -> None:
    # given
    checkout(gateway)
    # when
    httpx.post(f"{gateway.url}/_sim/reset", json={"all": True})
    # then
    assert httpx.get(f"{gateway.url}/_sim/state").json()["intents"] == 0
