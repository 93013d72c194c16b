"""What an HTTP answer means for a delivery: the runtime's table, tried status by status."""

from __future__ import annotations

import httpx
import pytest

from integrations.runtime.http import parse_retry_after, result_from_error, result_from_response


@pytest.mark.parametrize("code", [200, 201, 202, 204, 299])
def test_result_from_response_2xx_is_delivered(code: int) -> None:
    # when
    result = result_from_response(httpx.Response(code, json={"id": "SO-1"}))
    # then
    assert result.ok
    assert result.status_code == code
    assert result.error == ""


@pytest.mark.parametrize("code", [408, 429, 500, 502, 503, 504, 599])
def test_result_from_response_transient_statuses_are_retried(code: int) -> None:
    # when
    result = result_from_response(httpx.Response(code, text="busy"))
    # then
    assert not result.ok
    assert result.retryable
    assert result.error == f"HTTP {code}"
    assert result.body == "busy"


@pytest.mark.parametrize("code", [400, 401, 403, 404, 405, 409, 410, 413, 422, 451])
def test_result_from_response_other_4xx_are_permanent(code: int) -> None:
    # when
    result = result_from_response(httpx.Response(code, json={"error": "no"}))
    # then
    assert not result.ok
    assert not result.retryable
    assert result.body == {"error": "no"}


@pytest.mark.parametrize("code", [429, 503])
def test_result_from_response_honours_retry_after(code: int) -> None:
    # when
    result = result_from_response(httpx.Response(code, headers={"Retry-After": "7"}))
    # then
    assert result.retry_after_s == 7.0


def test_result_from_response_ignores_retry_after_on_other_statuses() -> None:
    # when
    result = result_from_response(httpx.Response(500, headers={"Retry-After": "7"}))
    # then
    assert result.retry_after_s is None


@pytest.mark.parametrize(
    ("value", "seconds"),
    [("3", 3.0), ("0.5", 0.5), ("-4", 0.0), ("", None), (None, None), ("soon", None)],
)
def test_parse_retry_after_reads_seconds_only(value: str | None, seconds: float | None) -> None:
    assert parse_retry_after(value) == seconds


def test_result_from_error_connection_problems_are_retried() -> None:
    # when
    result = result_from_error(httpx.ConnectError("connection refused"))
    # then
    assert not result.ok
    assert result.retryable
    assert result.status_code is None
    assert result.error == "ConnectError: connection refused"
