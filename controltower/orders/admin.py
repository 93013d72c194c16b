from __future__ import annotations

from django.contrib import admin

from controltower.core.admin_helpers import register_canonical
from controltower.orders.models import ChannelStatusMapping, Order, OrderEvent, OrderLine

register_canonical(
    Order,
    list_display=(
        "number",
        "channel",
        "state",
        "total_amount",
        "currency",
        "placed_at",
        "erp_reference",
    ),
)
register_canonical(OrderLine, ChannelStatusMapping)


@admin.register(OrderEvent)
class OrderEventAdmin(admin.ModelAdmin):
    list_display = ("created_at", "order", "type", "actor")
    list_filter = ("type",)
    readonly_fields = ("order", "correlation_id", "type", "parameters", "actor", "created_at")
