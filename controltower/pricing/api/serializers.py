from __future__ import annotations

from rest_framework import serializers

from controltower.api.fields import ReasonField
from controltower.pricing.models import PricePush


class PricePushSerializer(serializers.ModelSerializer):
    sku = serializers.CharField(source="sku.code", read_only=True)
    channel = serializers.CharField(source="channel.code", read_only=True)
    requested_by = serializers.CharField(source="requested_by.username", default=None)

    class Meta:
        model = PricePush
        fields = [
            "id",
            "sku",
            "channel",
            "exception",
            "regular_price_amount",
            "currency",
            "tax_class",
            "state",
            "requested_by",
            "reason",
            "answer",
            "answered_at",
            "correlation_id",
            "created_at",
        ]
        read_only_fields = fields


class PricePushRequestSerializer(serializers.Serializer):
    exception = serializers.IntegerField(min_value=1, help_text="a price-policy exception's id")
    reason = ReasonField()
