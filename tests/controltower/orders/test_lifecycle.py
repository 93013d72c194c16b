"""Order to cash through the domain services: payment → ERP → release → partial and full
shipment → invoices → the gated sales entry → posted; and the steps that are refused."""

from __future__ import annotations

from datetime import UTC, date, datetime
from decimal import Decimal

import pytest

from controltower.catalog.models import Channel
from controltower.core.context import acting_as
from controltower.core.errors import NotYet
from controltower.exceptions.models import OpsException
from controltower.finance.choices import AccountType, JournalState
from controltower.finance.models import FiscalPeriod, GLAccount, GLMapping, JournalEntry
from controltower.finance.services import (
    DocumentData,
    DocumentLineData,
    record_invoice,
    record_posting_result,
)
from controltower.fulfilment.services import (
    ShipmentData,
    ShipmentLineData,
    record_release,
    record_shipment,
)
from controltower.orders.choices import FulfilmentStatus, OrderStage, PostingStatus, WaitingOn
from controltower.orders.models import Order
from controltower.orders.services import register_order_in_erp, upsert_channel_order
from controltower.payments.choices import PaymentState, PaymentTransactionType
from controltower.payments.services import (
    GatewayPaymentData,
    GatewayTransactionData,
    sync_gateway_payment,
)
from integrations.woocommerce.translate import translate_order
from tests.factories.catalog import SKUFactory
from tests.factories.integrations import web_channel
from tests.factories.woocommerce import woo_order

T0 = datetime(2026, 11, 22, 10, 0, tzinfo=UTC)
TEE, CAP = "NW-TEE-001-BLK-M", "NW-CAP-002-NAV-OS"


@pytest.fixture
def order(db: None) -> Order:
    SKUFactory(code=TEE)
    SKUFactory(code=CAP)
    channel = web_channel()
    data = translate_order(woo_order(1001, modified=T0), source_system="woocommerce:woo-web")
    with acting_as("sync.woocommerce"):
        return upsert_channel_order(channel, data).order


def _accounts(channel: Channel, *, tax_codes: set[str], method: str) -> None:
    def account(code: str, kind: str) -> GLAccount:
        return GLAccount.objects.create(code=code, name=code, type=kind)

    GLMapping.objects.create(event="gross_sales", account=account("4000", AccountType.REVENUE))
    GLMapping.objects.create(event="discounts", account=account("4010", AccountType.REVENUE))
    GLMapping.objects.create(event="shipping_revenue", account=account("4100", AccountType.REVENUE))
    vat = account("2100", AccountType.LIABILITY)
    for code in tax_codes:
        GLMapping.objects.create(event="tax_payable", tax_code=code, account=vat)
    GLMapping.objects.create(
        event="payment_clearing", payment_method=method, account=account("1100", AccountType.ASSET)
    )
    GLMapping.objects.create(
        event="gateway_fees", payment_method=method, account=account("6100", AccountType.EXPENSE)
    )
    FiscalPeriod.objects.create(starts_on=date(2026, 1, 1), ends_on=date(2026, 12, 31))


def _pay(order: Order, amount: Decimal, *, fee: Decimal = Decimal("0.50")) -> None:
    sync_gateway_payment(
        GatewayPaymentData(
            source_system="gateway",
            external_id="pi_1",
            order_reference=f"{order.channel.code}-{order.number}",
            state=PaymentState.CAPTURED,
            currency=order.currency,
            amount=amount,
            authorized=amount,
            captured=amount,
            refunded=Decimal(0),
            transactions=[
                GatewayTransactionData("cap_1", PaymentTransactionType.CAPTURE, amount, T0, fee=fee)
            ],
        )
    )


