"""The WooCommerce client signs as a real shop checks it.

The verifier below is written independently of authlib, after WooCommerce's
``WC_REST_Authentication::check_oauth_signature`` (params = query + ``Authorization: OAuth``
header, sorted by key, each key/value RFC 3986-encoded, ``key=value`` encoded again and joined
with ``%26``; base string ``METHOD&enc(url without query)&params``; key ``consumer_secret&``), on
a real HTTP server, so the test fails if our signing drifts from WooCommerce's.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import time
from typing import Any
from urllib.parse import quote, unquote

import httpx
import pytest

from integrations.simkit import JsonHTTPServer, Request, Response, json_response
from integrations.woocommerce.client import (
    WooCommerceError,
    auth_for,
    get_json,
    paginate,
    request_json,
    woo_client,
)
from tests.factories.integrations import woo_connection


def _enc(value: str) -> str:
    return quote(value, safe="~")


class OAuthCheckingShop(JsonHTTPServer):
    """Answers like WooCommerce over http: OAuth 1.0a one-legged or 401."""

    name = "oauth-shop"

    def __init__(self) -> None:
        super().__init__(host="127.0.0.1", port=0)
        self.seen: list[dict[str, Any]] = []
        self.nonces: set[str] = set()
        self.route("GET", r"/wp-json/wc/v3/orders/?", self._guard(self.orders))
        self.route("PUT", r"/wp-json/wc/v3/orders/(?P<order_id>\d+)/?", self._guard(self.update))

    def _params(self, request: Request) -> dict[str, str]:
        params = {key: values[-1] for key, values in request.query.items()}
        header = request.header("Authorization") or ""
        if header.startswith("OAuth "):
            for part in header[len("OAuth ") :].split(","):
                key, _, value = part.strip().partition("=")
                params[unquote(key)] = unquote(value.strip('"'))
        return params

    def _check(self, request: Request) -> str | None:
        params = self._params(request)
        for required in ("oauth_consumer_key", "oauth_timestamp", "oauth_nonce"):
            if required not in params:
                return f"missing {required}"
        if params["oauth_consumer_key"] != "ck_t":
            return "Consumer key is invalid."
        if abs(int(params["oauth_timestamp"]) - time.time()) > 15 * 60:
            return "Invalid timestamp."
        if params["oauth_nonce"] in self.nonces:
            return "Invalid nonce - nonce has already been used."
        method = params.get("oauth_signature_method")
        if method not in ("HMAC-SHA1", "HMAC-SHA256"):
            return "Invalid signature - signature method is invalid."
        signature = params.pop("oauth_signature", "")
        normalized = [f"{_enc(k)}={_enc(v)}" for k, v in sorted(params.items())]
        string_to_sign = "&".join(
            [request.method.upper(), _enc(f"{self.url}{request.path}"), _enc("&".join(normalized))]
        )
        algorithm = hashlib.sha256 if method == "HMAC-SHA256" else hashlib.sha1
        expected = base64.b64encode(
            hmac.new(b"cs_t&", string_to_sign.encode(), algorithm).digest()
        ).decode()
        if not hmac.compare_digest(expected, signature):
            return "Invalid signature - provided signature does not match."
        self.nonces.add(params["oauth_nonce"])
        self.seen.append({"params": params, "in_header": "oauth_nonce" not in request.query})
        return None

    def _guard(self, handler: Any) -> Any:
        def wrapper(request: Request) -> Response:
            problem = self._check(request)
            if problem:
                return json_response(
                    {
                        "code": "woocommerce_rest_authentication_error",
                        "message": problem,
                        "data": {"status": 401},
                    },
                    401,
                )
            return handler(request)

        return wrapper

    def orders(self, request: Request) -> Response:
        page = int(request.arg("page") or 1)
        items = {1: [{"id": 1}, {"id": 2}], 2: [{"id": 3}]}.get(page, [])
        return json_response(items, headers={"X-WP-Total": "3", "X-WP-TotalPages": "2"})

    def update(self, request: Request) -> Response:
        body = request.json()
        return json_response({"id": int(request.params["order_id"]), **body})


@pytest.fixture
def shop() -> Any:
    server = OAuthCheckingShop()
    server.serve_in_thread()
    try:
        yield server
    finally:
        server.shutdown()


@pytest.mark.django_db
def test_woo_client_signs_oauth_hmac_sha256_in_the_query_over_http(shop) -> None:
    # given
    connection = woo_connection(base_url=shop.url)
    # when
    with woo_client(connection) as client:
        pages = list(paginate(client, "/orders", {"status": "processing"}))
    # then: both pages were accepted, each with a fresh nonce, signed in the query string
    assert pages == [[{"id": 1}, {"id": 2}], [{"id": 3}]]
    assert len(shop.seen) == 2 and len(shop.nonces) == 2
    assert all(not seen["in_header"] for seen in shop.seen)
    assert {seen["params"]["oauth_signature_method"] for seen in shop.seen} == {"HMAC-SHA256"}
    assert shop.seen[0]["params"]["status"] == "processing"


@pytest.mark.django_db
def test_woo_client_signs_in_the_header_and_keeps_the_json_body(shop) -> None:
    # given: a connection asking for the Authorization header
    connection = woo_connection(base_url=shop.url)
    credentials = connection.credentials
    connection.set_credentials({**credentials, "oauth_signature_in": "header"})
    connection.save()
    # when: a PUT with a JSON body (authlib alone would send it empty)
    with woo_client(connection) as client:
        answer = request_json(client, "PUT", "/orders/7", json_body={"status": "cancelled"})
    # then
    assert answer == {"id": 7, "status": "cancelled"}
    assert shop.seen[-1]["in_header"] is True


@pytest.mark.django_db
def test_woo_client_wrong_secret_raises_woocommerce_code_and_message(shop) -> None:
    # given
    connection = woo_connection(base_url=shop.url, consumer_secret="wrong")
    # when
    with woo_client(connection) as client, pytest.raises(WooCommerceError) as caught:
        get_json(client, "/orders")
    # then: the caller sees WooCommerce's own code and text
    assert caught.value.status_code == 401
    assert caught.value.code == "woocommerce_rest_authentication_error"
    assert caught.value.message == "Invalid signature - provided signature does not match."
    assert "woocommerce_rest_authentication_error" in str(caught.value)


@pytest.mark.django_db
def test_auth_for_uses_basic_over_https_only() -> None:
    # given
    https = woo_connection(slug="woo-tls", base_url="https://shop.example/")
    http = woo_connection(slug="woo-plain", base_url="http://shop.example/")
    # when
    over_tls = auth_for(https)
    over_plain = auth_for(http)
    # then
    request = next(over_tls.auth_flow(httpx.Request("GET", "https://shop.example/x")))
    assert request.headers["Authorization"] == "Basic " + base64.b64encode(b"ck_t:cs_t").decode()
    signed = next(over_plain.auth_flow(httpx.Request("GET", "http://shop.example/x")))
    assert "Authorization" not in signed.headers
    assert "oauth_signature=" in str(signed.url)


@pytest.mark.django_db
def test_auth_for_refuses_an_unknown_signature_placement() -> None:
    # given
    connection = woo_connection(base_url="http://shop.example/")
    connection.set_credentials({**connection.credentials, "oauth_signature_in": "body"})
    # when / then
    with pytest.raises(ValueError, match="oauth_signature_in must be one of"):
        auth_for(connection)


def test_woocommerce_error_from_a_non_json_answer_keeps_the_text() -> None:
    # given
    response = httpx.Response(502, text="Bad gateway from nginx")
    # when
    error = WooCommerceError.from_response(response, path="/orders")
    # then
    assert error.status_code == 502 and error.code == ""
    assert str(error) == "/orders: HTTP 502: Bad gateway from nginx"
