"""Outbound HTTP for adapters: explicit timeouts and the correlation id on every call."""

from __future__ import annotations

import json
from typing import Any

import httpx

from controltower.core.context import current_correlation_id
from integrations.runtime.models import Connection
from integrations.runtime.registry import DeliveryResult

USER_AGENT = "ControlTower/0.1"


def client_for(connection: Connection) -> httpx.Client:
    timeout = httpx.Timeout(connection.timeout_s, connect=min(connection.timeout_s, 5.0))
    return httpx.Client(
        base_url=connection.base_url,
        timeout=timeout,
        headers={"User-Agent": USER_AGENT},
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
