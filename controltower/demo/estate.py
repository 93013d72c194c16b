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
  from its price list, a closed ledger period for a while, duplicate and out-of-order webhooks,
  and a warehouse that miscounts a few SKUs (drift against the ERP).
- **Stock** (:func:`load_stock`): the WMS and the ERP start with the same opening stock
  (``seed.opening_stock``); the WMS reports a snapshot every ``SNAPSHOT_EVERY_S``, the ERP's
  balances are pulled by Control Tower; the stores' counts come from the POS.
- **Stores** (``tills.Tills``): the POS's ten stores start with a stock count, then ring up sales
  live (split tenders, gift cards), the odd return and void; one store goes offline and uploads
  its day when it is back; now and then a store closes its day (one Z report off by a miscounted
  drawer: an exception with the difference).
- **A price breach** (``prices.PriceBreach``): the ERP's item prices are loaded and pulled
  (``prices.load_prices``); now and then marketing puts a sale price under the policy's floor on
  one product in the store, the next product sync opens *price below floor* with the margin at
  risk, and ops may push the ERP price back from the exception.
- **Flash sales** (:class:`FlashSale`): now and then a burst of web orders for a SKU the web may
  sell only 5 of: what the allocation allows is reserved, the rest are oversells, and the
  storefront is told 0.

