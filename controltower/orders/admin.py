"""Orders in the admin: read, correct contact details, and act through the order services.

State, amounts, currency and identity are read-only (``CanonicalAdmin``); orders and their
lines are created only by the channel sync, so they cannot be added or deleted here. Cancelling
is the admin action "Cancel selected orders", which goes through the state machine.
"""

from __future__ import annotations

from typing import Any

from django.contrib import admin, messages
from django.db.models import QuerySet
from django.http import HttpRequest

from controltower.core.admin_helpers import (
    CanonicalAdmin,
    CanonicalInline,
    reason_of,
    register_canonical,
    run_service_action,
)
from controltower.orders.models import (
    ChannelStatusMapping,
    Order,
    OrderEvent,
    OrderLine,
    StageSLA,
)
from controltower.orders.services import cancel_order
from controltower.orders.transitions import IllegalTransition


class OrderLineInline(CanonicalInline):
    model = OrderLine
    fields = ("line_number", "sku_code", "name", "quantity", "status", "total_amount")


@admin.register(Order)
class OrderAdmin(CanonicalAdmin):
    list_display = (
        "number",
        "channel",
        "state",
        "total_amount",
        "currency",
        "placed_at",
        "erp_reference",
    )
    list_filter = ("state", "channel")
    search_fields = ("number", "external_id", "customer_email", "erp_reference")
    inlines = (OrderLineInline,)
    actions = ("cancel_orders",)

    @admin.action(description="Cancel selected orders", permissions=["change"])
    def cancel_orders(self, request: HttpRequest, queryset: QuerySet[Order]) -> None:
        reason = reason_of(request)
        if not reason:
            self.message_user(request, "Give a reason to cancel orders.", messages.ERROR)
            return
        run_service_action(
            self,
            request,
            queryset,
            # the service also tells the channel (store status) and the ERP (sales-order cancel)
            lambda order: cancel_order(order, actor=request.user, reason=reason),
            done="Orders cancelled",
            refused=(IllegalTransition,),
        )


register_canonical(OrderLine)
register_canonical(ChannelStatusMapping, service_only=False, configuration_fields=("state",))
register_canonical(StageSLA, service_only=False)


@admin.register(OrderEvent)
class OrderEventAdmin(admin.ModelAdmin):
    """The timeline is written by the order services only: read it here."""

    list_display = ("created_at", "order", "type", "actor")
    list_filter = ("type",)

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False
