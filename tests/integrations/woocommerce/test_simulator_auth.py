"""The simulator authenticates as WooCommerce's class-wc-rest-authentication.php does."""

from __future__ import annotations

import time
from collections.abc import Iterator
from urllib.parse import parse_qsl, urlencode, urlsplit

import httpx
import pytest

from integrations.woocommerce.simulator import WooCommerceSimulator
from integrations.woocommerce.simulator.auth import sign
from tests.integrations.woocommerce.test_simulator_support import API, CK, CS, oauth

CANNOT_LIST = {
    "code": "woocommerce_rest_cannot_view",
    "message": "Sorry, you cannot list resources.",
    "data": {"status": 401},
}


@pytest.fixture
def woo() -> Iterator[WooCommerceSimulator]:
    sim = WooCommerceSimulator(port=0, consumer_key=CK, consumer_secret=CS, seed=1)
    sim.serve_in_thread()
    yield sim
    sim.shutdown()


@pytest.fixture
def woo_tls() -> Iterator[WooCommerceSimulator]:
    sim = WooCommerceSimulator(port=0, consumer_key=CK, consumer_secret=CS, seed=1, tls=True)
    sim.serve_in_thread()
    yield sim
    sim.shutdown()


def signed_query(
    woo: WooCommerceSimulator,
    path: str,
    *,
    method: str = "GET",
    timestamp: int | None = None,
    nonce: str = "n0nce",
    secret: str = CS,
    algorithm: str = "HMAC-SHA1",
    extra: dict[str, str] | None = None,
) -> dict[str, str]:
    params = {
        **(extra or {}),
        "oauth_consumer_key": CK,
        "oauth_timestamp": str(int(time.time()) if timestamp is None else timestamp),
        "oauth_nonce": nonce,
        "oauth_signature_method": algorithm,
    }
    params["oauth_signature"] = sign(method, f"{woo.url}{path}", params, secret, algorithm)
    return params


@pytest.mark.parametrize("signature_type", ["QUERY", "HEADER"])
def test_auth_authlib_oauth1_hmac_sha256_is_accepted(woo, signature_type) -> None:
    # given authlib's OAuth1Auth signing with HMAC-SHA256 in the query or the header
    auth = oauth(signature_type=signature_type)
    # when it lists orders with a filter and creates one
    listed = httpx.get(f"{woo.url}{API}/orders", params={"per_page": 5}, auth=auth)
    created = httpx.post(
        f"{woo.url}{API}/orders", json={"line_items": [{"sku": "APP-TEE-001"}]}, auth=auth
    )
    # then the shop answers as it would a real client
    assert listed.status_code == 200, listed.text
    assert listed.json() == []
    assert created.status_code == 201, created.text
    assert created.json()["line_items"][0]["sku"] == "APP-TEE-001"


def test_auth_hmac_sha1_query_signature_is_accepted(woo) -> None:
    # given a request signed with HMAC-SHA1 by WooCommerce's own base-string rules
    params = signed_query(woo, f"{API}/orders", extra={"status": "any"})
    # when it is sent
    response = httpx.get(f"{woo.url}{API}/orders", params=params)
    # then it is accepted
    assert response.status_code == 200, response.text


def test_auth_basic_and_query_keys_over_http_are_refused(woo) -> None:
    # given the consumer key and secret sent in clear over http
    # when they come as Basic auth or as query parameters
    basic = httpx.get(f"{woo.url}{API}/orders", auth=(CK, CS))
    query = httpx.get(f"{woo.url}{API}/orders", params={"consumer_key": CK, "consumer_secret": CS})
    anonymous = httpx.post(f"{woo.url}{API}/orders", json={})
    # then WooCommerce ignores them: the endpoint's permission check refuses the caller
    assert basic.status_code == query.status_code == 401
    assert basic.json() == query.json() == CANNOT_LIST
    assert anonymous.json()["code"] == "woocommerce_rest_cannot_create"
    assert anonymous.json()["message"] == "Sorry, you are not allowed to create resources."


@pytest.mark.parametrize(
    ("mutate", "message"),
    [
        (
            lambda p: p.update(oauth_signature="AAAA"),
            "Invalid signature - provided signature does not match.",
        ),
        (lambda p: p.update(oauth_consumer_key="ck_other"), "Consumer key is invalid."),
        (
            lambda p: p.update(oauth_signature_method="PLAINTEXT"),
            "Invalid signature - signature method is invalid.",
        ),
        (
            lambda p: p.update(per_page="7"),
            "Invalid signature - provided signature does not match.",
        ),
    ],
)
def test_auth_bad_oauth_is_refused_with_woocommerce_message(woo, mutate, message) -> None:
    # given a correctly signed request that is then tampered with
    params = signed_query(woo, f"{API}/orders")
    mutate(params)
    # when it is sent
    response = httpx.get(f"{woo.url}{API}/orders", params=params)
    # then WooCommerce's authentication error comes back
    assert response.status_code == 401
    assert response.json() == {
        "code": "woocommerce_rest_authentication_error",
        "message": message,
        "data": {"status": 401},
    }


