"""The one authenticated HTTP client for a WooCommerce Connection, as a real shop expects it.

WooCommerce's REST API (``WC_REST_Authentication``) accepts:

- over ``https://``: HTTP Basic with the consumer key and secret (or the ``consumer_key`` /
  ``consumer_secret`` query parameters; we send Basic);
- over plain ``http://``: only OAuth 1.0a "one-legged" (no token): ``HMAC-SHA1`` or
  ``HMAC-SHA256`` signature over the method, the URL and the query parameters (never a JSON
  body), with ``oauth_timestamp`` inside a 15-minute window and a ``oauth_nonce`` it has not seen;
  the OAuth parameters go in the query string (the default, what WooCommerce documents) or in the
  ``Authorization: OAuth ...`` header.

Signing is authlib's (``authlib.integrations.httpx_client.OAuth1Auth``) with two adjustments
kept here: authlib has no ``HMAC-SHA256`` signer, so one is registered (the secret is
``consumer_secret&``, as RFC 5849 and WooCommerce build it); and authlib drops a non-form body
when it signs (authlib issue #543), so the JSON body is put back after signing.

Connection credentials: ``consumer_key``, ``consumer_secret`` and optionally
``oauth_signature_in``: ``"query"`` (default) or ``"header"``.
"""

from __future__ import annotations

import binascii
import hashlib
import hmac
import json
import logging
from collections.abc import Generator, Iterator
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

import httpx
from authlib.common.encoding import to_bytes, to_unicode
from authlib.integrations.httpx_client import OAuth1Auth
from authlib.oauth1 import SIGNATURE_TYPE_HEADER, SIGNATURE_TYPE_QUERY, ClientAuth
from authlib.oauth1.rfc5849.signature import generate_signature_base_string
from authlib.oauth1.rfc5849.util import escape
from authlib.oauth1.rfc5849.wrapper import OAuth1Request

if TYPE_CHECKING:  # importable without Django set up (the demo signs its own setup calls)
    from integrations.runtime.models import Connection

logger = logging.getLogger(__name__)

API = "/wp-json/wc/v3"
PER_PAGE = 100
SIGNATURE_HMAC_SHA256 = "HMAC-SHA256"
SIGNATURE_IN = ("query", "header")
MAX_PAGES = 10_000  # a shop that keeps answering "more pages" must not loop us forever


class WooCommerceError(RuntimeError):
    """A WooCommerce REST error: HTTP status plus WooCommerce's ``code`` and ``message``."""

    def __init__(
        self, message: str, *, status_code: int | None = None, code: str = "", path: str = ""
    ) -> None:
        self.status_code = status_code
        self.code = code
        self.message = message
        self.path = path
        where = f"{path}: " if path else ""
        status = f"HTTP {status_code}" if status_code is not None else "error"
        super().__init__(f"{where}{status}{f' {code}' if code else ''}: {message}")

    @classmethod
    def from_response(cls, response: httpx.Response, *, path: str = "") -> WooCommerceError:
        code, message = "", ""
        try:
            body = response.json()
        except ValueError:
            body = None
        if isinstance(body, dict):
            code = str(body.get("code") or "")
            message = str(body.get("message") or "")
        if not message:
            message = response.text[:300]
        return cls(message, status_code=response.status_code, code=code, path=path)


def _sign_hmac_sha256(client: ClientAuth, request: Any) -> str:
    base_string = generate_signature_base_string(request)
    key = f"{escape(client.client_secret or '')}&{escape(client.token_secret or '')}"
    digest = hmac.new(to_bytes(key), to_bytes(base_string), hashlib.sha256).digest()
    return to_unicode(binascii.b2a_base64(digest)[:-1])


ClientAuth.register_signature_method(SIGNATURE_HMAC_SHA256, _sign_hmac_sha256)


class _PlainHttpRequest(OAuth1Request):
    """authlib refuses OAuth 1 over http outside localhost (``InsecureTransportError``), but plain
    http is exactly where WooCommerce requires OAuth 1.0a (over https it takes Basic). Parse as if
    https, then sign over the real URL."""

    def __init__(self, method: str, uri: str, body: Any = None, headers: Any = None) -> None:
        secure = "https://" + uri[len("http://") :] if uri.startswith("http://") else uri
        super().__init__(method, secure, body=body, headers=headers)
        self.uri = uri


