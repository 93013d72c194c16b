"""How orders reach the ops pages live (registered with ``controltower.core.live``)."""

from __future__ import annotations

from django.template.loader import render_to_string

from controltower.core import live

OPS_GROUP = "dashboard.ops"


def render_orders(changed: dict[int, bool]) -> str:
    from controltower.orders.models import Order

    rows = Order.objects.for_list().filter(pk__in=list(changed)).order_by("placed_at", "pk")
    # One template render for the batch (a render per row costs its context and loader anew).
    pushes = [(order, changed[order.pk]) for order in rows]
    return render_to_string("orders/partials/_order_pushes.html", {"pushes": pushes})


def register() -> None:
    live.register_renderer(
        "order", render=render_orders, permission="orders.view_order", group=OPS_GROUP
    )


def order_changed(order_id: int, *, created: bool) -> None:
    """Push the order's row to ops pages after the surrounding transaction commits."""
    live.changed("order", order_id, created=created)
