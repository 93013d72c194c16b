"""The one after-commit doorway from the domain to open browsers.

Domain services say *what* changed (``live.changed("order", pk, created=True)``) and nothing
more. Each app registers, in its ``AppConfig.ready``, how its rows render for a push and which
permission a receiver must hold (:func:`register_renderer`); the dashboards app registers the
transport that reaches the browsers (:func:`set_sink`, Channels groups). So the domain never
imports ``controltower.dashboards`` and a push is only ever sent for a committed change.

A push is an accelerator: every live page also renders fully on reload and polls, so a failed
or absent sink loses nothing.
"""

from __future__ import annotations

import contextlib
import logging
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import TypedDict

from django.db import transaction

logger = logging.getLogger(__name__)


class LiveUpdate(TypedDict):
    """What a sink sends to a group: rendered rows and the permission a receiver must hold."""

    type: str  # the consumer handler: "dashboard.refresh" → ``dashboard_refresh``
    html: str
    permission: str


# Rows of one kind, by pk, each with "was it created?" → the HTML pushed for them.
Render = Callable[[dict[int, bool]], str]
Sink = Callable[[str, LiveUpdate], None]


@dataclass(frozen=True)
class Renderer:
    render: Render
    permission: str
    group: str


_renderers: dict[str, Renderer] = {}
_sink: Sink | None = None
_local = threading.local()


def register_renderer(kind: str, *, render: Render, permission: str, group: str) -> None:
    """Say how rows of ``kind`` are pushed: ``render(changed)`` → HTML for ``group``."""
    _renderers[kind] = Renderer(render=render, permission=permission, group=group)


def set_sink(sink: Sink | None) -> None:
    """Install the transport (one per process); None turns pushes off."""
    global _sink
    _sink = sink


def changed(kind: str, pk: int, *, created: bool) -> None:
    """Push the row ``kind``/``pk`` after the surrounding transaction commits (never before)."""
    if kind not in _renderers:
        raise LookupError(f"no live renderer registered for {kind!r}")

    def push() -> None:
        pending = getattr(_local, "pending", None)
        if pending is not None:
            pending[(kind, pk)] = pending.get((kind, pk), False) or created
        else:
            _push({(kind, pk): created})

    transaction.on_commit(push)


@contextlib.contextmanager
def batched() -> Iterator[None]:
    """Hold pushes made while a worker handles a batch and send one message per kind at the
    end, each row rendered once, in its latest state."""
    if getattr(_local, "pending", None) is not None:
        yield
        return
    _local.pending = {}
    try:
        yield
    finally:
        pending, _local.pending = _local.pending, None
        if pending:
            _push(pending)


def _push(pending: dict[tuple[str, int], bool]) -> None:
    sink = _sink
    if sink is None:
        return
    by_kind: dict[str, dict[int, bool]] = {}
    for (kind, pk), created in pending.items():
        by_kind.setdefault(kind, {})[pk] = created
    for kind, rows in by_kind.items():
        renderer = _renderers[kind]
        try:
            html = renderer.render(rows)
            if html:
                sink(
                    renderer.group,
                    LiveUpdate(type="dashboard.refresh", html=html, permission=renderer.permission),
                )
        except Exception:  # best effort: the page polls too
            logger.warning("live push of %s rows failed", kind, exc_info=True)
