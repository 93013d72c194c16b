from __future__ import annotations

from rest_framework import serializers

from controltower.orders.models import Order, OrderLine


class OrderLineSerializer(serializers.ModelSerializer):
    class Meta:
        model = OrderLine
        fields = [
            "line_number",
            "sku_code",
            "name",
            "quantity",
            "quantity_cancelled",
            "quantity_shipped",
            "quantity_backordered",
            "status",
            "currency",
            "unit_price_amount",
            "discount_amount",
            "tax_amount",
            "total_amount",
        ]


class OrderSerializer(serializers.ModelSerializer):
    channel = serializers.SlugRelatedField(slug_field="code", read_only=True)
    lines = OrderLineSerializer(many=True, read_only=True)

    class Meta:
        model = Order
        fields = [
            "id",
            "correlation_id",
            "source_system",
            "external_id",
            "source_updated_at",
            "channel",
            "number",
            "state",
            "channel_status",
            "currency",
            "subtotal_amount",
            "discount_amount",
            "shipping_amount",
            "tax_amount",
            "total_amount",
            "customer_name",
            "customer_email",
            "payment_method",
            "placed_at",
            "state_changed_at",
            "erp_reference",
            "erp_registered_at",
            "created_at",
            "updated_at",
            "lines",
        ]
        read_only_fields = fields
