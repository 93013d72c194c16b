from __future__ import annotations

import django_filters
from django.db.models import QuerySet
from rest_framework import viewsets

from controltower.exceptions.api.serializers import ExceptionSerializer
from controltower.exceptions.choices import ExceptionState, ExceptionType, Severity
from controltower.exceptions.models import OpsException


class ExceptionFilter(django_filters.FilterSet):
    state = django_filters.MultipleChoiceFilter(choices=ExceptionState.choices)
    type = django_filters.MultipleChoiceFilter(choices=ExceptionType.choices)
    severity = django_filters.MultipleChoiceFilter(choices=Severity.choices)
    correlation_id = django_filters.UUIDFilter()
    owner = django_filters.CharFilter(field_name="owner__username")
    opened_after = django_filters.IsoDateTimeFilter(field_name="opened_at", lookup_expr="gte")
    opened_before = django_filters.IsoDateTimeFilter(field_name="opened_at", lookup_expr="lt")

    class Meta:
        model = OpsException
        fields = ["state", "type", "severity", "correlation_id", "owner"]


class ExceptionViewSet(viewsets.ReadOnlyModelViewSet):
    """The exception work queue (dead letters, stuck orders, breaks …), newest first."""

    serializer_class = ExceptionSerializer
    filterset_class = ExceptionFilter
    ordering_fields = ["opened_at", "money_at_risk_amount", "severity"]
    ordering = ["-opened_at", "-id"]

    def get_queryset(self) -> QuerySet[OpsException]:
        return OpsException.objects.select_related("owner")
