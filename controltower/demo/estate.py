"""The rest of the demo retailer's estate, driven: the gateway, the warehouse and the ledger.

``make demo`` starts each simulator (``SIMULATORS``), connects it (``seed_args``), points its
signed webhooks at Control Tower (``register_webhooks``) and then, every tick, plays what the
other side of each system would do:

- **Checkout** (:class:`Checkout`): every new web order is paid at the gateway the way the
  storefront's payment plugin pays it — card orders captured at once, pay-after-delivery
  (Klarna) orders only authorized (Control Tower captures them as they ship), bank transfers not
  at the gateway at all. A few pay-after-delivery orders are placed through the store's REST API
  so that flow can be watched too.
- **Cancellations at different stages** (:class:`Cancellations`): now and then ops cancels a
  freshly registered order (its release is withdrawn, its payment voided), the ERP cancels one by
  itself (credit block), and a shipped one is cancelled too late (an exception says what
  remains).
- **Faults** (:func:`estate_chaos`): a short pick at the warehouse, a gateway fee that differs
  from its price list, a closed ledger period for a while, duplicate and out-of-order webhooks.

The warehouse ships multi-line orders in two parcels; the ERP invoices each; the ledger books
the sales entries in batches.
"""

from __future__ import annotations

import json
import secrets
import urllib.request
import uuid
from collections.abc import Callable
from contextlib import suppress
from datetime import date
from decimal import Decimal
from typing import Any

from controltower.demo.retailer import (
    GATEWAY_CONNECTION,
    WEB_CHANNEL,
    WMS_CONNECTION,
)

GATEWAY_KEY = "sk_test_demo"
WMS_TOKEN = "demo-wms-token"
LEDGER_TOKEN = "demo-ledger-token"
HOOK_SECRETS = {
    "payments": "demo-gateway-webhook-secret",
    "wms": "demo-wms-webhook-secret",
    "erp": "demo-erp-webhook-secret",
}
CAPTURE = {"stripe": "automatic", "klarna": "manual"}  # bacs: paid outside the gateway

# name → (module, default port, its own auth arguments)
SIMULATORS = {
    "gateway-simulator": ("integrations.payments.simulator", 8103, ["--secret-key", GATEWAY_KEY]),
    "wms-simulator": ("integrations.wms.simulator", 8104, ["--token", WMS_TOKEN]),
    "ledger-simulator": ("integrations.ledger.simulator", 8105, ["--token", LEDGER_TOKEN]),
}


def sim_call(url: str, body: Any = None, *, method: str | None = None) -> Any:
    data = None if body is None else json.dumps(body).encode()
    request = urllib.request.Request(
        url,
        data=data,
        method=method or ("POST" if data is not None else "GET"),
        headers={"Content-Type": "application/json"},
    )
    with urllib.request.urlopen(request, timeout=10) as response:
        raw = response.read()
    return json.loads(raw) if raw else None


def seed_args(urls: dict[str, str], erp_secret: str = HOOK_SECRETS["erp"]) -> list[str]:
    """``seed_demo --system`` arguments for the three systems (and the ERP's webhook secret)."""
    return [
        "--system",
        f"payments={urls['gateway-simulator']},secret_key={GATEWAY_KEY},"
        f"webhook_secret={HOOK_SECRETS['payments']}",
        "--system",
        f"wms={urls['wms-simulator']},token={WMS_TOKEN},warehouse=main,"
        f"webhook_secret={HOOK_SECRETS['wms']}",
        "--system",
        f"finance={urls['ledger-simulator']},token={LEDGER_TOKEN}",
        "--erp-webhook-secret",
        erp_secret,
    ]


def register_webhooks(urls: dict[str, str], erp_url: str, web_url: str) -> None:
    """Each system's signed webhooks → its connection's endpoint here (idempotent)."""
    for sim_url, kind, slug in (
        (urls["gateway-simulator"], "payments", GATEWAY_CONNECTION),
        (urls["wms-simulator"], "wms", WMS_CONNECTION),
        (erp_url, "erp", "erp-main"),
    ):
        target = f"{web_url}/hooks/{kind}/{slug}/"
        held = sim_call(f"{sim_url}/_sim/webhook_endpoints") or []
        held = held.get("results", held) if isinstance(held, dict) else held
        if not any(endpoint.get("url") == target for endpoint in held):
            sim_call(
                f"{sim_url}/_sim/webhook_endpoints", {"url": target, "secret": HOOK_SECRETS[kind]}
            )
    # The warehouse ships a multi-line order in two parcels, a moment apart.
    sim_call(
        f"{urls['wms-simulator']}/_sim/config",
        {"split_shipments": True, "pick_after_s": 2, "pack_after_s": 2, "ship_after_s": 3},
    )


def minor_units(total: str) -> int:
    return int((Decimal(total) * 100).to_integral_value())


