"""One web order taken through order to cash by the domain services, a step per function, as each
owning system would report it: the storefront accepts it, the gateway pays it, the ERP registers
it, the warehouse releases and ships it, the ERP invoices it — and the GL books that post it.

Every step goes through the same service its connector calls, under that connector's service
user, so a test's order is one the product could have made. The defaults are those most tests
use (order 1001 of 2 tees and a cap, 70.77 EUR, at ``T0``; references derived from the order
number); a test that means something else says so with a keyword, and a test whose set-up is
the point (hostile data, a wrong amount) builds its own."""

from __future__ import annotations

from datetime import UTC, date, datetime
from decimal import Decimal

from controltower.catalog.choices import CaptureMode
from controltower.catalog.models import SKU, Channel, PaymentMethod
from controltower.core.context import acting_as
from controltower.core.writepath import service_scope
from controltower.finance.choices import AccountType, PeriodStatus, PostingEvent
from controltower.finance.models import FiscalPeriod, GLAccount, GLMapping
from controltower.finance.services import DocumentData, DocumentLineData, record_invoice
from controltower.fulfilment.models import Shipment
from controltower.fulfilment.services import (
    ShipmentData,
    ShipmentLineData,
    record_release,
    record_shipment,
)
from controltower.orders.choices import OrderStage
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
FEE = Decimal("0.50")  # what the gateway keeps of a capture, when a test books it
YEAR_2026 = (date(2026, 1, 1), date(2026, 12, 31))  # holds T0
# The demo chart's codes (controltower/demo/retailer.py), which the ledger simulator also seeds.
CHART: dict[str, tuple[str, str]] = {
    PostingEvent.GROSS_SALES: ("4000", AccountType.REVENUE),
    PostingEvent.DISCOUNTS: ("4100", AccountType.REVENUE),
    PostingEvent.SHIPPING_REVENUE: ("4200", AccountType.REVENUE),
    PostingEvent.TAX_PAYABLE: ("2100", AccountType.LIABILITY),
    PostingEvent.PAYMENT_CLEARING: ("1100", AccountType.ASSET),
    PostingEvent.GATEWAY_FEES: ("6100", AccountType.EXPENSE),
}


def web_order(
    number: int = 1001,
    *,
    lines: list[tuple[str, int, str]] | None = None,
    status: str = "processing",
    modified: datetime = T0,
    channel: Channel | None = None,
) -> Order:
    """The storefront delivers WooCommerce order ``number`` (``lines`` as for ``woo_order``);
    accepted while ``processing``. The SKUs it names exist first, as the catalogue sync would
    have made them."""
    for code in [sku for sku, _, _ in lines] if lines else [TEE, CAP]:
        if not SKU.objects.filter(code=code).exists():
            SKUFactory(code=code)
    shop = channel or web_channel()
    payload = woo_order(number, status=status, modified=modified, lines=lines)
    data = translate_order(payload, source_system=f"woocommerce:woo-{shop.code}")
    with acting_as("sync.woocommerce"):
        return upsert_channel_order(shop, data).order


def pay(
    order: Order,
    amount: Decimal | None = None,
    *,
    fee: Decimal = Decimal(0),
    capture: bool = True,
    intent: str = "",
    at: datetime = T0,
) -> Order:
    """The gateway reports the order's payment: captured (``fee`` kept), or only authorized
    with ``capture=False``. ``amount`` defaults to the order's total; another amount is the
    gateway disagreeing with the store. ``intent`` is the gateway's id (``pi_<number>``)."""
    amount = order.total_amount if amount is None else amount
    intent = intent or f"pi_{order.number}"
    kind = PaymentTransactionType.CAPTURE if capture else PaymentTransactionType.AUTHORIZE
    with acting_as("sync.payments"):
        sync_gateway_payment(
            GatewayPaymentData(
                source_system="gateway",
                external_id=intent,
                order_reference=f"{order.channel.code}-{order.number}",
                state=PaymentState.CAPTURED if capture else PaymentState.AUTHORIZED,
                currency=order.currency,
                amount=amount,
                authorized=amount,
                captured=amount if capture else Decimal(0),
                refunded=Decimal(0),
                transactions=[
                    GatewayTransactionData(
                        f"{'cap' if capture else 'auth'}_{order.number}",
                        kind,
                        amount,
                        at,
                        fee=fee if capture else Decimal(0),
                    )
                ],
            )
        )
    return Order.objects.get(pk=order.pk)


def register(order: Order, reference: str = "", *, connection: str = "erp") -> Order:
    """The ERP acknowledges the sales order (``SO-<number>``) on ``connection``."""
    with acting_as("sync.erp"):
        register_order_in_erp(
            order.pk, erp_reference=reference or f"SO-{order.number}", connection=connection
        )
    return Order.objects.get(pk=order.pk)


def release(order: Order, reference: str = "", *, connection: str = "wms") -> Order:
    """The warehouse accepts the release (``REL-<number>``) of every open line."""
    with acting_as("sync.wms"):
        return record_release(
            order, reference=reference or f"REL-{order.number}", connection=connection
        )


