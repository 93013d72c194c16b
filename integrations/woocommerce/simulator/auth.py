"""REST API authentication, as WooCommerce's ``class-wc-rest-authentication.php`` does it.

* Over https (``is_ssl()``): HTTP Basic (consumer key as user, secret as password) or the
  ``consumer_key``/``consumer_secret`` query parameters (these win when both are present). An
  unknown key falls through to OAuth; a known key with a wrong secret is "Consumer secret is
  invalid.".
* Over http, and over https when Basic did not authenticate: OAuth 1.0a one-legged. Parameters
  come from the query string, a form body and the ``Authorization: OAuth ...`` header (merged, the
  header winning). The base string is ``METHOD&rawurlencode(home_url(path))&<params>`` with the
  parameters sorted by name (``strcmp``) and encoded twice (RFC 3986), parsed the way PHP parses a
  query string (``a[]=x`` becomes ``a[0]``, the last of duplicate names wins). The key is
  ``consumer_secret + "&"``; HMAC-SHA1 and HMAC-SHA256 are accepted. The timestamp must be within
  15 minutes of now, and a nonce used in the last 15 minutes is refused. Like WooCommerce, used
  nonces are kept per key *by timestamp*, so a later request with the same timestamp replaces
  the remembered nonce.

A request that carries no credentials at all is not an authentication error: the endpoint's own
permission check refuses it (``woocommerce_rest_cannot_view`` and friends, 401).
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import re
import threading
import time
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qsl, quote, unquote, unquote_plus

from integrations.simkit import Request

VALID_WINDOW_SECONDS = 15 * 60
OAUTH_PARAMS = (
    "oauth_consumer_key",
    "oauth_timestamp",
    "oauth_nonce",
    "oauth_signature",
    "oauth_signature_method",
)
AUTH_ERROR = "woocommerce_rest_authentication_error"

# What the endpoint's permission_callback answers an unauthenticated caller, by action.
PERMISSION_ERRORS: dict[str, tuple[str, str]] = {
    "list": ("woocommerce_rest_cannot_view", "Sorry, you cannot list resources."),
    "view": ("woocommerce_rest_cannot_view", "Sorry, you cannot view this resource."),
    "create": ("woocommerce_rest_cannot_create", "Sorry, you are not allowed to create resources."),
    "edit": ("woocommerce_rest_cannot_edit", "Sorry, you are not allowed to edit this resource."),
    "delete": (
        "woocommerce_rest_cannot_delete",
        "Sorry, you are not allowed to delete this resource.",
    ),
    "batch": (
        "woocommerce_rest_cannot_batch",
        "Sorry, you are not allowed to batch manipulate this resource.",
    ),
}


@dataclass(frozen=True)
class AuthError:
    code: str
    message: str
    status: int = 401


@dataclass
class ApiKey:
    consumer_key: str
    consumer_secret: str
    permissions: str = "read_write"  # read | write | read_write
    nonces: dict[int, str] = field(default_factory=dict)


def rawurlencode(value: str) -> str:
    """PHP ``rawurlencode`` (RFC 3986: only ``A-Za-z0-9-_.~`` stay as they are)."""
    return quote(value, safe="~")


def php_parse_query(pairs: list[tuple[str, str]]) -> dict[str, Any]:
    """Parse decoded query pairs into nested dicts the way PHP's ``parse_str`` fills ``$_GET``."""
    result: dict[str, Any] = {}
    for raw_key, value in pairs:
        bracket = raw_key.find("[")
        if bracket > 0 and "]" in raw_key[bracket:]:
            base = raw_key[:bracket]
            segments = re.findall(r"\[([^\]]*)\]", raw_key[bracket:])
        else:
            base, segments = raw_key, []
        base = base.replace(".", "_").replace(" ", "_")
        if not base:
            continue
        if not segments:
            result[base] = value
            continue
        node = result.get(base)
        if not isinstance(node, dict):
            node = result[base] = {}
        for index, segment in enumerate(segments):
            last = index == len(segments) - 1
            key = segment if segment != "" else str(_next_index(node))
            if last:
                node[key] = value
            else:
                child = node.get(key)
                if not isinstance(child, dict):
                    child = node[key] = {}
                node = child
    return result


