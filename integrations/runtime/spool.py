"""The webhook spool: verified deliveries kept on local disk while PostgreSQL is unreachable.

WooCommerce never retries a delivery and disables a webhook after repeated failures, so a 503
during a database restart costs far more than the delivery. When the inbox insert (or the read
before it) fails because the database cannot be reached, the receive path
(``integrations/runtime/receive.py``) appends the verified delivery here and answers
``202 {"status": "spooled"}``; the record is on disk (``os.write`` + ``os.fsync``) before that
answer is written.

Files
    One append-only file per process, ``<CT_SPOOL_DIR>/<hostname>-<pid>.spool``. A record is
    ``MAGIC | length (4 bytes, big-endian) | CRC-32 of the payload (4 bytes) | payload``, the
    payload the delivery as JSON (body base64). A record is written by one ``os.write`` under an
    exclusive ``fcntl.flock`` and fsynced; a short write is cut off again before the failure is
    answered, so only a process that died mid-write leaves a torn tail, and nobody was told
    "spooled" for it.

Replay
    :func:`replay` takes every spool file it can lock (``LOCK_EX | LOCK_NB``; a lock is held only
    while appending or replaying, so the files of live and of dead processes are both taken),
    stores its records in file order through ``inbox.store_accepted`` — the same dedupe key, so a
    delivery spooled twice, or also delivered again later, is stored once — in transactions of
    :data:`REPLAY_BATCH`, and removes the file only after they committed. A replay that fails half
    way leaves the file; the next one stores again what is missing and finds the rest held.
    It runs: in a background thread of the spooling process, every ``CT_SPOOL_RETRY_S`` until its
    spool is empty (and at once after its next successful request); in any web process that
    finds spool files at a successful request (looked for every :data:`LOOK_EVERY_S`); and from beat
    (``integrations.drain_spool``, every ``CT_SPOOL_DRAIN_S``), which also drains the files of
    processes that died.

Cap
    A file holds at most ``CT_SPOOL_MAX_BYTES``; beyond it (or when the disk refuses the write)
    :func:`append` returns False and the delivery is answered 503 as before.
"""

from __future__ import annotations

import base64
import binascii
import contextlib
import fcntl
import json
import logging
import os
import socket
import struct
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

from django.conf import settings
from django.db import InterfaceError, OperationalError, connections, transaction

from integrations.runtime import inbox, registry

logger = logging.getLogger(__name__)

MAGIC = b"CTS1"
HEADER = struct.Struct(">4sII")  # magic, payload length, CRC-32 of the payload
SUFFIX = ".spool"
REPLAY_BATCH = 200
UNREACHABLE = (OperationalError, InterfaceError)


@dataclass(frozen=True)
class Record:
    """One spooled delivery: what ``inbox.store_accepted`` needs to store it later."""

    kind: str
    connection_pk: int
    slug: str
    body: bytes
    accepted: registry.Accept
    spooled_at: float

    def encode(self) -> bytes:
        a = self.accepted
        payload = json.dumps(
            {
                "kind": self.kind,
                "connection_pk": self.connection_pk,
                "slug": self.slug,
                "body": base64.b64encode(self.body).decode(),
                "spooled_at": self.spooled_at,
                "accepted": {
                    "topic": a.topic,
                    "resource": a.resource,
                    "resource_id": a.resource_id,
                    "modified": a.modified,
                    "source_modified_at": (
                        a.source_modified_at.isoformat() if a.source_modified_at else None
                    ),
                    "delivery_id": a.delivery_id,
                    "headers": a.headers,
                },
            },
            separators=(",", ":"),
        ).encode()
        return HEADER.pack(MAGIC, len(payload), binascii.crc32(payload)) + payload

    @classmethod
    def decode(cls, payload: bytes) -> Record:
        data = json.loads(payload)
        a = data["accepted"]
        modified_at = a["source_modified_at"]
        return cls(
            kind=data["kind"],
            connection_pk=data["connection_pk"],
            slug=data["slug"],
            body=base64.b64decode(data["body"]),
            spooled_at=data["spooled_at"],
            accepted=registry.Accept(
                topic=a["topic"],
                resource=a["resource"],
                resource_id=a["resource_id"],
                modified=a["modified"],
                source_modified_at=datetime.fromisoformat(modified_at) if modified_at else None,
                delivery_id=a["delivery_id"],
                headers=a["headers"],
            ),
        )