def ship(
    order: Order,
    ref: str,
    lines: dict[int, int] | None = None,
    *,
    tracking: str = "",
    at: datetime = T0,
) -> Shipment | None:
    """The warehouse ships parcel ``ref`` with DHL: ``{line number: quantity}``, or every line
    whole. A line the order does not hold ships as SKU ``UNKNOWN``, for refusal tests. Returns
    the shipment, or None when the domain refused it."""
    held = {line.line_number: line for line in order.lines.all()}
    wanted = lines if lines is not None else {n: line.quantity for n, line in held.items()}
    reference = Order.objects.values_list("wms_reference", flat=True).get(pk=order.pk)
    with acting_as("sync.wms"):
        return record_shipment(
            order,
            ShipmentData(
                source_system="wms",
                external_id=ref,
                release_reference=reference,
                carrier="DHL",
                tracking_number=tracking or f"JVGL{ref}",
                shipped_at=at,
                lines=[
                    ShipmentLineData(n, held[n].sku_code if n in held else "UNKNOWN", quantity)
                    for n, quantity in wanted.items()
                ],
            ),
        )


def invoice(
    order: Order,
    ref: str,
    lines: list[int] | None = None,
    *,
    shipping: bool = True,
    tax_code: str = "STD",
    at: datetime = T0,
) -> Order:
    """The ERP invoices ``lines`` (line numbers; all by default) as the order priced them, and
    the shipping with its tax when ``shipping``; the totals add up, so the posting gate can be
    met. Returns the order as the invoice left it."""
    rows = [
        DocumentLineData(
            line.line_number,
            line.sku_code,
            line.quantity,
            line.unit_price_amount,
            line.discount_amount,
            line.total_amount,  # the channel's line total is after discount, before tax
            line.tax_amount,
            tax_code,
            line.total_amount + line.tax_amount,
        )
        for line in order.lines.order_by("line_number")
        if lines is None or line.line_number in lines
    ]
    every_line_tax = sum(order.lines.values_list("tax_amount", flat=True), Decimal(0))
    ship_net = order.shipping_amount if shipping else Decimal(0)
    ship_tax = order.tax_amount - every_line_tax if shipping else Decimal(0)
    net = sum((row.net for row in rows), Decimal(0)) + ship_net
    tax = sum((row.tax for row in rows), Decimal(0)) + ship_tax
    with acting_as("sync.erp"):
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
                issued_at=at,
                lines=rows,
                shipping_net=ship_net,
                shipping_tax=ship_tax,
                shipping_tax_code=tax_code,
            ),
        )
    return Order.objects.get(pk=order.pk)


def books(
    *,
    tax_codes: tuple[str, ...] | None = ("STD",),
    method: str | None = "stripe",
    period: tuple[date, date] = YEAR_2026,
    period_status: str = PeriodStatus.OPEN,
) -> FiscalPeriod:
    """The posting rules on the demo chart — tax payable per code in ``tax_codes``, clearing
    and fees for payment ``method``, either None for one mapping that serves all — and a fiscal
    ``period``. Safe to call twice; a code left out of ``tax_codes`` is the missing mapping a
    blocked posting names."""
    with service_scope():  # an admin's set-up, built as the admin pages would
        for event, (code, kind) in CHART.items():
            account, _ = GLAccount.objects.get_or_create(
                code=code, defaults={"name": f"Account {code}", "type": kind}
            )
            if event == PostingEvent.TAX_PAYABLE and tax_codes is not None:
                scopes = [{"tax_code": tax_code} for tax_code in tax_codes]
            elif event in (PostingEvent.PAYMENT_CLEARING, PostingEvent.GATEWAY_FEES) and method:
                scopes = [{"payment_method": method}]
            else:
                scopes = [{}]
            for scope in scopes:
                where = {"channel": None, "tax_code": "", "payment_method": "", **scope}
                GLMapping.objects.get_or_create(event=event, **where, defaults={"account": account})
        made, _ = FiscalPeriod.objects.get_or_create(
            legal_entity="default",
            starts_on=period[0],
            defaults={"ends_on": period[1], "status": period_status},
        )
    return made


def payment_method(
    code: str = "stripe", *, capture_mode: str = CaptureMode.AT_CHECKOUT, name: str = "Card"
) -> PaymentMethod:
    """When the gateway takes the money for ``code``: at checkout, or as the order ships."""
    with service_scope():  # an admin's set-up
        return PaymentMethod.objects.create(code=code, name=name, capture_mode=capture_mode)


_STEPS = (
    OrderStage.PAYMENT_CAPTURED,
    OrderStage.REGISTERED,
    OrderStage.RELEASED,
    OrderStage.SHIPPED,
    OrderStage.INVOICED,
)


def take_to(order: Order, stage: str, *, fee: Decimal = Decimal(0), at: datetime = T0) -> Order:
    """Every step up to ``stage`` (payment captured … invoiced) with the default references:
    captured in full, registered, released, shipped whole in ``SHP-<number>``, invoiced whole
    in ``INV-<number>``. Returns the order as the last step left it."""
    steps = _STEPS[: _STEPS.index(OrderStage(stage)) + 1]
    order = pay(order, fee=fee, at=at)
    if OrderStage.REGISTERED in steps:
        order = register(order)
    if OrderStage.RELEASED in steps:
        order = release(order)
    if OrderStage.SHIPPED in steps:
        ship(order, f"SHP-{order.number}", at=at)
    if OrderStage.INVOICED in steps:
        invoice(order, f"INV-{order.number}", at=at)
    return Order.objects.get(pk=order.pk)