def _next_index(node: dict[str, Any]) -> int:
    numeric = [int(k) for k in node if k.isdigit()]
    return max(numeric) + 1 if numeric else 0


def parse_oauth_header(header: str) -> dict[str, str]:
    """``WC_REST_Authentication::parse_header``: only ``oauth_*`` names, values urldecoded."""
    if not header.startswith("OAuth "):
        return {}
    params: dict[str, str] = {}
    for match in re.finditer(r'(oauth_[a-z_-]*)=(:?"([^"]*)"|([^,]*))', header):
        quoted, bare = match.group(3), match.group(4)
        params[match.group(1)] = unquote_plus(quoted if quoted else (bare or ""))
    return params


def _join_with_equals_sign(params: dict[str, Any], prefix: str = "") -> list[str]:
    out: list[str] = []
    for key, value in params.items():
        name = f"{prefix}%5B{key}%5D" if prefix else key
        if isinstance(value, dict):
            out.extend(_join_with_equals_sign(value, name))
        else:
            out.append(rawurlencode(f"{name}={value}"))
    return out


def _encode_values(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: _encode_values(v) for k, v in value.items()}
    return rawurlencode(str(value))


def base_string(method: str, base_uri: str, params: dict[str, Any]) -> str:
    """The string WooCommerce signs (``check_oauth_signature``)."""
    ordered = sorted(params.items(), key=lambda kv: kv[0].encode("utf-8"))
    normalized = {rawurlencode(k): _encode_values(v) for k, v in ordered}
    query = "%26".join(_join_with_equals_sign(normalized))
    return f"{method.upper()}&{rawurlencode(base_uri)}&{query}"


def sign(method: str, base_uri: str, params: dict[str, Any], secret: str, algorithm: str) -> str:
    digest = hashlib.sha1 if algorithm == "HMAC-SHA1" else hashlib.sha256
    message = base_string(method, base_uri, params).encode("utf-8")
    return base64.b64encode(hmac.new(f"{secret}&".encode(), message, digest).digest()).decode()


