"""``GET /api/v1/traces/<correlation_id>/``: one business transaction across all systems."""

from __future__ import annotations

from uuid import UUID

from django.http import Http404
from drf_spectacular.utils import extend_schema, inline_serializer
from rest_framework import serializers
from rest_framework.decorators import api_view, permission_classes
from rest_framework.request import Request
from rest_framework.response import Response

from controltower.api.permissions import requires
from controltower.core.trace import collect

_ENTRIES = inline_serializer(
    "TraceEntry",
    many=True,
    fields={
        "at": serializers.DateTimeField(),
        "system": serializers.CharField(),
        "kind": serializers.ChoiceField(
            ["inbound", "outbound", "attempt", "action", "event", "history"]
        ),
        "title": serializers.CharField(),
        "status": serializers.CharField(),
        "actor": serializers.CharField(),
        "detail": serializers.DictField(),
        "payload": serializers.CharField(),
    },
)
_TRACE = inline_serializer(
    "Trace", {"correlation_id": serializers.UUIDField(), "entries": _ENTRIES}
)


@extend_schema(responses=_TRACE)
@api_view(["GET"])
@permission_classes([requires("orders.view_order")])
def trace_view(request: Request, correlation_id: UUID) -> Response:
    """The timeline in time order: inbound events, outbound messages with their attempts and
    responses, domain events, state changes (history diffs), exceptions and human actions."""
    entries = collect(str(correlation_id))
    if not entries:
        raise Http404(f"nothing is recorded under correlation id {correlation_id}")
    return Response(
        {"correlation_id": str(correlation_id), "entries": [e.as_dict() for e in entries]}
    )