def _ship(order: Order, ref: str, lines: dict[int, int]):
    held = {line.line_number: line for line in order.lines.all()}
    return record_shipment(
        order,
        ShipmentData(
            source_system="wms",
            external_id=ref,
            release_reference="REL-1",
            carrier="DHL",
            tracking_number=f"JVGL{ref}",
            shipped_at=T0,
            lines=[
                ShipmentLineData(n, held[n].sku_code if n in held else "X", q)
                for n, q in lines.items()
            ],
        ),
    )


def _invoice(order: Order, ref: str, numbers: list[int], *, shipping: bool) -> None:
    lines = []
    for line in order.lines.filter(line_number__in=numbers):
        net = line.total_amount  # the channel's line total is after discount, before tax
        lines.append(
            DocumentLineData(
                line.line_number,
                line.sku_code,
                line.quantity,
                line.unit_price_amount,
                line.discount_amount,
                net,
                line.tax_amount,
                "STD",
                net + line.tax_amount,
            )
        )
    ship_net = order.shipping_amount if shipping else Decimal(0)
    line_tax = sum(order.lines.values_list("tax_amount", flat=True), Decimal(0))
    ship_tax = order.tax_amount - line_tax if shipping else Decimal(0)
    net = sum((x.net for x in lines), Decimal(0)) + ship_net
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
            shipping_net=ship_net,
            shipping_tax=ship_tax,
            shipping_tax_code="STD",
        ),
    )


@pytest.mark.django_db
def test_order_to_cash_runs_from_payment_to_posted(order: Order) -> None:
    # given
    _accounts(order.channel, tax_codes={"STD"}, method=order.payment_method)
    assert (order.stage, order.waiting_on) == (OrderStage.ACCEPTED, WaitingOn.GATEWAY)
    # when the gateway captures, the ERP registers, the WMS releases and ships in two parcels
    with acting_as("sync.payments"):
        _pay(order, order.total_amount)
    order.refresh_from_db()
    assert (order.stage, order.waiting_on) == (OrderStage.PAYMENT_CAPTURED, WaitingOn.ERP)
    register_order_in_erp(order.pk, erp_reference="SO-1", connection="erp")
    order.refresh_from_db()
    assert order.fulfilment_status == FulfilmentStatus.RELEASE_REQUESTED
    assert (order.stage, order.waiting_on) == (OrderStage.REGISTERED, WaitingOn.WMS)
    with acting_as("sync.wms"):
        record_release(order, reference="REL-1", connection="wms")
        numbers = sorted(order.lines.values_list("line_number", flat=True))
        _ship(order, "SHP-1", {numbers[0]: order.lines.get(line_number=numbers[0]).quantity})
    order.refresh_from_db()
    expected_partial = OrderStage.PARTIALLY_SHIPPED if len(numbers) > 1 else OrderStage.SHIPPED
    assert order.stage == expected_partial
    with acting_as("sync.wms"):
        for n in numbers[1:]:
            _ship(order, f"SHP-{n}", {n: order.lines.get(line_number=n).quantity})
    order.refresh_from_db()
    assert (order.stage, order.waiting_on) == (OrderStage.SHIPPED, WaitingOn.ERP)
    # and the ERP invoices each shipment
    with acting_as("sync.erp"):
        _invoice(order, "INV-1", numbers[:1], shipping=True)
        if numbers[1:]:
            _invoice(order, "INV-2", numbers[1:], shipping=False)
    # then the sales entry is built, balanced, and queued for the ledger
    order.refresh_from_db()
    problem = OpsException.objects.filter(dedupe_key__startswith="posting").first()
    assert order.posting_status == PostingStatus.QUEUED, problem and problem.detail
    assert (order.stage, order.waiting_on) == (OrderStage.INVOICED, WaitingOn.LEDGER)
    entry = JournalEntry.objects.get(order=order)
    debits = sum(line.debit_amount for line in entry.lines.all())
    credits = sum(line.credit_amount for line in entry.lines.all())
    assert debits == credits == order.total_amount + Decimal("0.50") + order.discount_amount
    # when the ledger accepts it
    with acting_as("sync.finance"):
        record_posting_result(entry, accepted=True, ledger_id="JE-1")
    order.refresh_from_db()
    entry.refresh_from_db()
    assert (entry.state, entry.ledger_id) == (JournalState.POSTED, "JE-1")
    assert (order.stage, order.waiting_on) == (OrderStage.POSTED, WaitingOn.STOREFRONT)


