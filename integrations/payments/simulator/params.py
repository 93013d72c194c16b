"""Stripe's request and error shapes, as the simulator reads and answers them.

Stripe takes form-encoded bodies with bracketed keys (``metadata[order_ref]=web-1001``,
``expand[]=latest_charge``); the simulator also takes the same parameters as a JSON object, so a
test can post either. Values read from a form are strings: the typed readers here accept an
integer or a string of digits for amounts and ``true``/``false`` for flags, and refuse anything
else with the error Stripe gives (``400 invalid_request_error`` naming the ``param``).
"""

from __future__ import annotations

import json
from typing import Any
from urllib.parse import parse_qsl

from integrations.simkit import Request, Response, json_response

MAX_AMOUNT = 99_999_999  # Stripe's ceiling: eight digits of minor units
MAX_STRING = 500


class StripeError(Exception):
    """An answer in Stripe's error shape. ``stored`` is False for what Stripe refuses before the
    endpoint runs (bad parameters), which an idempotency key does not remember."""

    def __init__(
        self,
        status: int,
        type_: str,
        message: str,
        *,
        code: str | None = None,
        param: str | None = None,
        extra: dict[str, Any] | None = None,
        stored: bool = True,
    ) -> None:
        super().__init__(message)
        self.status = status
        self.type = type_
        self.message = message
        self.code = code
        self.param = param
        self.extra = extra or {}
        self.stored = stored

    def body(self) -> dict[str, Any]:
        error = {"type": self.type, "code": self.code, "message": self.message, "param": self.param}
        return {"error": {**error, **self.extra}}

    def response(self) -> Response:
        return json_response(self.body(), self.status)


def invalid(
    message: str, *, param: str | None = None, code: str = "parameter_invalid"
) -> StripeError:
    return StripeError(400, "invalid_request_error", message, code=code, param=param, stored=False)


def missing(param: str) -> StripeError:
    return invalid(f"Missing required param: {param}.", param=param, code="parameter_missing")


def not_found(kind: str, object_id: str, *, param: str = "id") -> StripeError:
    return StripeError(
        404,
        "invalid_request_error",
        f"No such {kind}: '{object_id[:64]}'",
        code="resource_missing",
        param=param,
    )


def _nest(pairs: list[tuple[str, str]]) -> dict[str, Any]:
    """``a[b]=1`` → ``{"a": {"b": "1"}}``; ``a[]=1&a[]=2`` → ``{"a": ["1", "2"]}``."""
    params: dict[str, Any] = {}
    for key, value in pairs:
        name, _, rest = key.partition("[")
        if not rest:
            params[name] = value
        elif rest == "]":
            params.setdefault(name, [])
            if not isinstance(params[name], list):
                raise invalid(f"Invalid array: {name}", param=name)
            params[name].append(value)
        else:
            inner = rest.rstrip("]")
            params.setdefault(name, {})
            if not isinstance(params[name], dict):
                raise invalid(f"Invalid hash: {name}", param=name)
            params[name][inner] = value
    return params


def decode_params(request: Request) -> dict[str, Any]:
    """The request's parameters: a JSON object, or a form body (the default, as Stripe's)."""
    if not request.body:
        return {}
    content_type = (request.header("Content-Type") or "").lower()
    try:
        text = request.body.decode("utf-8")
    except UnicodeDecodeError:
        raise invalid("The request body is not UTF-8.") from None
    if "json" in content_type:
        try:
            payload = json.loads(text)
        except ValueError:
            raise invalid("The request body is not valid JSON.") from None
        if not isinstance(payload, dict):
            raise invalid("The request body must be a JSON object.")
        return payload
    return _nest(parse_qsl(text, keep_blank_values=True))


def integer(
    params: dict[str, Any],
    name: str,
    *,
    required: bool = False,
    minimum: int = 0,
    maximum: int = MAX_AMOUNT,
) -> int | None:
    value = params.get(name)
    if value is None or value == "":
        if required:
            raise missing(name)
        return None
    if isinstance(value, bool):
        raise invalid(f"Invalid integer: {value}", param=name, code="parameter_invalid_integer")
    if isinstance(value, str) and value.isdigit() and len(value) <= 12:
        value = int(value)
    if not isinstance(value, int):
        raise invalid(
            f"Invalid integer: {str(value)[:40]}", param=name, code="parameter_invalid_integer"
        )
    if value < minimum:
        raise invalid(f"This value must be greater than or equal to {minimum}.", param=name)
    if value > maximum:
        raise invalid(
            f"Amount must be no more than {maximum}.", param=name, code="amount_too_large"
        )
    return value


def boolean(params: dict[str, Any], name: str, *, default: bool) -> bool:
    value = params.get(name)
    if value is None or value == "":
        return default
    if isinstance(value, bool):
        return value
    if value in ("true", "false"):
        return value == "true"
    raise invalid(f"Invalid boolean: {str(value)[:40]}", param=name)


def string(
    params: dict[str, Any],
    name: str,
    *,
    required: bool = False,
    choices: tuple[str, ...] = (),
    default: str | None = None,
) -> str | None:
    value = params.get(name)
    if value is None or value == "":
        if required:
            raise missing(name)
        return default
    if not isinstance(value, str) or len(value) > MAX_STRING:
        raise invalid(f"Invalid string: {name}", param=name)
    if choices and value not in choices:
        raise invalid(
            f"Invalid {name}: must be one of {', '.join(choices)}",
            param=name,
            code="parameter_invalid",
        )
    return value


def metadata(params: dict[str, Any]) -> dict[str, str]:
    value = params.get("metadata") or {}
    if not isinstance(value, dict) or len(value) > 50:
        raise invalid("Invalid hash: metadata (at most 50 keys)", param="metadata")
    cleaned: dict[str, str] = {}
    for key, item in value.items():
        if not isinstance(key, str) or not isinstance(item, str | int) or isinstance(item, bool):
            raise invalid(f"Invalid metadata[{str(key)[:40]}]: must be a string", param="metadata")
        if len(key) > 40 or len(str(item)) > MAX_STRING:
            raise invalid("Metadata keys are at most 40 characters, values 500", param="metadata")
        cleaned[key] = str(item)
    return cleaned


def expands(request: Request, params: dict[str, Any]) -> set[str]:
    """``expand[]`` from the query string or the body."""
    named = list(request.query.get("expand[]", [])) + list(request.query.get("expand", []))
    body = params.get("expand")
    if isinstance(body, list):
        named += [str(x) for x in body]
    elif isinstance(body, str):
        named.append(body)
    return set(named)


def fee_for(amount: int, *, percent_bps: int, fixed_minor: int) -> int:
    """The processing fee for a capture of ``amount`` minor units (half up), never above it."""
    return min(amount, (amount * percent_bps + 5_000) // 10_000 + fixed_minor)
