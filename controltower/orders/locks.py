from __future__ import annotations

from controltower.orders.models import Order


def lock_order(pk: int) -> Order:
    return Order.objects.order_by("pk").select_for_update(of=("self",)).get(pk=pk)
