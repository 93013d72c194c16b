from __future__ import annotations

from collections.abc import Callable
from typing import Any

import django_filters
from django.contrib.auth import get_user_model
from django.db.models import QuerySet
from drf_spectacular.utils import extend_schema
from rest_framework import serializers, viewsets
from rest_framework.decorators import action
from rest_framework.exceptions import ValidationError
from rest_framework.request import Request
from rest_framework.response import Response

from controltower.api.errors import Conflict
from controltower.api.fields import ReasonField
from controltower.api.filters import DateTimeFilter, FilterSet
from controltower.api.permissions import requires
from controltower.exceptions import services
from controltower.exceptions.api.serializers import ExceptionSerializer
from controltower.exceptions.choices import ExceptionState, ExceptionType, Severity
from controltower.exceptions.models import OpsException

CHANGE = requires("exceptions.change_opsexception")


class ExceptionFilter(FilterSet):
    state = django_filters.MultipleChoiceFilter(choices=ExceptionState.choices)
    type = django_filters.MultipleChoiceFilter(choices=ExceptionType.choices)
    severity = django_filters.MultipleChoiceFilter(choices=Severity.choices)
    correlation_id = django_filters.UUIDFilter()
    owner = django_filters.CharFilter(field_name="owner__username")
    opened_after = DateTimeFilter(field_name="opened_at", lookup_expr="gte")
    opened_before = DateTimeFilter(field_name="opened_at", lookup_expr="lt")

    class Meta:
        model = OpsException
        fields = ["state", "type", "severity", "correlation_id", "owner"]


class ReasonSerializer(serializers.Serializer):
    reason = ReasonField()


class AssignSerializer(serializers.Serializer):
    owner = serializers.CharField(
        allow_null=True, allow_blank=True, help_text="a username; null or empty to unassign"
    )


class ExceptionViewSet(viewsets.ReadOnlyModelViewSet):
    """The exception work queue (dead letters, stuck orders, breaks …), newest first.

    ``resolve`` and ``ignore`` need a reason; ``assign`` takes a username. Every action is
    recorded in the exception's history with the person who took it.
    """

    serializer_class = ExceptionSerializer
    filterset_class = ExceptionFilter
    ordering_fields = ["opened_at", "money_at_risk_amount", "severity"]
    ordering = ["-opened_at", "-id"]

    def get_queryset(self) -> QuerySet[OpsException]:
        return OpsException.objects.select_related("owner")

    def _act(self, func: Callable[..., OpsException], **kwargs: Any) -> Response:
        exception = self.get_object()
        try:
            exception = func(exception, **kwargs)
        except services.ExceptionActionError as exc:
            raise Conflict(str(exc)) from exc
        return Response(ExceptionSerializer(exception).data)

    @extend_schema(request=ReasonSerializer, responses={200: ExceptionSerializer})
    @action(
        detail=True,
        methods=["post"],
        permission_classes=[CHANGE],
        serializer_class=ReasonSerializer,
    )
    def resolve(self, request: Request, pk: str | None = None) -> Response:
        data = ReasonSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        return self._act(services.resolve_exception, reason=data.validated_data["reason"])

    @extend_schema(request=ReasonSerializer, responses={200: ExceptionSerializer})
    @action(
        detail=True,
        methods=["post"],
        permission_classes=[CHANGE],
        serializer_class=ReasonSerializer,
    )
    def ignore(self, request: Request, pk: str | None = None) -> Response:
        data = ReasonSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        return self._act(services.ignore_exception, reason=data.validated_data["reason"])

    @extend_schema(request=AssignSerializer, responses={200: ExceptionSerializer})
    @action(
        detail=True,
        methods=["post"],
        permission_classes=[CHANGE],
        serializer_class=AssignSerializer,
    )
    def assign(self, request: Request, pk: str | None = None) -> Response:
        data = AssignSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        username = data.validated_data["owner"]
        owner = None
        if username:
            owner = get_user_model().objects.filter(username=username).first()
            if owner is None:
                raise ValidationError({"owner": [f"no user named {username!r}"]})
        return self._act(services.assign_exception, owner=owner)