class Authenticator:
    """Decides who a request is, like ``WC_REST_Authentication::authenticate``."""

    def __init__(self, key: ApiKey, *, home_url: str, is_ssl: bool) -> None:
        self.key = key
        self.home_url = home_url.rstrip("/") + "/"
        self.is_ssl = is_ssl
        self._lock = threading.Lock()

    def authenticate(self, request: Request) -> tuple[bool, AuthError | None]:
        """Return (authenticated, error). No credentials at all is (False, None)."""
        error: AuthError | None = None
        if self.is_ssl:
            ok, error = self._basic(request)
            if ok:
                return self._check_permissions(request.method)
        ok, oauth_error = self._oauth(request)
        if ok:
            return self._check_permissions(request.method)
        return False, oauth_error or error

    def _check_permissions(self, method: str) -> tuple[bool, AuthError | None]:
        permissions = self.key.permissions
        method = method.upper()
        if method in ("HEAD", "GET"):
            if permissions not in ("read", "read_write"):
                return False, AuthError(
                    AUTH_ERROR, "The API key provided does not have read permissions."
                )
        elif method in ("POST", "PUT", "PATCH", "DELETE"):
            if permissions not in ("write", "read_write"):
                return False, AuthError(
                    AUTH_ERROR, "The API key provided does not have write permissions."
                )
        elif method != "OPTIONS":
            return False, AuthError(AUTH_ERROR, "Unknown request method.")
        return True, None

    # -- Basic (https only) -------------------------------------------------------------------

    def _basic(self, request: Request) -> tuple[bool, AuthError | None]:
        key = request.arg("consumer_key") or ""
        secret = request.arg("consumer_secret") or ""
        if not (key and secret):
            key = secret = ""
            scheme, _, encoded = (request.header("Authorization") or "").partition(" ")
            if scheme.lower() == "basic" and encoded:
                try:
                    decoded = base64.b64decode(encoded.strip(), validate=True).decode("utf-8")
                except (binascii.Error, UnicodeDecodeError):
                    decoded = ""
                key, _, secret = decoded.partition(":")
        if not key or not secret:
            return False, None
        if not hmac.compare_digest(key.encode(), self.key.consumer_key.encode()):
            return False, None
        if not hmac.compare_digest(self.key.consumer_secret.encode(), secret.encode()):
            return False, AuthError(AUTH_ERROR, "Consumer secret is invalid.")
        return True, None

    # -- OAuth 1.0a one-legged ------------------------------------------------------------------

    def request_params(self, request: Request) -> dict[str, Any]:
        """``array_merge($_GET, $_POST)`` plus the Authorization header's oauth_* values."""
        pairs = [(k, v) for k, values in request.query.items() for v in values]
        content_type = (request.header("Content-Type") or "").lower()
        if content_type.startswith("application/x-www-form-urlencoded") and request.body:
            pairs += parse_qsl(request.body.decode("utf-8", "replace"), keep_blank_values=True)
        params = php_parse_query(pairs)
        header = (request.header("Authorization") or "").strip()
        if header:
            params.update(parse_oauth_header(header))
        return params

    def _oauth(self, request: Request) -> tuple[bool, AuthError | None]:
        params = self.request_params(request)
        missing = [name for name in OAUTH_PARAMS if _php_empty(params.get(name))]
        if len(missing) == len(OAUTH_PARAMS):
            return False, None
        if missing:
            noun = "parameter" if len(missing) == 1 else "parameters"
            return False, AuthError(
                "woocommerce_rest_authentication_missing_parameter",
                f"Missing OAuth {noun} {', '.join(missing)}",
            )
        if not hmac.compare_digest(
            str(params["oauth_consumer_key"]).encode(), self.key.consumer_key.encode()
        ):
            return False, AuthError(AUTH_ERROR, "Consumer key is invalid.")
        error = self._check_signature(request, params)
        if error is not None:
            return False, error
        error = self._check_timestamp_and_nonce(params["oauth_timestamp"], params["oauth_nonce"])
        if error is not None:
            return False, error
        return True, None

    def base_uri(self, request: Request) -> str:
        scheme = "https" if self.is_ssl else "http"
        home = re.sub(r"^https?://", f"{scheme}://", self.home_url)
        return home + request.path.lstrip("/")

    def _check_signature(self, request: Request, params: dict[str, Any]) -> AuthError | None:
        provided = unquote(str(params.pop("oauth_signature")).replace(" ", "+"))
        method_name = params.get("oauth_signature_method")
        if method_name not in ("HMAC-SHA1", "HMAC-SHA256"):
            return AuthError(AUTH_ERROR, "Invalid signature - signature method is invalid.")
        expected = sign(
            request.method,
            self.base_uri(request),
            params,
            self.key.consumer_secret,
            str(method_name),
        )
        if not hmac.compare_digest(expected.encode(), provided.encode()):
            return AuthError(AUTH_ERROR, "Invalid signature - provided signature does not match.")
        return None

    def _check_timestamp_and_nonce(self, raw_timestamp: Any, nonce: Any) -> AuthError | None:
        now = int(time.time())
        try:
            timestamp = int(str(raw_timestamp))
        except ValueError:
            return AuthError(AUTH_ERROR, "Invalid timestamp.")
        if timestamp < now - VALID_WINDOW_SECONDS or timestamp > now + VALID_WINDOW_SECONDS:
            return AuthError(AUTH_ERROR, "Invalid timestamp.")
        with self._lock:
            used = self.key.nonces
            if str(nonce) in used.values():
                return AuthError(AUTH_ERROR, "Invalid nonce - nonce has already been used.")
            used[timestamp] = str(nonce)
            for stamp in [s for s in used if s < now - VALID_WINDOW_SECONDS]:
                del used[stamp]
        return None


def _php_empty(value: Any) -> bool:
    return value is None or value in ("", "0") or value == {}
