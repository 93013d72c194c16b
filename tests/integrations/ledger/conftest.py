"""Ledger fixtures: the simulator over real HTTP, a ledger connection, and journal entries —
sales entries built by the domain from a whole order (pay, register, ship, invoice), and plain
balanced entries in bulk for the batching tests."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, date, datetime
from decimal import Decimal
from typing import Any

import httpx
import pytest

from controltower.catalog.choices import SystemKind
from controltower.catalog.models import SKU
from controltower.core.context import acting_as
from controltower.core.writepath import service_scope
from controltower.finance.choices import AccountType, PeriodStatus
from controltower.finance.models import (
    FiscalPeriod,
    GLAccount,
    GLMapping,
    JournalEntry,
    JournalLine,
)
from controltower.finance.services import DocumentData, DocumentLineData, record_invoice
from controltower.fulfilment.services import (
    ShipmentData,
    ShipmentLineData,
    record_release,
    record_shipment,
)
from controltower.orders.models import Order
from controltower.orders.services import register_order_in_erp, upsert_channel_order
from controltower.payments.choices import PaymentState, PaymentTransactionType
from controltower.payments.services import (
    GatewayPaymentData,
    GatewayTransactionData,
    sync_gateway_payment,
)
from integrations.ledger.simulator import LedgerSimulator
from integrations.runtime.models import Connection
from integrations.woocommerce.translate import translate_order
from tests.factories.catalog import SKUFactory
from tests.factories.integrations import web_channel
from tests.factories.woocommerce import woo_order

LEDGER_TOKEN = "test-ledger-token"
T0 = datetime(2026, 11, 22, 10, 0, tzinfo=UTC)
NOVEMBER = (date(2026, 11, 1), date(2026, 11, 30))
TEE, CAP = "NW-TEE-001-BLK-M", "NW-CAP-002-NAV-OS"
# The demo chart's codes (controltower/demo/retailer.py), which the simulator also seeds.
MAPPINGS = {
    "gross_sales": ("4000", AccountType.REVENUE),
    "discounts": ("4100", AccountType.REVENUE),
    "shipping_revenue": ("4200", AccountType.REVENUE),
    "tax_payable": ("2100", AccountType.LIABILITY),
    "payment_clearing": ("1100", AccountType.ASSET),
    "gateway_fees": ("6100", AccountType.EXPENSE),
}


@pytest.fixture
def ledger_simulator() -> Iterator[LedgerSimulator]:
    sim = LedgerSimulator(token=LEDGER_TOKEN, today=date(2026, 11, 22)).serve_in_thread()
    try:
        yield sim
    finally:
        sim.shutdown()


def sim_post(sim: LedgerSimulator, path: str, body: Any = None) -> httpx.Response:
    return httpx.post(f"{sim.url}{path}", json=body if body is not None else {})


def sim_get(sim: LedgerSimulator, path: str, **params: str) -> Any:
    response = httpx.get(
        f"{sim.url}{path}", params=params, headers={"Authorization": f"Bearer {LEDGER_TOKEN}"}
    )
    assert response.status_code == 200, response.text
    return response.json()


def ledger_connection(*, base_url: str, slug: str = "ledger-main", **extra: Any) -> Connection:
    extra.setdefault("timeout_s", 2)
    connection = Connection(
        slug=slug, name="General ledger", kind=SystemKind.FINANCE, base_url=base_url, **extra
    )
    connection.set_credentials({"token": LEDGER_TOKEN})
    connection.save()
    return connection


def books(*, period_status: str = PeriodStatus.OPEN) -> None:
    """The posting rules on the demo chart and an open November 2026."""
    with service_scope():
        for event, (code, kind) in MAPPINGS.items():
            account, _ = GLAccount.objects.get_or_create(
                code=code, defaults={"name": code, "type": kind}
            )
            GLMapping.objects.get_or_create(event=event, defaults={"account": account})
        FiscalPeriod.objects.get_or_create(
            legal_entity="default",
            starts_on=NOVEMBER[0],
            defaults={"ends_on": NOVEMBER[1], "status": period_status},
        )


def sales_entry(number: int = 1001) -> JournalEntry:
    """An order taken all the way to its sales entry by the domain services: captured with a
    0.50 fee, registered, released, shipped and invoiced; the entry is queued for the ledger."""
    for code in (TEE, CAP):
        if not SKU.objects.filter(code=code).exists():
            SKUFactory(code=code)
    books()
    channel = web_channel()
    data = translate_order(woo_order(number, modified=T0), source_system="woocommerce:woo-web")
    with acting_as("sync.woocommerce"):
        order = upsert_channel_order(channel, data).order
    with acting_as("sync.payments"):
        sync_gateway_payment(
            GatewayPaymentData(
                source_system="gateway",
                external_id=f"pi_{number}",
                order_reference=f"{order.channel.code}-{order.number}",
                state=PaymentState.CAPTURED,
                currency=order.currency,
                amount=order.total_amount,
                authorized=order.total_amount,
                captured=order.total_amount,
                refunded=Decimal(0),
                transactions=[
                    GatewayTransactionData(
                        f"cap_{number}",
                        PaymentTransactionType.CAPTURE,
                        order.total_amount,
                        T0,
                        fee=Decimal("0.50"),
                    )
                ],
            )
        )
    register_order_in_erp(order.pk, erp_reference=f"SO-{number}", connection="erp")
    order.refresh_from_db()
    with acting_as("sync.wms"):
        record_release(order, reference=f"REL-{number}", connection="wms")
        record_shipment(
            order,
            ShipmentData(
                source_system="wms",
                external_id=f"SHP-{number}",
                release_reference=f"REL-{number}",
                carrier="DHL",
                tracking_number=f"JVGL{number}",
                shipped_at=T0,
                lines=[
                    ShipmentLineData(line.line_number, line.sku_code, line.quantity)
                    for line in order.lines.all()
                ],
            ),
        )
    with acting_as("sync.erp"):
        _invoice(order, f"INV-{number}")
    return JournalEntry.objects.get(order=order)


def _invoice(order: Order, ref: str) -> None:
    lines = [
        DocumentLineData(
            line.line_number,
            line.sku_code,
            line.quantity,
            line.unit_price_amount,
            line.discount_amount,
            line.total_amount,
            line.tax_amount,
            "STD",
            line.total_amount + line.tax_amount,
        )
        for line in order.lines.all()
    ]
    ship_tax = order.tax_amount - sum((x.tax for x in lines), Decimal(0))
    net = sum((x.net for x in lines), Decimal(0)) + order.shipping_amount
    tax = sum((x.tax for x in lines), Decimal(0)) + ship_tax
    record_invoice(
        order,
        DocumentData(
            source_system="erp",
            external_id=ref,
            number=ref,
            currency=order.currency,
            net_total=net,
            tax_total=tax,
            total=net + tax,
            issued_at=T0,
            lines=lines,
            shipping_net=order.shipping_amount,
            shipping_tax=ship_tax,
            shipping_tax_code="STD",
        ),
    )


def plain_entries(count: int, *, amount: Decimal = Decimal("10.00")) -> list[JournalEntry]:
    """``count`` queued, balanced entries without an order (Dr 1100 / Cr 4000), as a fixture."""
    books()
    period = FiscalPeriod.objects.get(legal_entity="default", starts_on=NOVEMBER[0])
    clearing = GLAccount.objects.get(code="1100")
    sales = GLAccount.objects.get(code="4000")
    entries = []
    with service_scope():
        for index in range(count):
            entry = JournalEntry.objects.create(
                period=period,
                entry_date=date(2026, 11, 22),
                external_id=f"test:{index}",
                description=f"test entry {index}",
                currency="EUR",
                total_amount=amount,
            )
            JournalLine.objects.create(
                entry=entry, account=clearing, currency="EUR", debit_amount=amount
            )
            JournalLine.objects.create(
                entry=entry, account=sales, currency="EUR", credit_amount=amount
            )
            entries.append(entry)
    return entries
