from __future__ import annotations

import django_filters

from controltower.api.filters import FilterSet
from controltower.returns.choices import RefundState
from controltower.returns.models import Refund


class RefundFilter(FilterSet):
    order = django_filters.NumberFilter(field_name="order_id")
    correlation_id = django_filters.UUIDFilter()
    state = django_filters.MultipleChoiceFilter(choices=RefundState.choices)
    external_id = django_filters.CharFilter()
    source_system = django_filters.CharFilter()

    class Meta:
        model = Refund
        fields = ["order", "correlation_id", "state", "external_id", "source_system"]