def test_auth_missing_oauth_parameters_are_named(woo) -> None:
    # given an OAuth request without nonce and timestamp
    params = signed_query(woo, f"{API}/orders")
    del params["oauth_nonce"], params["oauth_timestamp"]
    # when it is sent
    response = httpx.get(f"{woo.url}{API}/orders", params=params)
    # then the missing parameters are listed
    assert response.status_code == 401
    assert response.json()["code"] == "woocommerce_rest_authentication_missing_parameter"
    assert response.json()["message"] == "Missing OAuth parameters oauth_timestamp, oauth_nonce"


def test_auth_stale_timestamp_is_refused(woo) -> None:
    # given a request signed 16 minutes ago (the window is 15)
    params = signed_query(woo, f"{API}/orders", timestamp=int(time.time()) - 16 * 60)
    # when it is sent
    response = httpx.get(f"{woo.url}{API}/orders", params=params)
    # then
    assert response.status_code == 401
    assert response.json()["message"] == "Invalid timestamp."


def test_auth_reused_nonce_is_refused(woo) -> None:
    # given a request that went through once
    params = signed_query(woo, f"{API}/orders", nonce="same-nonce")
    assert httpx.get(f"{woo.url}{API}/orders", params=params).status_code == 200
    # when the same nonce comes back, freshly signed
    again = signed_query(woo, f"{API}/orders", nonce="same-nonce", timestamp=int(time.time()) + 1)
    replay = httpx.get(f"{woo.url}{API}/orders", params=again)
    # then it is refused as a replay
    assert replay.status_code == 401
    assert replay.json()["message"] == "Invalid nonce - nonce has already been used."


def test_auth_signature_is_bound_to_the_site_url(woo) -> None:
    # given a request signed for another host name than the shop's home URL
    other = WooCommerceSimulator(
        port=0, consumer_key=CK, consumer_secret=CS, site_url="http://shop.example/"
    ).serve_in_thread()
    try:
        params = signed_query(woo, f"{API}/orders")
        # when it is sent to a shop whose home URL differs
        response = httpx.get(f"{other.url}{API}/orders", params=params)
        # then the signature does not match (WooCommerce signs home_url(), not the Host header)
        assert response.json()["message"] == (
            "Invalid signature - provided signature does not match."
        )
    finally:
        other.shutdown()


def test_auth_read_only_key_cannot_write() -> None:
    # given a key created with read permissions only
    sim = WooCommerceSimulator(
        port=0, consumer_key=CK, consumer_secret=CS, key_permissions="read"
    ).serve_in_thread()
    try:
        # when it reads and writes
        read = httpx.get(f"{sim.url}{API}/orders", auth=oauth())
        write = httpx.post(f"{sim.url}{API}/orders", json={}, auth=oauth())
        # then only the read goes through
        assert read.status_code == 200
        assert write.status_code == 401
        assert write.json()["message"] == "The API key provided does not have write permissions."
    finally:
        sim.shutdown()


def test_auth_https_accepts_basic_and_query_keys(woo_tls) -> None:
    # given the simulator in https mode with its self-signed certificate
    assert woo_tls.url.startswith("https://")
    verify = str(woo_tls.tls_cert)
    # when the key and secret come as Basic auth, as query parameters, and as OAuth
    basic = httpx.get(f"{woo_tls.url}{API}/orders", auth=(CK, CS), verify=verify)
    query = httpx.get(
        f"{woo_tls.url}{API}/orders",
        params={"consumer_key": CK, "consumer_secret": CS},
        verify=verify,
    )
    signed = httpx.get(f"{woo_tls.url}{API}/orders", auth=oauth(), verify=verify)
    wrong = httpx.get(f"{woo_tls.url}{API}/orders", auth=(CK, "cs_wrong"), verify=verify)
    unknown = httpx.get(f"{woo_tls.url}{API}/orders", auth=("ck_nobody", CS), verify=verify)
    # then all three are accepted; a wrong secret is named, an unknown key is just not a user
    assert (basic.status_code, query.status_code, signed.status_code) == (200, 200, 200)
    assert wrong.status_code == 401
    assert wrong.json()["message"] == "Consumer secret is invalid."
    assert unknown.json() == CANNOT_LIST


def test_auth_pagination_links_do_not_carry_credentials(woo) -> None:
    # given more orders than fit a page
    httpx.post(f"{woo.url}/_sim/orders", json={"count": 3})
    # when a signed client reads the first page
    response = httpx.get(f"{woo.url}{API}/orders", params={"per_page": 1}, auth=oauth())
    # then the next link keeps the filters but no OAuth parameters
    link = response.headers["Link"].split(";")[0].strip("<>")
    query = dict(parse_qsl(urlsplit(link).query))
    assert query == {"per_page": "1", "page": "2"}
    assert urlencode(query)
