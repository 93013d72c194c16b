"""Tiny shared toolkit for the integration simulators.

Stdlib only: a threaded JSON HTTP server with regex routing, a free-port helper,
a thread-safe :class:`FaultPlan` that can be driven over HTTP (``/_sim/faults``), a request log
and a helper to run a simulator until SIGTERM/SIGINT.

The simulators are real processes speaking real HTTP; they must never import Django or anything
from ``controltower``.
"""

from __future__ import annotations

import contextlib
import json
import logging
import re
import signal
import socket
import threading
import time
from collections import deque
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Self
from urllib.parse import parse_qs, urlsplit

logger = logging.getLogger(__name__)

JSONValue = Any
Handler = Callable[["Request"], "Response"]

SIM_PREFIX = "/_sim/"


class HTTPError(Exception):
    """Raise from a route handler to answer with a JSON error response."""

    def __init__(self, status: int, body: JSONValue, headers: dict[str, str] | None = None) -> None:
        super().__init__(f"HTTP {status}")
        self.status = status
        self.body = body
        self.headers = headers or {}


def free_port(host: str = "127.0.0.1") -> int:
    """Return a TCP port that is currently free on ``host``."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((host, 0))
        return int(sock.getsockname()[1])


def utcnow() -> datetime:
    return datetime.now(UTC)


def iso_utc(moment: datetime) -> str:
    """ISO 8601 in UTC with a ``Z`` suffix and millisecond precision."""
    return moment.astimezone(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


@dataclass
class Request:
    method: str
    path: str
    query: dict[str, list[str]]
    headers: dict[str, str]  # lower-cased names
    body: bytes
    client: str
    params: dict[str, str] = field(default_factory=dict)

    def header(self, name: str, default: str | None = None) -> str | None:
        return self.headers.get(name.lower(), default)

    def arg(self, name: str, default: str | None = None) -> str | None:
        values = self.query.get(name)
        return values[-1] if values else default

    def json(self) -> JSONValue:
        """Parse the body as JSON; raise :class:`ValueError` when it is not valid JSON."""
        if not self.body:
            raise ValueError("empty body")
        return json.loads(self.body.decode("utf-8"))


@dataclass
class Response:
    status: int = 200
    body: JSONValue = None
    headers: dict[str, str] = field(default_factory=dict)
    raw: bytes | None = None
    content_type: str = "application/json; charset=utf-8"

    def encode(self) -> bytes:
        if self.raw is not None:
            return self.raw
        if self.body is None and self.status == HTTPStatus.NO_CONTENT:
            return b""
        return json.dumps(self.body).encode("utf-8")


def json_response(
    body: JSONValue, status: int = 200, headers: dict[str, str] | None = None
) -> Response:
    return Response(status=status, body=body, headers=dict(headers or {}))


# --------------------------------------------------------------------------------------------
# Fault plan
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Fault:
    kind: str  # "fail" | "rate_limit" | "timeout"
    status: int = 500
    retry_after: int = 1
    seconds: float = 30.0


class FaultPlan:
    """Thread-safe, HTTP-configurable fault plan.

    Keys accepted by :meth:`update` (all optional, merged into the current plan):

    * ``latency_ms`` (int >= 0): added to every faultable request.
    * ``fail_next`` (int >= 0) and ``fail_status`` (int, default 500): answer the next N
      requests with that status without processing them.
    * ``rate_limit_next`` (int >= 0) and ``retry_after`` (int seconds, default 1): answer the
      next N requests with 429 and a ``Retry-After`` header without processing them.
    * ``timeout_next`` (int >= 0) and ``timeout_seconds`` (float, default 30): *process* the next
      N requests normally, then sleep that long before answering (the client times out although
      the request succeeded server-side).

    One fault per request, checked in the order rate_limit, fail, timeout. Subclasses extend
    :attr:`extra_defaults` with simulator-specific knobs.
    """

    extra_defaults: dict[str, Any] = {}

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._values: dict[str, Any] = {}
        self.reset()

    @staticmethod
    def base_defaults() -> dict[str, Any]:
        return {
            "latency_ms": 0,
            "fail_next": 0,
            "fail_status": 500,
            "rate_limit_next": 0,
            "retry_after": 1,
            "timeout_next": 0,
            "timeout_seconds": 30.0,
        }

    def defaults(self) -> dict[str, Any]:
        return {**self.base_defaults(), **self.extra_defaults}

    def reset(self) -> None:
        with self._lock:
            self._values = self.defaults()

    def snapshot(self) -> dict[str, Any]:
        with self._lock:
            return dict(self._values)

    def get(self, key: str) -> Any:
        with self._lock:
            return self._values[key]

    def update(self, config: dict[str, Any]) -> dict[str, Any]:
        """Merge ``config`` into the plan; raise ValueError on unknown keys or bad values."""
        if not isinstance(config, dict):
            raise ValueError("fault config must be a JSON object")
        defaults = self.defaults()
        cleaned: dict[str, Any] = {}
        for key, value in config.items():
            if key not in defaults:
                raise ValueError(f"unknown fault key: {key}")
            cleaned[key] = self._coerce(key, defaults[key], value)
        with self._lock:
            self._values.update(cleaned)
            return dict(self._values)

    @staticmethod
    def _coerce(key: str, default: Any, value: Any) -> Any:
        if isinstance(default, bool):
            if not isinstance(value, bool):
                raise ValueError(f"{key} must be a boolean")
            return value
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise ValueError(f"{key} must be a number")
        if value < 0:
            raise ValueError(f"{key} must be >= 0")
        if isinstance(default, int):
            if int(value) != value:
                raise ValueError(f"{key} must be an integer")
            value = int(value)
            if key == "fail_status" and not 100 <= value <= 599:
                raise ValueError("fail_status must be an HTTP status code")
            return value
        return float(value)

    def latency_seconds(self) -> float:
        with self._lock:
            return max(0, int(self._values["latency_ms"])) / 1000.0

    def next_fault(self) -> Fault | None:
        """Consume and return the fault for the next request, if any."""
        with self._lock:
            v = self._values
            if v["rate_limit_next"] > 0:
                v["rate_limit_next"] -= 1
                return Fault("rate_limit", status=429, retry_after=int(v["retry_after"]))
            if v["fail_next"] > 0:
                v["fail_next"] -= 1
                return Fault("fail", status=int(v["fail_status"]))
            if v["timeout_next"] > 0:
                v["timeout_next"] -= 1
                return Fault("timeout", seconds=float(v["timeout_seconds"]))
            return None


# --------------------------------------------------------------------------------------------
# JSON HTTP server
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Route:
    method: str
    pattern: re.Pattern[str]
    handler: Handler


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True
    app: JsonHTTPServer


class _RequestHandler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    # Headers and body are separate writes; without TCP_NODELAY, Nagle + delayed ACK add ~40 ms.
    disable_nagle_algorithm = True
    server: _Server
    # Idle keep-alive connections are closed after this many seconds.
    timeout = 30

    def setup(self) -> None:
        super().setup()
        self.server.app._track(self.connection, add=True)

    def finish(self) -> None:
        try:
            super().finish()
        finally:
            self.server.app._track(self.connection, add=False)

    def log_message(self, format: str, *args: Any) -> None:
        logger.debug("%s - %s", self.address_string(), format % args)

    def _read_body(self) -> bytes:
        if "chunked" in (self.headers.get("Transfer-Encoding") or "").lower():
            chunks: list[bytes] = []
            while True:
                size_line = self.rfile.readline(65537).split(b";", 1)[0].strip()
                size = int(size_line or b"0", 16)
                if size == 0:
                    # Trailer section until an empty line.
                    while self.rfile.readline(65537) not in (b"\r\n", b"\n", b""):
                        pass
                    break
                chunks.append(self.rfile.read(size))
                self.rfile.readline(65537)
            return b"".join(chunks)
        length = int(self.headers.get("Content-Length") or 0)
        return self.rfile.read(length) if length > 0 else b""

    def _handle(self) -> None:
        try:
            body = self._read_body()
        except (ValueError, OSError):
            self.close_connection = True
            self._write(Response(400, {"error": "malformed request body"}))
            return
        split = urlsplit(self.path)
        request = Request(
            method=self.command,
            path=split.path or "/",
            query=parse_qs(split.query, keep_blank_values=True),
            headers={k.lower(): v for k, v in self.headers.items()},
            body=body,
            client=self.client_address[0] if self.client_address else "",
        )
        app = self.server.app
        response, delay = app.dispatch(request)
        if delay > 0:
            app.sleep(delay)
        self._write(response, head_only=self.command == "HEAD")

    def _write(self, response: Response, head_only: bool = False) -> None:
        payload = response.encode()
        try:
            self.send_response(response.status)
            has_type = any(k.lower() == "content-type" for k in response.headers)
            if not has_type and (payload or response.status != HTTPStatus.NO_CONTENT):
                self.send_header("Content-Type", response.content_type)
            for name, value in response.headers.items():
                self.send_header(name, value)
            self.send_header("Content-Length", str(len(payload)))
            if self.close_connection:
                self.send_header("Connection", "close")
            self.end_headers()
            if payload and not head_only:
                self.wfile.write(payload)
            self.wfile.flush()
        except (BrokenPipeError, ConnectionResetError, OSError) as exc:
            logger.debug("client went away before the response was written: %s", exc)
            self.close_connection = True

    do_GET = _handle
    do_POST = _handle
    do_PUT = _handle
    do_PATCH = _handle
    do_DELETE = _handle
    do_HEAD = _handle
    do_OPTIONS = _handle


class JsonHTTPServer:
    """Threaded JSON HTTP server with regex routing, a fault plan and a request log.

    Subclasses register routes in ``__init__`` with :meth:`route`. Every path starting with
    ``fault_prefix`` is subject to the fault plan; ``/_sim/*`` never is. Built-in routes:
    ``GET /_sim/health``, ``GET/POST /_sim/faults``, ``POST /_sim/reset``, ``GET /_sim/requests``.
    """

    fault_prefix: str = "/api/"
    request_log_size: int = 10_000
    name: str = "simulator"

    def __init__(
        self, host: str = "127.0.0.1", port: int = 0, fault_plan: FaultPlan | None = None
    ) -> None:
        self.host = host
        self.faults = fault_plan or FaultPlan()
        self._routes: list[Route] = []
        self._stopping = threading.Event()
        self._thread: threading.Thread | None = None
        self._conn_lock = threading.Lock()
        self._connections: set[socket.socket] = set()
        self._log_lock = threading.Lock()
        self._request_log: deque[dict[str, Any]] = deque(maxlen=self.request_log_size)
        self.request_count = 0
        self._httpd = _Server((host, port), _RequestHandler)
        self._httpd.app = self
        self.port = int(self._httpd.server_address[1])

        self.route("GET", r"/_sim/health", self._sim_health)
        self.route("GET", r"/_sim/faults", self._sim_get_faults)
        self.route("POST", r"/_sim/faults", self._sim_set_faults)
        self.route("POST", r"/_sim/reset", self._sim_reset)
        self.route("GET", r"/_sim/requests", self._sim_requests)

    # -- lifecycle ------------------------------------------------------------------------

    @property
    def url(self) -> str:
        host = self.host
        if host in ("0.0.0.0", ""):
            host = "127.0.0.1"
        elif ":" in host:
            host = f"[{host}]"
        return f"http://{host}:{self.port}"

    def serve_forever(self) -> None:
        logger.info("%s listening on %s", self.name, self.url)
        self.on_start()
        self._httpd.serve_forever(poll_interval=0.05)

    def serve_in_thread(self) -> Self:
        """Start serving in a daemon thread and return ``self``."""
        if self._thread is not None:
            raise RuntimeError("already serving")
        self._thread = threading.Thread(
            target=self.serve_forever, name=f"{self.name}-http", daemon=True
        )
        self._thread.start()
        return self

    def shutdown(self) -> None:
        """Stop serving, close the listening socket and any open connections."""
        if self._stopping.is_set():
            return
        self._stopping.set()
        self.on_stop()
        if self._thread is not None:
            self._httpd.shutdown()
            self._thread.join(timeout=5)
        self._httpd.server_close()
        with self._conn_lock:
            connections = list(self._connections)
        for conn in connections:
            with contextlib.suppress(OSError):
                conn.shutdown(socket.SHUT_RDWR)
        logger.info("%s on %s stopped", self.name, self.url)

    def __enter__(self) -> Self:
        return self.serve_in_thread()

    def __exit__(self, *exc: object) -> None:
        self.shutdown()

    def on_start(self) -> None:
        """Hook: called in the serving thread before the loop starts."""

    def on_stop(self) -> None:
        """Hook: called once when shutting down (stop background threads here)."""

    @property
    def stopping(self) -> threading.Event:
        return self._stopping

    def sleep(self, seconds: float) -> None:
        """Sleep that ends early when the server shuts down."""
        self._stopping.wait(seconds)

    def _track(self, conn: socket.socket, add: bool) -> None:
        with self._conn_lock:
            if add:
                self._connections.add(conn)
            else:
                self._connections.discard(conn)

    # -- routing --------------------------------------------------------------------------

    def route(self, method: str, pattern: str, handler: Handler) -> None:
        self._routes.append(Route(method.upper(), re.compile(pattern), handler))

    def dispatch(self, request: Request) -> tuple[Response, float]:
        """Return the response and the delay to wait before writing it."""
        faultable = request.path.startswith(self.fault_prefix)
        fault: Fault | None = None
        delay = 0.0
        if faultable:
            latency = self.faults.latency_seconds()
            if latency:
                self.sleep(latency)
            fault = self.faults.next_fault()
        if fault is not None and fault.kind in ("fail", "rate_limit"):
            response = self.fault_response(request, fault)
        else:
            response = self._route(request)
            if fault is not None and fault.kind == "timeout":
                delay = fault.seconds
        if not request.path.startswith(SIM_PREFIX):
            self._log_request(request, response, fault)
        return response, delay

    def _route(self, request: Request) -> Response:
        method = "GET" if request.method == "HEAD" else request.method
        path_matched = False
        for route in self._routes:
            match = route.pattern.fullmatch(request.path)
            if match is None:
                continue
            path_matched = True
            if route.method != method:
                continue
            request.params = {k: v for k, v in match.groupdict().items() if v is not None}
            try:
                return route.handler(request)
            except HTTPError as exc:
                return Response(exc.status, exc.body, dict(exc.headers))
            except Exception:
                logger.exception("%s: unhandled error on %s %s", self.name, method, request.path)
                return self.error_response(request, 500, "internal server error")
        if path_matched:
            return self.error_response(request, 405, "method not allowed")
        return self.error_response(request, 404, "not found")

    def error_response(self, request: Request, status: int, message: str) -> Response:
        """Generic error body; subclasses override to match the real API's error shape."""
        return json_response({"error": message}, status)

    def fault_response(self, request: Request, fault: Fault) -> Response:
        if fault.kind == "rate_limit":
            response = self.error_response(request, 429, "rate limited (simulated)")
            response.headers["Retry-After"] = str(fault.retry_after)
            return response
        return self.error_response(request, fault.status, "simulated failure")

    # -- request log ----------------------------------------------------------------------

    def _log_request(self, request: Request, response: Response, fault: Fault | None) -> None:
        entry = {
            "at": iso_utc(utcnow()),
            "method": request.method,
            "path": request.path,
            "query": {k: v[-1] for k, v in request.query.items()},
            "idempotency_key": request.header("Idempotency-Key"),
            "correlation_id": request.header("X-Correlation-ID"),
            "status": response.status,
            "fault": fault.kind if fault else None,
        }
        with self._log_lock:
            self.request_count += 1
            self._request_log.append(entry)

    def request_log(self) -> list[dict[str, Any]]:
        with self._log_lock:
            return list(self._request_log)

    def clear_request_log(self) -> None:
        with self._log_lock:
            self._request_log.clear()
            self.request_count = 0

    # -- built-in /_sim routes ------------------------------------------------------------

    def _sim_health(self, request: Request) -> Response:
        return json_response({"ok": True})

    def _sim_get_faults(self, request: Request) -> Response:
        return json_response(self.faults.snapshot())

    def _sim_set_faults(self, request: Request) -> Response:
        try:
            plan = self.faults.update(request.json())
        except ValueError as exc:
            return json_response({"error": str(exc)}, 400)
        logger.info("%s fault plan now %s", self.name, plan)
        return json_response(plan)

    def _sim_reset(self, request: Request) -> Response:
        """Clear the fault plan; with ``{"all": true}`` also wipe data and logs."""
        wipe = False
        if request.body:
            try:
                payload = request.json()
            except ValueError:
                return json_response({"error": "invalid JSON body"}, 400)
            wipe = isinstance(payload, dict) and payload.get("all") is True
        self.faults.reset()
        if wipe:
            self.clear_request_log()
            self.reset_data()
        return json_response({"ok": True, "faults": self.faults.snapshot(), "wiped": wipe})

    def reset_data(self) -> None:
        """Hook: wipe simulator data (used by ``POST /_sim/reset {"all": true}``)."""

    def _sim_requests(self, request: Request) -> Response:
        return json_response(self.request_log())


def run_until_signal(
    server: JsonHTTPServer, signals: Iterable[signal.Signals] = (signal.SIGTERM, signal.SIGINT)
) -> None:
    """Serve in a background thread until one of ``signals`` arrives, then shut down cleanly."""
    stop = threading.Event()

    def _on_signal(signum: int, frame: object) -> None:
        logger.info("received signal %s, shutting down", signal.Signals(signum).name)
        stop.set()

    previous = {sig: signal.signal(sig, _on_signal) for sig in signals}
    try:
        server.serve_in_thread()
        while not stop.wait(0.5):
            pass
    finally:
        server.shutdown()
        for sig, handler in previous.items():
            signal.signal(sig, handler)


def configure_logging(level: str = "INFO") -> None:
    logging.basicConfig(
        level=getattr(logging, level.upper(), logging.INFO),
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )


def monotonic_ms(start: float) -> float:
    return round((time.monotonic() - start) * 1000.0, 2)
