from __future__ import annotations

from rest_framework import serializers

from controltower.returns.models import Refund, RefundLine


class RefundLineSerializer(serializers.ModelSerializer):
    line_number = serializers.IntegerField(source="order_line.line_number", read_only=True)
    sku_code = serializers.CharField(source="order_line.sku_code", read_only=True)

    class Meta:
        model = RefundLine
        fields = ["line_number", "sku_code", "quantity", "currency", "amount", "tax_amount"]
        read_only_fields = fields


class RefundSerializer(serializers.ModelSerializer):
    order_number = serializers.CharField(source="order.number", read_only=True)
    lines = RefundLineSerializer(many=True, read_only=True)

    class Meta:
        model = Refund
        fields = [
            "id",
            "correlation_id",
            "source_system",
            "external_id",
            "order",
            "order_number",
            "state",
            "currency",
            "amount",
            "tax_amount",
            "reason",
            "details_fetched_at",
            "created_at",
            "updated_at",
            "lines",
        ]
        read_only_fields = fields
