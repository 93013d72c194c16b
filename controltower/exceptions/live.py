"""How exceptions reach the work-queue pages live (registered with ``controltower.core.live``)."""

from __future__ import annotations

from django.template.loader import render_to_string

from controltower.core import live

OPS_GROUP = "dashboard.ops"


def render_exceptions(changed: dict[int, bool]) -> str:
    from controltower.exceptions.models import OpsException

    rows = (
        OpsException.objects.select_related("owner")
        .filter(pk__in=list(changed))
        .order_by("opened_at", "pk")
    )
    return "".join(
        render_to_string(
            "exceptions/partials/_exception_push.html",
            {"exception": e, "created": changed[e.pk]},
        )
        for e in rows
    )


def register() -> None:
    live.register_renderer(
        "exception",
        render=render_exceptions,
        permission="exceptions.view_opsexception",
        group=OPS_GROUP,
    )


def exception_changed(exception_id: int, *, created: bool) -> None:
    """Push the exception's row to work-queue pages after the transaction commits."""
    live.changed("exception", exception_id, created=created)
