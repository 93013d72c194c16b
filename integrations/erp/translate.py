"""Canonical order → the ERP's generic JSON sales order (docs/contracts/erp.md)."""

from __future__ import annotations

from typing import Any

from controltower.orders.models import Order


def _amount(value: Any) -> str:
    return f"{value:.4f}"


def sales_order_payload(order: Order) -> dict[str, Any]:
    return {
        "external_ref": f"{order.channel.code}-{order.number}",
        "correlation_id": str(order.correlation_id),
        "channel": order.channel.code,
        "currency": order.currency,
        "customer": {
            "name": order.customer_name,
            "email": order.customer_email,
            "billing_address": order.billing_address,
            "shipping_address": order.shipping_address,
        },
        "lines": [
            {
                "line_number": line.line_number,
                "sku": line.sku_code,
                "name": line.name,
                "quantity": line.quantity - line.quantity_cancelled,
                "unit_price": _amount(line.unit_price_amount),
                "discount": _amount(line.discount_amount),
                "tax": _amount(line.tax_amount),
                "total": _amount(line.total_amount),
            }
            for line in order.lines.all()
            if line.quantity > line.quantity_cancelled
        ],
        "shipping": _amount(order.shipping_amount),
        "tax": _amount(order.tax_amount),
        "total": _amount(order.total_amount),
        "placed_at": order.placed_at.isoformat(),
    }
