"""Integration messages over the API: read, retry, replay; the backlog; dead-letter actions."""

from __future__ import annotations

from typing import Any

import django_filters
from django.db.models import QuerySet
from django.shortcuts import get_object_or_404
from drf_spectacular.utils import (
    OpenApiResponse,
    PolymorphicProxySerializer,
    extend_schema,
    extend_schema_view,
    inline_serializer,
)
from rest_framework import serializers, viewsets
from rest_framework.decorators import action, api_view, permission_classes
from rest_framework.exceptions import ValidationError
from rest_framework.request import Request
from rest_framework.response import Response

from controltower.api.errors import Conflict
from controltower.api.filters import FilterSet
from controltower.api.permissions import requires
from controltower.api.schema import ErrorSerializer
from controltower.exceptions.models import OpsException
from integrations.runtime import actions, backlog
from integrations.runtime.api.serializers import (
    InboundEventSerializer,
    MessageActionSerializer,
    OutboundMessageSerializer,
    ReplaySerializer,
    RetrySerializer,
)
from integrations.runtime.choices import InboundStatus, OutboundStatus
from integrations.runtime.models import InboundEvent, MessageAction, OutboundMessage

REPLAY = requires("integrations.replay_message")


def _run(func: Any, *args: Any, **kwargs: Any) -> Any:
    try:
        return func(*args, **kwargs)
    except actions.ReplayRefused as exc:  # a second create: 409 with the reason, whatever it says
        raise Conflict(str(exc)) from exc
    except actions.MessageActionError as exc:
        if "reason" in str(exc):
            raise ValidationError({"reason": [str(exc)]}) from exc
        if "payload" in str(exc) or "body" in str(exc):
            raise ValidationError({"payload": [str(exc)]}) from exc
        raise Conflict(str(exc)) from exc


class MessageActionsMixin:
    """``retry`` and ``replay`` for a viewset of inbound events or outbound messages."""

    @action(
        detail=True, methods=["post"], permission_classes=[REPLAY], serializer_class=RetrySerializer
    )
    def retry(self, request: Request, pk: str | None = None) -> Response:
        data = RetrySerializer(data=request.data)
        data.is_valid(raise_exception=True)
        result = _run(actions.retry_message, self.get_object(), **data.validated_data)  # type: ignore[attr-defined]
        return Response(_serialized(result), status=202)

    @action(
        detail=True,
        methods=["post"],
        permission_classes=[REPLAY],
        serializer_class=ReplaySerializer,
    )
    def replay(self, request: Request, pk: str | None = None) -> Response:
        data = ReplaySerializer(data=request.data)
        data.is_valid(raise_exception=True)
        result = _run(
            actions.replay_message,
            self.get_object(),  # type: ignore[attr-defined]
            reason=data.validated_data["reason"],
            payload=data.validated_data.get("payload"),
        )
        return Response(_serialized(result), status=202)


def _serialized(obj: InboundEvent | OutboundMessage) -> Any:
    if isinstance(obj, OutboundMessage):
        return OutboundMessageSerializer(obj).data
    return InboundEventSerializer(obj).data


class InboundEventFilter(FilterSet):
    connection = django_filters.CharFilter(field_name="connection__slug")
    status = django_filters.MultipleChoiceFilter(choices=InboundStatus.choices)
    correlation_id = django_filters.UUIDFilter()

    class Meta:
        model = InboundEvent
        fields = ["connection", "status", "correlation_id", "topic", "resource_id"]


def _message_actions_schema(serializer: Any) -> Any:
    """``retry``/``replay`` answer 202 with the message queued again (not the request body)."""
    described = extend_schema(
        responses={202: OpenApiResponse(serializer, description="queued again")}
    )
    return extend_schema_view(retry=described, replay=described)


@_message_actions_schema(InboundEventSerializer)
class InboundEventViewSet(MessageActionsMixin, viewsets.ReadOnlyModelViewSet):
    """Raw inbound events as received; ``retry`` re-processes a failed one, ``replay`` feeds it
    (or an edited body) through the inbox again."""

    serializer_class = InboundEventSerializer
    filterset_class = InboundEventFilter
    ordering = ["-received_at", "-id"]

    def get_queryset(self) -> QuerySet[InboundEvent]:
        return InboundEvent.objects.select_related("connection")


