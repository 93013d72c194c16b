"""Orders taken through order to cash by the domain services, at chosen times, for the KPI and
finance page tests (the same steps as tests/controltower/orders/test_lifecycle.py)."""

from __future__ import annotations

from datetime import datetime, timedelta
from decimal import Decimal

from django.utils import timezone

from controltower.catalog.models import SKU, Channel
from controltower.core.context import acting_as
from controltower.core.writepath import service_scope
from controltower.finance.choices import AccountType
from controltower.finance.models import FiscalPeriod, GLAccount, GLMapping, JournalEntry
from controltower.finance.services import DocumentData, DocumentLineData, record_invoice
from controltower.finance.services import record_posting_result as _record_posting_result
from controltower.fulfilment.services import (
    ShipmentData,
    ShipmentLineData,
    record_release,
    record_shipment,
)
from controltower.orders.models import ChannelStatusMapping, Order
from controltower.orders.services import register_order_in_erp, upsert_channel_order
from controltower.payments.choices import PaymentState, PaymentTransactionType
from controltower.payments.services import (
    GatewayPaymentData,
    GatewayTransactionData,
    sync_gateway_payment,
)
from integrations.woocommerce.translate import STATUS_MAPPING, translate_order
from tests.factories.catalog import ChannelFactory, SKUFactory
from tests.factories.woocommerce import woo_order

TEE, CAP = "NW-TEE-001-BLK-M", "NW-CAP-002-NAV-OS"
FEE = Decimal("0.50")


def channel(code: str = "web") -> Channel:
    """A WooCommerce-shaped channel with its status mappings (and the two SKUs orders use)."""
    with service_scope():  # a fixture, built as a service would
        for sku in (TEE, CAP):
            if not SKU.objects.filter(code=sku).exists():
                SKUFactory(code=sku)
        made = ChannelFactory(code=code, name=f"Store {code}")
        for status, state in STATUS_MAPPING.items():
            ChannelStatusMapping.objects.get_or_create(
                channel=made, channel_status=status, defaults={"state": state}
            )
    return made


def accounts(*, method: str = "stripe", tax_codes: tuple[str, ...] = ("STD",)) -> None:
    """GL accounts and mappings for the sales entry, and an open period around today."""
    with service_scope():

        def account(code: str, kind: str) -> GLAccount:
            return GLAccount.objects.create(code=code, name=f"Account {code}", type=kind)

        GLMapping.objects.create(event="gross_sales", account=account("4000", AccountType.REVENUE))
        GLMapping.objects.create(event="discounts", account=account("4010", AccountType.REVENUE))
        GLMapping.objects.create(
            event="shipping_revenue", account=account("4100", AccountType.REVENUE)
        )
        vat = account("2100", AccountType.LIABILITY)
        for code in tax_codes:
            GLMapping.objects.create(event="tax_payable", tax_code=code, account=vat)
        GLMapping.objects.create(
            event="payment_clearing", payment_method=method, account=account("1100", "asset")
        )
        GLMapping.objects.create(
            event="gateway_fees", payment_method=method, account=account("6100", "expense")
        )
        today = timezone.localdate()
        FiscalPeriod.objects.create(
            starts_on=today - timedelta(days=400), ends_on=today + timedelta(days=60)
        )


def place(shop: Channel, number: int, placed_at: datetime) -> Order:
    """The storefront delivers an order placed at ``placed_at`` (accepted: processing)."""
    payload = woo_order(number, modified=placed_at + timedelta(minutes=1))
    data = translate_order(payload, source_system=f"woocommerce:{shop.code}")
    with acting_as("sync.woocommerce"):
        return upsert_channel_order(shop, data).order


def ship(order: Order, shipped_at: datetime) -> Order:
    """Paid, registered in the ERP, released and shipped whole at ``shipped_at``."""
    with acting_as("sync.payments"):
        sync_gateway_payment(
            GatewayPaymentData(
                source_system="gateway",
                external_id=f"pi_{order.pk}",
                order_reference=f"{order.channel.code}-{order.number}",
                state=PaymentState.CAPTURED,
                currency=order.currency,
                amount=order.total_amount,
                authorized=order.total_amount,
                captured=order.total_amount,
                refunded=Decimal(0),
                transactions=[
                    GatewayTransactionData(
                        f"cap_{order.pk}",
                        PaymentTransactionType.CAPTURE,
                        order.total_amount,
                        shipped_at,
                        fee=FEE,
                    )
                ],
            )
        )
    register_order_in_erp(order.pk, erp_reference=f"SO-{order.pk}", connection="erp")
    with acting_as("sync.wms"):
        record_release(order, reference=f"REL-{order.pk}", connection="wms")
        record_shipment(
            order,
            ShipmentData(
                source_system="wms",
                external_id=f"SHP-{order.pk}",
                release_reference=f"REL-{order.pk}",
                carrier="DHL",
                tracking_number=f"JVGL{order.pk}",
                shipped_at=shipped_at,
                lines=[
                    ShipmentLineData(line.line_number, line.sku_code, line.quantity)
                    for line in order.lines.all()
                ],
            ),
        )
    order.refresh_from_db()
    return order


def invoice(order: Order, issued_at: datetime) -> Order:
    """The ERP invoices everything (lines at STD tax, shipping): the posting gate is met."""
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
    line_tax = sum((x.tax for x in lines), Decimal(0))
    ship_tax = order.tax_amount - line_tax
    net = sum((x.net for x in lines), Decimal(0)) + order.shipping_amount
    tax = line_tax + ship_tax
    with acting_as("sync.erp"):
        record_invoice(
            order,
            DocumentData(
                source_system="erp",
                external_id=f"INV-{order.pk}",
                number=f"INV-{order.pk}",
                currency=order.currency,
                net_total=net,
                tax_total=tax,
                total=net + tax,
                issued_at=issued_at,
                lines=lines,
                shipping_net=order.shipping_amount,
                shipping_tax=ship_tax,
                shipping_tax_code="STD",
            ),
        )
    order.refresh_from_db()
    return order


def ledger_answers(order: Order, *, accepted: bool, ledger_id: str = "", reason: str = "") -> None:
    entry = JournalEntry.objects.get(order=order)
    with acting_as("sync.finance"):
        _record_posting_result(entry, accepted=accepted, ledger_id=ledger_id, reason=reason)


def posted(order: Order, ledger_id: str) -> Order:
    ledger_answers(order, accepted=True, ledger_id=ledger_id)
    order.refresh_from_db()
    return order