class Checkout:
    """Pays each new web order at the gateway, as the storefront's checkout would have."""

    def __init__(self, woo: Callable[..., Any], gateway_url: str) -> None:
        self.woo = woo
        self.gateway_url = gateway_url
        self.paid: set[int] = set()
        self.klarna_every = 6  # one web order in six is placed as pay-after-delivery
        self.ticks = 0

    def _place_klarna_order(self, template: dict[str, Any]) -> None:
        items = [
            {"sku": item["sku"], "quantity": item["quantity"]}
            for item in template.get("line_items") or []
            if item.get("sku")
        ]
        if not items:
            return
        self.woo(
            "POST",
            "/wp-json/wc/v3/orders",
            {
                "status": "processing",
                "payment_method": "klarna",
                "payment_method_title": "Pay after delivery (Klarna)",
                "billing": template.get("billing") or {},
                "shipping": template.get("shipping") or {},
                "line_items": items,
                "shipping_lines": [
                    {"method_id": "flat_rate", "method_title": "Flat rate", "total": "4.95"}
                ],
            },
        )

    def tick(self) -> int:
        self.ticks += 1
        recent = self.woo("GET", "/wp-json/wc/v3/orders?per_page=50") or []
        paid = 0
        for order in recent:
            if order["id"] in self.paid or order.get("status") not in ("processing", "completed"):
                continue
            self.paid.add(order["id"])
            method = CAPTURE.get(order.get("payment_method") or "")
            if method is None:
                continue
            with suppress(OSError, ValueError):
                sim_call(
                    f"{self.gateway_url}/_sim/checkout",
                    {
                        "order_ref": f"{WEB_CHANNEL}-{order['number']}",
                        "correlation_id": str(uuid.uuid4()),
                        "amount": minor_units(order["total"]),
                        "currency": order["currency"].lower(),
                        "capture_method": method,
                    },
                )
                paid += 1
        if recent and self.ticks % (self.klarna_every * 5) == 0:
            with suppress(OSError, ValueError):
                self._place_klarna_order(recent[0])
        return paid


class Cancellations:
    """Ops cancels a registered order now and then; the ERP cancels one by itself; a shipped one
    is cancelled too late. Each says on the demo's output what to look for."""

    def __init__(self, erp_url: str, *, every_s: float = 40.0) -> None:
        self.erp_url = erp_url
        self.every_s = every_s
        self.turn = 0

    def run(self) -> str | None:
        from controltower.orders.choices import OrderStage
        from controltower.orders.models import Order
        from controltower.orders.services import cancel_order

        self.turn += 1
        kind = ("ops-registered", "erp", "ops-shipped")[self.turn % 3]
        stages = {
            "ops-registered": [OrderStage.REGISTERED, OrderStage.RELEASED],
            "erp": [OrderStage.REGISTERED, OrderStage.PAYMENT_CAPTURED],
            "ops-shipped": [OrderStage.SHIPPED, OrderStage.INVOICED],
        }[kind]
        order = Order.objects.filter(stage__in=stages).order_by("-id").first()
        if order is None:
            return None
        if kind == "erp":
            if not order.erp_reference:
                return None
            sim_call(
                f"{self.erp_url}/_sim/sales-orders/{order.erp_reference}/cancel",
                {"reason": "credit block"},
            )
            return f"the ERP cancelled {order} by itself (credit block): watch its compensations"
        from django.contrib.auth import get_user_model

        person = get_user_model().objects.filter(username="ops").first()
        try:
            cancel_order(order, actor=person, reason=f"demo: customer asked ({order.stage})")
        except Exception as exc:  # refused (already shipped): that is the point of the third
            return f"ops tried to cancel {order} ({order.stage}): {exc}"
        return f"ops cancelled {order} at stage {order.stage}: void/refund and withdrawals follow"


def estate_chaos(urls: dict[str, str]) -> list[tuple[str, float, Callable[[], Any]]]:
    """(name, seconds into the demo, action) for each system's particular faults."""
    gateway, wms, ledger = (
        urls[k] for k in ("gateway-simulator", "wms-simulator", "ledger-simulator")
    )
    month = date.today().strftime("%Y-%m")
    return [
        ("wms-short-pick", 30, lambda: sim_call(f"{wms}/_sim/faults", {"short_pick_next": 1})),
        (
            "gateway-fee-variance",
            50,
            lambda: sim_call(f"{gateway}/_sim/faults", {"fee_variance_bps": 40}),
        ),
        (
            "wms-duplicate-webhooks",
            70,
            lambda: sim_call(f"{wms}/_sim/faults", {"duplicate_webhooks": 3}),
        ),
        (
            "gateway-shuffled-webhooks",
            80,
            lambda: sim_call(f"{gateway}/_sim/faults", {"shuffle_webhooks": True}),
        ),
        ("ledger-period-closed", 90, lambda: sim_call(f"{ledger}/_sim/periods/{month}/close", {})),
        (
            "ledger-period-reopened",
            120,
            lambda: sim_call(f"{ledger}/_sim/periods/{month}/open", {}),
        ),
        ("ledger-503", 140, lambda: sim_call(f"{ledger}/_sim/faults", {"fail_next": 2})),
    ]


def demo_secret() -> str:
    return secrets.token_hex(8)
