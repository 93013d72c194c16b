"""Outbound HTTP for adapters: explicit timeouts and the correlation id on every call."""

from __future__ import annotations

import json
import os
import ssl
import threading
from typing import Any

import httpx

from controltower.core.context import current_correlation_id
from integrations.runtime.models import Connection
from integrations.runtime.registry import DeliveryResult

USER_AGENT = "ControlTower/0.1"


class _SharedTransport(httpx.BaseTransport):
    """The process's connection pool, lent to each client: closing a client returns it, open."""

    def __init__(self) -> None:
        self._transport = httpx.HTTPTransport(
            verify=ssl.create_default_context(),
            limits=httpx.Limits(
                max_connections=64, max_keepalive_connections=16, keepalive_expiry=5
            ),
        )

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        return self._transport.handle_request(request)

    def close(self) -> None:  # the pool outlives each client
        pass


_pool: tuple[int, _SharedTransport] | None = None
_pool_lock = threading.Lock()


def shared_transport() -> httpx.BaseTransport:
    """One keep-alive pool (and one TLS context: loading the CA store costs ~30 ms) per process;
    a forked worker makes its own, never using its parent's sockets."""
    global _pool
    pid = os.getpid()
    with _pool_lock:
        if _pool is None or _pool[0] != pid:
            _pool = (pid, _SharedTransport())
        return _pool[1]


def client_for(connection: Connection) -> httpx.Client:
    """A client on the connection's base URL with its timeouts, on the process's shared pool:
    cheap to make, and calls to the same system reuse kept-alive connections."""
    timeout = httpx.Timeout(connection.timeout_s, connect=min(connection.timeout_s, 5.0))
    return httpx.Client(
        base_url=connection.base_url,
        timeout=timeout,
        headers={"User-Agent": USER_AGENT},
        transport=shared_transport(),
    )


def correlation_headers() -> dict[str, str]:
    correlation_id = current_correlation_id()
    return {"X-Correlation-ID": correlation_id} if correlation_id else {}


def parse_retry_after(value: str | None) -> float | None:
    if not value:
        return None
    try:
        return max(0.0, float(value))
    except ValueError:
        return None


def result_from_response(response: httpx.Response) -> DeliveryResult:
    """Map an HTTP answer to a delivery result: 2xx ok; 408/429/5xx retry; other 4xx permanent."""
    try:
        body: Any = response.json()
    except (json.JSONDecodeError, ValueError):
        body = response.text
    code = response.status_code
    if 200 <= code < 300:
        return DeliveryResult(ok=True, status_code=code, body=body)
    retryable = code in (408, 429) or code >= 500
    return DeliveryResult(
        ok=False,
        status_code=code,
        body=body,
        error=f"HTTP {code}",
        retryable=retryable,
        retry_after_s=parse_retry_after(response.headers.get("Retry-After"))
        if code in (429, 503)
        else None,
    )


def result_from_error(exc: httpx.HTTPError) -> DeliveryResult:
    return DeliveryResult(ok=False, error=f"{type(exc).__name__}: {exc}", retryable=True)