def read_records(data: bytes) -> tuple[list[Record], int, bool]:
    """The complete records at the start of ``data``, the bytes they take, and whether what
    follows is damage (a complete record whose checksum fails) rather than a torn tail."""
    records: list[Record] = []
    offset = 0
    while offset < len(data):
        if len(data) - offset < HEADER.size:
            return records, offset, False  # torn header
        magic, length, crc = HEADER.unpack_from(data, offset)
        start, end = offset + HEADER.size, offset + HEADER.size + length
        if magic != MAGIC:
            return records, offset, True
        if end > len(data):
            return records, offset, False  # torn payload
        payload = data[start:end]
        if binascii.crc32(payload) != crc:
            return records, offset, True
        records.append(Record.decode(payload))
        offset = end
    return records, offset, False


# --- appending (the receive path) ----------------------------------------------------------------
def spool_dir() -> Path:
    return Path(settings.CT_SPOOL_DIR)


def own_path() -> Path:
    return spool_dir() / f"{socket.gethostname()}-{os.getpid()}{SUFFIX}"


_lock = threading.Lock()
_fd: int | None = None
_fd_pid = 0


def _open_own() -> int:
    """This process's spool file, open for appending (reopened after a fork or a replay that
    removed it)."""
    global _fd, _fd_pid
    if _fd is not None and _fd_pid == os.getpid():
        return _fd
    directory = spool_dir()
    directory.mkdir(parents=True, exist_ok=True)
    _fd = os.open(own_path(), os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
    _fd_pid = os.getpid()
    dir_fd = os.open(directory, os.O_RDONLY)
    try:
        os.fsync(dir_fd)  # the file's name is durable too
    finally:
        os.close(dir_fd)
    return _fd


def _forget_own() -> None:
    global _fd
    if _fd is not None and _fd_pid == os.getpid():
        with contextlib.suppress(OSError):
            os.close(_fd)
    _fd = None


@contextlib.contextmanager
def _own_locked() -> Iterator[int]:
    """This process's spool file under its exclusive flock; reopened if a replay removed the name
    while we waited for the lock."""
    for _ in range(5):
        fd = _open_own()
        fcntl.flock(fd, fcntl.LOCK_EX)
        try:
            current = os.stat(own_path())
            same = current.st_ino == os.fstat(fd).st_ino
        except FileNotFoundError:
            same = False
        if same:
            try:
                yield fd
            finally:
                fcntl.flock(fd, fcntl.LOCK_UN)
            return
        fcntl.flock(fd, fcntl.LOCK_UN)
        _forget_own()
    raise OSError("the spool file keeps disappearing")


def append(
    kind: str, connection: registry.WebhookConnection, body: bytes, accepted: registry.Accept
) -> bool:
    """Keep a verified delivery on disk until the inbox can take it; True once it is fsynced.
    False when the spool is full (``CT_SPOOL_MAX_BYTES``) or the disk refuses it."""
    record = Record(
        kind=kind,
        connection_pk=connection.pk,
        slug=connection.slug,
        body=body,
        accepted=accepted,
        spooled_at=time.time(),
    ).encode()
    try:
        with _lock, _own_locked() as fd:
            size = os.fstat(fd).st_size
            if size + len(record) > settings.CT_SPOOL_MAX_BYTES:
                logger.error(
                    "webhook spool %s is full (%d bytes, cap %d): delivery refused",
                    own_path(),
                    size,
                    settings.CT_SPOOL_MAX_BYTES,
                )
                return False
            try:
                written = os.write(fd, record)
                if written != len(record):
                    raise OSError(f"short write: {written} of {len(record)} bytes")
                os.fsync(fd)
            except OSError:
                os.ftruncate(fd, size)  # never leave half a record for the next one to follow
                raise
    except OSError:
        logger.exception("could not spool a %s delivery for %s", kind, connection.slug)
        return False
    _start_replayer()
    return True


# --- replaying -----------------------------------------------------------------------------------
def _store(records: list[Record]) -> tuple[int, int]:
    stored = duplicate = 0
    for first in range(0, len(records), REPLAY_BATCH):
        with transaction.atomic():
            for record in records[first : first + REPLAY_BATCH]:
                connection = registry.WebhookConnection(
                    pk=record.connection_pk,
                    slug=record.slug,
                    name=record.slug,
                    kind=record.kind,
                    credentials={},
                )
                if inbox.store_accepted(connection, record.body, record.accepted):
                    stored += 1
                else:
                    duplicate += 1
    return stored, duplicate


def _replay_file(path: Path) -> dict[str, int] | None:
    """Store one spool file's records and remove it; None when another process holds it."""
    try:
        fd = os.open(path, os.O_RDONLY)
    except FileNotFoundError:
        return None
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            return None
        try:
            if os.fstat(fd).st_nlink == 0:
                return None  # removed by a replay that held the lock before us
            data = b""
            while chunk := os.read(fd, 1 << 20):
                data += chunk
            records, used, damaged = read_records(data)
            stored, duplicate = _store(records)  # committed when this returns
            if used < len(data):
                if damaged:
                    kept = path.with_name(f"{path.name}.damaged-{int(time.time())}")
                    kept.write_bytes(data[used:])
                    logger.error(
                        "webhook spool %s: %d damaged bytes after %d records kept in %s",
                        path,
                        len(data) - used,
                        len(records),
                        kept,
                    )
                else:
                    logger.warning(
                        "webhook spool %s: dropped a torn record of %d bytes (its writer died "
                        "before answering)",
                        path,
                        len(data) - used,
                    )
            path.unlink()
            if records:
                logger.info(
                    "webhook spool %s replayed: %d stored, %d already held",
                    path.name,
                    stored,
                    duplicate,
                )
            return {"records": len(records), "stored": stored, "duplicate": duplicate}
        finally:
            fcntl.flock(fd, fcntl.LOCK_UN)
    finally:
        os.close(fd)


def spool_files() -> list[Path]:
    try:
        return sorted(spool_dir().glob(f"*{SUFFIX}"), key=lambda p: (p.stat().st_mtime, p.name))
    except FileNotFoundError:
        return []


def replay() -> dict[str, int]:
    """Store every lockable spool file's records into the inbox, oldest file first. Raises the
    database error if the database is still unreachable (the files stay)."""
    totals = {"files": 0, "records": 0, "stored": 0, "duplicate": 0}
    for path in spool_files():
        with contextlib.suppress(FileNotFoundError):
            result = _replay_file(path)
            if result is not None:
                totals["files"] += 1
                for key, value in result.items():
                    totals[key] += value
    return totals


def pending() -> bool:
    """Whether this process spooled something it has not replayed yet (a stat, no database)."""
    try:
        return own_path().stat().st_size > 0
    except FileNotFoundError:
        return False


# --- the spooling process's own replayer ---------------------------------------------------------
_wake = threading.Event()
_running_pid = 0  # the pid whose replayer thread runs (a forked child has none)


def _replay_loop() -> None:
    global _running_pid
    while True:
        _wake.wait(settings.CT_SPOOL_RETRY_S)
        _wake.clear()
        try:
            replay()
        except UNREACHABLE:
            logger.info("webhook spool: database still unreachable; retrying")
        except Exception:
            logger.exception("webhook spool replay failed")
        finally:
            connections["default"].close()
        with _lock:  # an append after this check starts a new replayer
            if not pending():
                _running_pid = 0
                return


def _start_replayer() -> None:
    global _running_pid
    with _lock:
        if _running_pid == os.getpid():
            return
        _running_pid = os.getpid()
    threading.Thread(target=_replay_loop, name="webhook-spool", daemon=True).start()


LOOK_EVERY_S = 30.0
_next_look = 0.0


def nudge() -> None:
    """After a request that reached the database: replay now if this process spooled; and, every
    :data:`LOOK_EVERY_S`, look for files other processes left (one directory listing)."""
    global _next_look
    if _running_pid == os.getpid():
        _wake.set()
        return
    now = time.monotonic()
    if now >= _next_look:
        _next_look = now + LOOK_EVERY_S
        try:
            if spool_files():
                _start_replayer()
        except Exception:  # the answer is already decided; beat drains the spool too
            logger.exception("could not look at the webhook spool")


def status() -> dict[str, Any]:
    """Spool files and their sizes (for ops)."""
    return {p.name: p.stat().st_size for p in spool_files()}
