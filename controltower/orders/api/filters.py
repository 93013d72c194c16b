from __future__ import annotations

import django_filters

from controltower.api.filters import DateTimeFilter, FilterSet
from controltower.orders.choices import OrderState
from controltower.orders.models import Order


class OrderFilter(FilterSet):
    state = django_filters.MultipleChoiceFilter(choices=OrderState.choices)
    channel = django_filters.CharFilter(field_name="channel__code")
    correlation_id = django_filters.UUIDFilter()
    external_id = django_filters.CharFilter()
    source_system = django_filters.CharFilter()
    placed_after = DateTimeFilter(field_name="placed_at", lookup_expr="gte")
    placed_before = DateTimeFilter(field_name="placed_at", lookup_expr="lt")

    class Meta:
        model = Order
        fields = ["state", "channel", "correlation_id", "external_id", "source_system"]