class WooOAuth1Auth(OAuth1Auth):
    """authlib's httpx OAuth1 signer for WooCommerce over http: keeps the JSON body authlib would
    drop, and signs plain-http URLs."""

    def get_oauth_signature(self, method: str, uri: str, headers: Any, body: Any) -> str:
        sign = self.SIGNATURE_METHODS.get(self.signature_method)
        if not sign:
            raise ValueError(f"unsupported signature method {self.signature_method!r}")
        return str(sign(self, _PlainHttpRequest(method, uri, body=body, headers=headers)))

    def auth_flow(self, request: httpx.Request) -> Generator[httpx.Request, httpx.Response, None]:
        content = request.content
        url, headers, _ = self.prepare(request.method, str(request.url), request.headers, b"")
        signed = httpx.Request(
            method=request.method,
            url=url,
            headers=headers,
            content=content,
            extensions=request.extensions,
        )
        signed.headers["Content-Length"] = str(len(content))
        yield signed


def auth_for(connection: Connection) -> httpx.Auth:
    """Basic over https; OAuth 1.0a one-legged (HMAC-SHA256) over anything else."""
    credentials = connection.credentials
    key = str(credentials.get("consumer_key", ""))
    secret = str(credentials.get("consumer_secret", ""))
    if urlsplit(connection.base_url).scheme.lower() == "https":
        return httpx.BasicAuth(key, secret)
    placement = str(credentials.get("oauth_signature_in") or "query").lower()
    if placement not in SIGNATURE_IN:
        raise ValueError(f"oauth_signature_in must be one of {SIGNATURE_IN}, not {placement!r}")
    return WooOAuth1Auth(
        key,
        client_secret=secret,
        signature_method=SIGNATURE_HMAC_SHA256,
        signature_type=SIGNATURE_TYPE_QUERY if placement == "query" else SIGNATURE_TYPE_HEADER,
    )


def woo_client(connection: Connection) -> httpx.Client:
    """An httpx client on ``<base_url>/wp-json/wc/v3`` with the connection's timeouts and auth."""
    from integrations.runtime.http import client_for

    client = client_for(connection)
    client.base_url = connection.base_url.rstrip("/") + API
    client.auth = auth_for(connection)
    return client


def _check(response: httpx.Response, path: str) -> httpx.Response:
    if not 200 <= response.status_code < 300:
        raise WooCommerceError.from_response(response, path=path)
    return response


def _decode(response: httpx.Response, path: str) -> Any:
    try:
        return response.json()
    except (json.JSONDecodeError, ValueError) as exc:
        raise WooCommerceError(
            f"not JSON: {response.text[:200]!r}", status_code=response.status_code, path=path
        ) from exc


def _path(path: str) -> str:
    return "/" + path.lstrip("/")


def request_json(
    client: httpx.Client,
    method: str,
    path: str,
    *,
    params: dict[str, Any] | None = None,
    json_body: Any = None,
    headers: dict[str, str] | None = None,
) -> Any:
    """One call; a non-2xx answer raises ``WooCommerceError`` with WooCommerce's code/message."""
    path = _path(path)
    response = client.request(method, path, params=params, json=json_body, headers=headers)
    return _decode(_check(response, path), path)


def get_json(client: httpx.Client, path: str, params: dict[str, Any] | None = None) -> Any:
    return request_json(client, "GET", path, params=params)


def paginate(
    client: httpx.Client, path: str, params: dict[str, Any] | None = None
) -> Iterator[list[Any]]:
    """Yield each page of a list endpoint, following ``X-WP-TotalPages`` (``per_page`` ≤ 100)."""
    path = _path(path)
    base = {"per_page": PER_PAGE, **(params or {})}
    page, pages = int(base.pop("page", 1) or 1), 1
    while page <= pages and page <= MAX_PAGES:
        response = _check(client.get(path, params={**base, "page": page}), path)
        items = _decode(response, path)
        if not isinstance(items, list):
            raise WooCommerceError(
                "list endpoint did not answer a JSON array", status_code=200, path=path
            )
        try:
            pages = int(response.headers.get("X-WP-TotalPages") or 1)
        except ValueError:
            pages = 1
        yield items
        if not items:
            return
        page += 1