@pytest.mark.django_db
def test_missing_gl_mapping_blocks_the_posting_naming_what_is_missing(order: Order) -> None:
    # given mappings for a tax code the order does not use
    _accounts(order.channel, tax_codes={"RED"}, method=order.payment_method)
    with acting_as("sync.payments"):
        _pay(order, order.total_amount)
    register_order_in_erp(order.pk, erp_reference="SO-1", connection="erp")
    numbers = sorted(order.lines.values_list("line_number", flat=True))
    with acting_as("sync.wms"):
        record_release(order, reference="REL-1", connection="wms")
        _ship(order, "SHP-1", {n: order.lines.get(line_number=n).quantity for n in numbers})
    # when
    with acting_as("sync.erp"):
        _invoice(order, "INV-1", numbers, shipping=True)
    # then
    order.refresh_from_db()
    assert (order.posting_status, order.waiting_on) == (PostingStatus.BLOCKED, WaitingOn.PEOPLE)
    problem = OpsException.objects.get(dedupe_key=f"posting:{order.pk}:blocked")
    assert "no GL mapping for tax payable for tax code STD" in problem.detail
    assert not JournalEntry.objects.filter(order=order).exists()


@pytest.mark.django_db
def test_shipment_for_an_unreleased_order_is_refused_and_nothing_applied(order: Order) -> None:
    # given an order never released
    numbers = sorted(order.lines.values_list("line_number", flat=True))
    # when
    with acting_as("sync.wms"):
        shipment = _ship(order, "SHP-X", {numbers[0]: 1})
    # then
    order.refresh_from_db()
    assert shipment is None
    assert order.fulfilment_status == FulfilmentStatus.UNRELEASED
    assert all(line.quantity_shipped == 0 for line in order.lines.all())
    problem = OpsException.objects.get(dedupe_key="shipment:wms:SHP-X")
    assert "never released to the warehouse" in problem.detail


@pytest.mark.django_db
def test_shipment_for_more_than_ordered_is_refused(order: Order) -> None:
    # given
    with acting_as("sync.payments"):
        _pay(order, order.total_amount)
    register_order_in_erp(order.pk, erp_reference="SO-1", connection="erp")
    with acting_as("sync.wms"):
        record_release(order, reference="REL-1", connection="wms")
        line = order.lines.order_by("line_number").first()
        # when
        shipment = _ship(order, "SHP-9", {line.line_number: line.quantity + 1})
    # then
    assert shipment is None
    problem = OpsException.objects.get(dedupe_key="shipment:wms:SHP-9")
    assert f"only {line.quantity} of {line.quantity} is left to ship" in problem.detail


@pytest.mark.django_db
def test_payment_in_another_currency_is_refused_and_for_another_amount_flagged(
    order: Order,
) -> None:
    # when the amount differs
    with acting_as("sync.payments"):
        _pay(order, order.total_amount - Decimal("1.00"))
    # then it is applied and flagged
    problem = OpsException.objects.get(type="payment_mismatch")
    assert f"the order totals {order.total_amount:.2f}" in problem.detail


@pytest.mark.django_db
def test_payment_for_an_unknown_order_waits() -> None:
    with pytest.raises(NotYet, match="no order 'web-9999' yet"):
        sync_gateway_payment(
            GatewayPaymentData(
                source_system="gateway",
                external_id="pi_9",
                order_reference="web-9999",
                state=PaymentState.CAPTURED,
                currency="EUR",
                amount=Decimal(1),
                authorized=Decimal(1),
                captured=Decimal(1),
                refunded=Decimal(0),
            )
        )
