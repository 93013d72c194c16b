"""Shared helpers for the WooCommerce simulator tests (no tests here)."""

from __future__ import annotations

import base64
import hashlib
import hmac
import threading
import time
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from authlib.integrations.httpx_client import OAuth1Auth
from authlib.oauth1 import ClientAuth
from authlib.oauth1.rfc5849.signature import generate_signature_base_string
from authlib.oauth1.rfc5849.util import escape

CK, CS = "ck_x", "cs_x"
API = "/wp-json/wc/v3"
SECRET = "whsec-test-1"


def sign_hmac_sha256(client: Any, request: Any) -> str:
    """HMAC-SHA256 for authlib's OAuth 1.0a client (RFC 5849 section 3.4.2 with SHA-256)."""
    base_string = generate_signature_base_string(request)
    key = f"{escape(client.client_secret or '')}&{escape(client.token_secret or '')}"
    digest = hmac.new(key.encode(), base_string.encode(), hashlib.sha256).digest()
    return base64.b64encode(digest).decode()


ClientAuth.register_signature_method("HMAC-SHA256", sign_hmac_sha256)


def oauth(
    key: str = CK, secret: str = CS, *, signature_type: str = "QUERY", method: str = "HMAC-SHA256"
) -> OAuth1Auth:
    """authlib's OAuth1Auth; ``force_include_body`` or authlib sends JSON bodies empty."""
    return OAuth1Auth(
        client_id=key,
        client_secret=secret,
        signature_method=method,
        signature_type=signature_type,
        force_include_body=True,
    )


class Receiver:
    """Tiny webhook receiving server recording raw requests."""

    def __init__(self) -> None:
        self.requests: list[dict[str, Any]] = []
        self.status = 200
        self.lock = threading.Lock()
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"
            disable_nagle_algorithm = True

            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                with receiver.lock:
                    receiver.requests.append(
                        {"path": self.path, "headers": dict(self.headers.items()), "body": body}
                    )
                    status = receiver.status
                self.send_response(status)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, format: str, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/hooks"
        self.thread = threading.Thread(target=self.server.serve_forever, args=(0.05,))
        self.thread.daemon = True
        self.thread.start()

    def received(self, kind: str | None = None, topic: str | None = None) -> list[dict[str, Any]]:
        with self.lock:
            items = list(self.requests)
        if kind == "ping":
            return [r for r in items if "X-WC-Webhook-Topic" not in r["headers"]]
        if kind == "event":
            items = [r for r in items if "X-WC-Webhook-Topic" in r["headers"]]
        if topic is not None:
            items = [r for r in items if r["headers"].get("X-WC-Webhook-Topic") == topic]
        return items

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


def wait_for(predicate: Callable[[], Any], timeout: float = 5.0) -> Any:
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        assert time.monotonic() < deadline, "condition not met in time"
        time.sleep(0.02)
