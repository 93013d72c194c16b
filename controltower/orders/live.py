"""How orders reach the ops pages live (registered with ``controltower.core.live``)."""

from __future__ import annotations

from django.template.loader import render_to_string

from controltower.core import live

OPS_GROUP = "dashboard.ops"


def render_orders(changed: dict[int, bool]) -> str:
    from controltower.orders.models import Order

    rows = Order.objects.for_list().filter(pk__in=list(changed)).order_by("placed_at", "pk")
    return "".join(
        render_to_string("orders/partials/_order_push.html", {"order": o, "created": changed[o.pk]})
        for o in rows
    )


def register() -> None:
    live.register_renderer(
        "order", render=render_orders, permission="orders.view_order", group=OPS_GROUP
    )


def order_changed(order_id: int, *, created: bool) -> None:
    """Push the order's row to ops pages after the surrounding transaction commits."""
    live.changed("order", order_id, created=created)