class OutboundMessageFilter(FilterSet):
    connection = django_filters.CharFilter(field_name="connection__slug")
    status = django_filters.MultipleChoiceFilter(choices=OutboundStatus.choices)
    correlation_id = django_filters.UUIDFilter()

    class Meta:
        model = OutboundMessage
        fields = ["connection", "status", "correlation_id", "kind"]


@_message_actions_schema(OutboundMessageSerializer)
class OutboundMessageViewSet(MessageActionsMixin, viewsets.ReadOnlyModelViewSet):
    """Outbound messages with every delivery attempt; ``retry`` sends a dead one again as it
    is, ``replay`` sends a new message (optionally with an edited payload) the same way."""

    serializer_class = OutboundMessageSerializer
    filterset_class = OutboundMessageFilter
    ordering = ["-created_at", "-id"]

    def get_queryset(self) -> QuerySet[OutboundMessage]:
        return OutboundMessage.objects.select_related("connection").prefetch_related("attempt_log")


class MessageActionViewSet(viewsets.ReadOnlyModelViewSet):
    """Who retried or replayed what, why, and the diff of any edit."""

    serializer_class = MessageActionSerializer
    filterset_fields = ["action", "direction", "correlation_id", "original_id"]
    ordering = ["-created_at"]

    def get_queryset(self) -> QuerySet[MessageAction]:
        return MessageAction.objects.select_related("actor")


def _subject(exception: OpsException) -> InboundEvent | OutboundMessage:
    if exception.subject_type == "integrations.outboundmessage":
        return get_object_or_404(OutboundMessage, pk=exception.subject_id)
    if exception.subject_type == "integrations.inboundevent":
        return get_object_or_404(InboundEvent, pk=exception.subject_id)
    raise Conflict(f"exception {exception.pk} is not about an integration message")


_MESSAGE_RESPONSE = {
    202: OpenApiResponse(
        PolymorphicProxySerializer(
            component_name="QueuedMessage",
            serializers=[OutboundMessageSerializer, InboundEventSerializer],
            resource_type_field_name=None,
        ),
        description="the outbound message or inbound event, queued again",
    ),
    409: OpenApiResponse(
        ErrorSerializer,
        description="the exception is not about a message, nothing to do, or sending it again "
        "would create a second one of what it created (the detail names it)",
    ),
}


@extend_schema(request=RetrySerializer, responses=_MESSAGE_RESPONSE)
@api_view(["POST"])
@permission_classes([REPLAY])
def exception_retry(request: Request, pk: int) -> Response:
    """Retry the message behind a dead-letter exception."""
    data = RetrySerializer(data=request.data)
    data.is_valid(raise_exception=True)
    subject = _subject(get_object_or_404(OpsException, pk=pk))
    result = _run(actions.retry_message, subject, **data.validated_data)
    return Response(_serialized(result), status=202)


@extend_schema(request=ReplaySerializer, responses=_MESSAGE_RESPONSE)
@api_view(["POST"])
@permission_classes([REPLAY])
def exception_replay(request: Request, pk: int) -> Response:
    """Replay the message behind a dead-letter exception, optionally with an edited payload."""
    data = ReplaySerializer(data=request.data)
    data.is_valid(raise_exception=True)
    subject = _subject(get_object_or_404(OpsException, pk=pk))
    result = _run(
        actions.replay_message,
        subject,
        reason=data.validated_data["reason"],
        payload=data.validated_data.get("payload"),
    )
    return Response(_serialized(result), status=202)


_BACKLOG = inline_serializer(
    "Backlog",
    {
        "outbound": serializers.ListField(child=serializers.DictField()),
        "inbound": serializers.ListField(child=serializers.DictField()),
    },
)


@extend_schema(responses=_BACKLOG)
@api_view(["GET"])
@permission_classes([requires("integrations.view_outboundmessage")])
def backlog_view(request: Request) -> Response:
    """Per connection and message kind: pending, retrying, in flight, dead, oldest age, errors."""
    return Response({"outbound": backlog.outbound_backlog(), "inbound": backlog.inbound_backlog()})
