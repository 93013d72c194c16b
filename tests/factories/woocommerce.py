"""WooCommerce REST v3 order payloads and signed webhook requests, as WooCommerce sends them."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
from datetime import UTC, datetime, timedelta
from typing import Any

from tests.factories.integrations import WOO_SECRET


def woo_order(
    order_id: int = 1001,
    *,
    status: str = "processing",
    modified: datetime | None = None,
    lines: list[tuple[str, int, str]] | None = None,
) -> dict[str, Any]:
    """A WooCommerce order; ``lines`` are (sku, quantity, unit price as string)."""
    modified = modified or datetime(2026, 11, 22, 10, 0, 0, tzinfo=UTC)
    created = modified - timedelta(minutes=1)
    lines = lines or [("NW-TEE-001-BLK-M", 2, "19.95"), ("NW-CAP-002-NAV-OS", 1, "14.50")]
    items = []
    subtotal = 0.0
    for index, (sku, qty, price) in enumerate(lines, start=1):
        line_total = f"{float(price) * qty:.2f}"
        subtotal += float(line_total)
        items.append(
            {
                "id": order_id * 10 + index,
                "name": f"Item {sku}",
                "product_id": 500 + index,
                "variation_id": 0,
                "quantity": qty,
                "tax_class": "",
                "subtotal": line_total,
                "subtotal_tax": f"{float(line_total) * 0.21:.2f}",
                "total": line_total,
                "total_tax": f"{float(line_total) * 0.21:.2f}",
                "taxes": [],
                "meta_data": [],
                "sku": sku,
                "price": float(price),
            }
        )
    tax = round(subtotal * 0.21, 2)
    return {
        "id": order_id,
        "parent_id": 0,
        "number": str(order_id),
        "order_key": f"wc_order_{order_id}",
        "created_via": "checkout",
        "version": "9.4.0",
        "status": status,
        "currency": "EUR",
        "date_created": created.strftime("%Y-%m-%dT%H:%M:%S"),
        "date_created_gmt": created.strftime("%Y-%m-%dT%H:%M:%S"),
        "date_modified": modified.strftime("%Y-%m-%dT%H:%M:%S"),
        "date_modified_gmt": modified.strftime("%Y-%m-%dT%H:%M:%S"),
        "discount_total": "0.00",
        "discount_tax": "0.00",
        "shipping_total": "4.95",
        "shipping_tax": "0.00",
        "cart_tax": f"{tax:.2f}",
        "total": f"{subtotal + tax + 4.95:.2f}",
        "total_tax": f"{tax:.2f}",
        "prices_include_tax": False,
        "customer_id": 0,
        "billing": {
            "first_name": "Anna",
            "last_name": "de Vries",
            "email": "anna@example.com",
            "city": "Utrecht",
            "country": "NL",
        },
        "shipping": {"first_name": "Anna", "last_name": "de Vries", "country": "NL"},
        "payment_method": "stripe",
        "payment_method_title": "Credit card",
        "line_items": items,
        "shipping_lines": [{"id": 1, "method_id": "flat_rate", "total": "4.95"}],
        "meta_data": [],
        "refunds": [],
    }


def signature(body: bytes, secret: str = WOO_SECRET) -> str:
    return base64.b64encode(hmac.new(secret.encode(), body, hashlib.sha256).digest()).decode()


def webhook_headers(
    body: bytes, *, topic: str = "order.created", secret: str | None = WOO_SECRET
) -> dict[str, str]:
    resource, _, event = topic.partition(".")
    headers = {
        "X-WC-Webhook-Source": "https://shop.example.com/",
        "X-WC-Webhook-Topic": topic,
        "X-WC-Webhook-Resource": resource,
        "X-WC-Webhook-Event": event,
        "X-WC-Webhook-ID": "7",
        "X-WC-Webhook-Delivery-ID": hashlib.md5(b"7-1732270000").hexdigest(),
    }
    if secret is not None:
        headers["X-WC-Webhook-Signature"] = signature(body, secret)
    return headers


def body_of(payload: dict[str, Any]) -> bytes:
    return json.dumps(payload).encode()


def store_auth(key: str = "ck_t", secret: str = "cs_t") -> Any:
    """How a client must sign calls to the store over plain http: OAuth 1.0a, as ours does."""
    from integrations.woocommerce.client import SIGNATURE_HMAC_SHA256, WooOAuth1Auth

    return WooOAuth1Auth(
        key, client_secret=secret, signature_method=SIGNATURE_HMAC_SHA256, signature_type="QUERY"
    )