The warehouse ships multi-line orders in two parcels; the ERP invoices each; the ledger books
the sales entries in batches.
"""

from __future__ import annotations

import json
import secrets
import time
import urllib.request
import uuid
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from contextlib import suppress
from datetime import date, timedelta
from decimal import Decimal
from typing import Any

from controltower.demo.retailer import (
    DRIFT_SKUS,
    DRIFT_UNITS,
    FLASH_SALE_ORDERS,
    FLASH_SALE_SKUS,
    GATEWAY_CONNECTION,
    POS_CONNECTION,
    SNAPSHOT_EVERY_S,
    WEB_CHANNEL,
    WMS_CONNECTION,
)

GATEWAY_KEY = "sk_test_demo"
WMS_TOKEN = "demo-wms-token"
LEDGER_TOKEN = "demo-ledger-token"
POS_TOKEN = "demo-pos-token"
HOOK_SECRETS = {
    "pos": "demo-pos-webhook-secret",
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
    "pos-simulator": ("integrations.pos.simulator", 8106, ["--token", POS_TOKEN]),
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
    """``seed_demo --system`` arguments for the four systems (and the ERP's webhook secret)."""
    return [
        "--system",
        f"payments={urls['gateway-simulator']},secret_key={GATEWAY_KEY},"
        f"webhook_secret={HOOK_SECRETS['payments']}",
        "--system",
        f"wms={urls['wms-simulator']},token={WMS_TOKEN},warehouse=main,"
        f"webhook_secret={HOOK_SECRETS['wms']}",
        "--system",
        f"finance={urls['ledger-simulator']},token={LEDGER_TOKEN}",
        "--system",
        f"pos={urls['pos-simulator']},token={POS_TOKEN},webhook_secret={HOOK_SECRETS['pos']}",
        "--erp-webhook-secret",
        erp_secret,
    ]


def register_webhooks(urls: dict[str, str], erp_url: str, web_url: str) -> None:
    """Each system's signed webhooks → its connection's endpoint here (idempotent)."""
    for sim_url, kind, slug in (
        (urls["gateway-simulator"], "payments", GATEWAY_CONNECTION),
        (urls["wms-simulator"], "wms", WMS_CONNECTION),
        (erp_url, "erp", "erp-main"),
        (urls["pos-simulator"], "pos", POS_CONNECTION),
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


# --- stock ---------------------------------------------------------------------------------------
def send_task(name: str) -> None:
    """Ask the worker for a task by its name now (what beat would do on its schedule)."""
    from celery import current_app
    from django.conf import settings

    current_app.send_task(name, queue=settings.CELERY_TASK_DEFAULT_QUEUE)


def load_stock(urls: dict[str, str], erp_url: str) -> int:
    """Give the WMS and the ERP the opening stock — the same counts; the ERP with unit costs —
    then have the WMS send a snapshot now and every ``SNAPSHOT_EVERY_S``, and ask for the ERP's
    stock feed now (beat pulls it every ``CT_ERP_STOCK_S`` after). Returns the figures per system.
    """
    from controltower.demo.seed import opening_stock

    rows = opening_stock()
    wms = urls["wms-simulator"]
    sim_call(
        f"{wms}/_sim/stock",
        {"items": [{"sku": r.sku, "location": r.location, "on_hand": r.on_hand} for r in rows]},
    )
    sim_call(
        f"{erp_url}/_sim/stock",
        {
            "items": [
                {
                    "sku": r.sku,
                    "location": r.location,
                    "on_hand": r.on_hand,
                    "unit_cost": str(r.unit_cost),
                }
                for r in rows
            ]
        },
    )
    sim_call(f"{wms}/_sim/config", {"snapshot_every_s": SNAPSHOT_EVERY_S})
    sim_call(f"{wms}/_sim/stock/snapshot", {})
    send_task("erp.pull_stock")
    return len(rows)


def wait_for_stock(expected: int, since: float, *, timeout_s: float = 90.0) -> dict[str, int]:
    """Wait until both feeds have reported ``expected`` figures counted since ``since`` (a Unix
    time); returns how many each has (fewer if it timed out: the demo goes on and beat catches
    up)."""
    from datetime import UTC, datetime

    from django.db import close_old_connections
    from django.db.models import Count

    from controltower.inventory.models import StockPosition

    after = datetime.fromtimestamp(since, UTC) - timedelta(seconds=1)
    deadline = time.monotonic() + timeout_s
    counts: dict[str, int] = {}
    while time.monotonic() < deadline:
        close_old_connections()
        counts = dict(
            StockPosition.objects.filter(reporting_system__in=("wms", "erp"), as_of__gte=after)
            .values_list("reporting_system")
            .annotate(n=Count("id"))
        )
        if all(counts.get(system, 0) >= expected for system in ("wms", "erp")):
            break
        time.sleep(0.5)
    return {system: counts.get(system, 0) for system in ("wms", "erp")}


def first_drift_check() -> dict[str, int]:
    """The full drift check beat runs every ``CT_STOCK_DRIFT_S``, once now: it samples stock
    accuracy, so the executives' stock chart has its first point at once."""
    from controltower.inventory.tasks import check_drift

    return check_drift()


def drifting_warehouse(wms_url: str) -> None:
    """The warehouse starts miscounting a few SKUs (``DRIFT_UNITS`` more than it holds, at every
    DC) and sends a snapshot: its figures no longer agree with the ERP's, and a drift exception
    opens per SKU × location, naming both figures and the difference at cost."""
    sim_call(f"{wms_url}/_sim/faults", {"drift_units": DRIFT_UNITS, "drift_skus": list(DRIFT_SKUS)})
    sim_call(f"{wms_url}/_sim/stock/snapshot", {})


def _flash_buyer(n: int) -> dict[str, str]:
    return {
        "first_name": "Flash",
        "last_name": f"Buyer {n}",
        "email": f"flash.buyer{n}@example.com",
        "address_1": "Oudegracht 12",
        "city": "Utrecht",
        "postcode": "3511 AB",
        "country": "NL",
    }


class FlashSale:
    """Now and then a promotion sends a burst of web orders for one SKU the web may sell only 5 of
    (``FLASH_SALE_SKUS``: 9 on hand at one DC). The shop takes them all before it hears; Control
    Tower reserves what the allocation allows, the rest are oversell exceptions with the quantity
    short, and the storefront is told 0. Some seconds later it says how the sale went."""

    def __init__(
        self,
        woo: Callable[..., Any],
        *,
        every_s: float = 90.0,
        first_after_s: float = 45.0,
        orders: int = FLASH_SALE_ORDERS,
        report_after_s: float = 15.0,
    ) -> None:
        self.woo = woo
        self.every_s = every_s
        self.orders = orders
        self.report_after_s = report_after_s
        self.next_at = time.monotonic() + first_after_s
        self.turn = 0
        self.sale: tuple[str, list[str], float] | None = None  # sku, order numbers, report at

    def _order(self, sku: str, n: int) -> str:
        body = {
            "status": "processing",
            "set_paid": True,
            "payment_method": "stripe",
            "payment_method_title": "Credit card (Stripe)",
            "billing": _flash_buyer(n),
            "line_items": [{"sku": sku, "quantity": 1}],
            "shipping_lines": [
                {"method_id": "flat_rate", "method_title": "Flat rate", "total": "4.95"}
            ],
        }
        return str(self.woo("POST", "/wp-json/wc/v3/orders", body)["number"])

    def start(self) -> str:
        """Place the burst (all at once) for the next flash-sale SKU; what to watch."""
        sku = FLASH_SALE_SKUS[self.turn % len(FLASH_SALE_SKUS)]
        self.turn += 1
        before = web_available(sku)
        with ThreadPoolExecutor(max_workers=self.orders) as pool:
            numbers = list(pool.map(lambda n: self._order(sku, n), range(1, self.orders + 1)))
        self.sale = (sku, numbers, time.monotonic() + self.report_after_s)
        return (
            f"flash sale: {len(numbers)} web orders for {sku} at once, the web may sell "
            f"{before}: watch the oversells under Exceptions and its Stock page"
        )

    def outcome(self, sku: str, numbers: list[str]) -> str:
        """How the sale went: units reserved (and shipped), oversells, what the store shows."""
        from django.db.models import Sum

        from controltower.exceptions.choices import ExceptionType
        from controltower.exceptions.models import OpsException
        from controltower.inventory.models import Reservation, StockPublication
        from controltower.orders.models import Order

        orders = Order.objects.filter(channel__code=WEB_CHANNEL, number__in=numbers)
        held = Reservation.objects.filter(order_line__order__in=orders, location__isnull=False)
        reserved = held.aggregate(n=Sum("quantity"))["n"] or 0
        ids = [str(pk) for pk in orders.values_list("pk", flat=True)]
        oversold = OpsException.objects.filter(
            type=ExceptionType.OVERSELL, subject_type="orders.order", subject_id__in=ids
        ).count()
        shown = (
            StockPublication.objects.filter(sku__code=sku, channel__code=WEB_CHANNEL)
            .values_list("published", flat=True)
            .first()
        )
        return (
            f"flash sale of {sku}: {orders.count()} orders here, {reserved} unit(s) reserved, "
            f"{oversold} oversold; the storefront shows {shown}"
        )

    def tick(self) -> str | None:
        from django.db import close_old_connections

        now = time.monotonic()
        if self.sale is None and now < self.next_at:
            return None
        close_old_connections()
        if self.sale is not None and now >= self.sale[2]:
            sku, numbers, _ = self.sale
            self.sale = None
            return self.outcome(sku, numbers)
        if now < self.next_at:
            return None
        self.next_at += self.every_s
        return self.start()


def web_available(sku: str) -> int:
    """What the web channel may sell of ``sku`` now (0 when nothing was ever available)."""
    from controltower.inventory.models import AvailableToSell

    row = AvailableToSell.objects.filter(sku__code=sku, channel__code=WEB_CHANNEL).first()
    return row.quantity if row else 0


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
        ("wms-drifting-warehouse", 100, lambda: drifting_warehouse(wms)),
    ]


def demo_secret() -> str:
    return secrets.token_hex(8)
