"""The one doorway from server code to open browsers (Channels groups).

Payloads carry rendered partial HTML plus the permission a receiver must hold; consumers re-check
it per event. Always called from ``transaction.on_commit`` so nothing is pushed for a rollback.
A push is an accelerator: pages also render fully on reload and poll, so a failed push loses
nothing.
"""

from __future__ import annotations

import contextlib
import logging
import threading
from collections.abc import Iterator
from typing import TypedDict

from asgiref.sync import async_to_sync
from channels.layers import get_channel_layer
from django.db import transaction
from django.template.loader import render_to_string

logger = logging.getLogger(__name__)

OPS_GROUP = "dashboard.ops"


class DashboardRefresh(TypedDict):
    type: str  # "dashboard.refresh"
    html: str
    permission: str


def _send(group: str, message: DashboardRefresh) -> None:
    layer = get_channel_layer()
    if layer is None:
        return
    try:
        async_to_sync(layer.group_send)(group, message)
    except Exception:  # a push is best effort; the page polls too
        logger.warning("push to %s failed", group, exc_info=True)


_local = threading.local()


@contextlib.contextmanager
def batched() -> Iterator[None]:
    """Hold pushes made while a worker handles a batch, and send them as one message at the end
    (each row rendered once, in its latest state)."""
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


def _rows(kind: str, changed: dict[int, bool]) -> str:
    if kind == "order":
        from controltower.orders.models import Order

        rows = Order.objects.for_list().filter(pk__in=list(changed)).order_by("placed_at", "pk")
        template, name = "orders/partials/_order_push.html", "order"
    else:
        from controltower.exceptions.models import OpsException

        rows = (
            OpsException.objects.select_related("owner")
            .filter(pk__in=list(changed))
            .order_by("opened_at", "pk")
        )
        template, name = "exceptions/partials/_exception_push.html", "exception"
    return "".join(
        render_to_string(template, {name: row, "created": changed[row.pk]}) for row in rows
    )


_PERMISSIONS = {"order": "orders.view_order", "exception": "exceptions.view_opsexception"}


def _push(pending: dict[tuple[str, int], bool]) -> None:
    by_kind: dict[str, dict[int, bool]] = {}
    for (kind, pk), created in pending.items():
        by_kind.setdefault(kind, {})[pk] = created
    for kind, changed in by_kind.items():
        html = _rows(kind, changed)
        if html:
            _send(
                OPS_GROUP,
                DashboardRefresh(
                    type="dashboard.refresh", html=html, permission=_PERMISSIONS[kind]
                ),
            )


def _changed(kind: str, pk: int, *, created: bool) -> None:
    def push() -> None:
        pending = getattr(_local, "pending", None)
        if pending is not None:
            pending[(kind, pk)] = pending.get((kind, pk), False) or created
        else:
            _push({(kind, pk): created})

    transaction.on_commit(push)


def order_changed(order_id: int, *, created: bool) -> None:
    """Push the order's row to ops pages after the surrounding transaction commits."""
    _changed("order", order_id, created=created)


def exception_changed(exception_id: int, *, created: bool) -> None:
    """Push the exception's row to work-queue pages after the transaction commits."""
    _changed("exception", exception_id, created=created)
