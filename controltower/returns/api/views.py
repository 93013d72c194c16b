from __future__ import annotations

from django.db.models import QuerySet
from rest_framework import viewsets

from controltower.returns.api.filters import RefundFilter
from controltower.returns.api.serializers import RefundSerializer
from controltower.returns.models import Refund


class RefundViewSet(viewsets.ReadOnlyModelViewSet):
    """Refunds as their channels reported them, with their lines once read. Filter by order,
    correlation id, state. Read-only: approval and posting are finance's later steps."""

    serializer_class = RefundSerializer
    filterset_class = RefundFilter
    ordering_fields = ["created_at", "amount"]
    ordering = ["-created_at", "-id"]

    def get_queryset(self) -> QuerySet[Refund]:
        return Refund.objects.for_list()
