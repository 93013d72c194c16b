"""``GET /api/v1/availability/?sku=…&channel=…``: what a channel may sell of a SKU now, for a
checkout to validate against — one indexed read of the figure the reservations keep current."""

from __future__ import annotations

from drf_spectacular.utils import (
    OpenApiParameter,
    OpenApiResponse,
    extend_schema,
    inline_serializer,
)
from rest_framework import serializers
from rest_framework.decorators import api_view, permission_classes
from rest_framework.exceptions import NotFound, ValidationError
from rest_framework.request import Request
from rest_framework.response import Response

from controltower.api.permissions import requires_one
from controltower.catalog.models import SKU, Channel
from controltower.inventory.models import AvailableToSell, ChannelAllocationRule


@extend_schema(
    parameters=[
        OpenApiParameter("sku", str, required=True, description="the SKU code"),
        OpenApiParameter("channel", str, required=True, description="the channel code"),
    ],
    responses={
        200: inline_serializer(
            "Availability",
            {
                "sku": serializers.CharField(),
                "channel": serializers.CharField(),
                "available": serializers.IntegerField(allow_null=True),
                "stock_controlled": serializers.BooleanField(),
                "as_of": serializers.DateTimeField(allow_null=True),
            },
        ),
        400: OpenApiResponse(description="a parameter is missing: named, with why"),
        404: OpenApiResponse(description="no such SKU or channel: named"),
    },
)
@api_view(["GET"])
@permission_classes([requires_one("inventory.view_stockposition")])
def availability(request: Request) -> Response:
    """``available`` is the channel's ATS (0 when nothing was ever available); ``null`` with
    ``stock_controlled: false`` for a channel without allocation rules (it does not sell from
    counted stock). ``as_of``: when the figure last changed."""
    sku_code = (request.query_params.get("sku") or "").strip()
    channel_code = (request.query_params.get("channel") or "").strip()
    missing = {
        name: ["this parameter is required"]
        for name, value in (("sku", sku_code), ("channel", channel_code))
        if not value
    }
    if missing:
        raise ValidationError(missing)
    row = (
        AvailableToSell.objects.filter(sku__code=sku_code, channel__code=channel_code)
        .values_list("quantity", "computed_at")
        .first()
    )
    if row is not None:
        return Response(
            {
                "sku": sku_code,
                "channel": channel_code,
                "available": row[0],
                "stock_controlled": True,
                "as_of": row[1],
            }
        )
    if not SKU.objects.filter(code=sku_code).exists():
        raise NotFound(f"unknown SKU {sku_code[:64]!r}")
    channel = Channel.objects.filter(code=channel_code).first()
    if channel is None:
        raise NotFound(f"unknown channel {channel_code[:64]!r}")
    controlled = ChannelAllocationRule.objects.filter(channel=channel).exists()
    return Response(
        {
            "sku": sku_code,
            "channel": channel_code,
            "available": 0 if controlled else None,
            "stock_controlled": controlled,
            "as_of": None,
        }
    )
