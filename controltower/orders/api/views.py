from __future__ import annotations

from django.db.models import QuerySet
from rest_framework import viewsets

from controltower.orders.api.filters import OrderFilter
from controltower.orders.api.serializers import OrderSerializer
from controltower.orders.models import Order


class OrderViewSet(viewsets.ReadOnlyModelViewSet):
    """Canonical orders. Filter by state, channel, correlation id, external id, placed date."""

    serializer_class = OrderSerializer
    filterset_class = OrderFilter
    ordering_fields = ["placed_at", "total_amount", "updated_at"]
    ordering = ["-placed_at", "-id"]

    def get_queryset(self) -> QuerySet[Order]:
        return Order.objects.select_related("channel").prefetch_related("lines")
