"""Order to cash through the domain services: payment → ERP → release → partial and full
shipment → invoices → the gated sales entry → posted; and the steps that are refused."""

from __future__ import annotations

from decimal import Decimal

import pytest

from controltower.core.context import acting_as
from controltower.core.errors import NotYet
from controltower.exceptions.models import OpsException
from controltower.finance.choices import JournalState
from controltower.finance.models import JournalEntry
from controltower.finance.services import record_posting_result
from controltower.orders.choices import FulfilmentStatus, OrderStage, PostingStatus, WaitingOn
from controltower.orders.models import Order
from controltower.payments.choices import PaymentState
from controltower.payments.services import GatewayPaymentData, sync_gateway_payment
from tests.factories import lifecycle


@pytest.fixture
def order(db: None) -> Order:
    return lifecycle.web_order()


@pytest.mark.django_db
def test_order_to_cash_runs_from_payment_to_posted(order: Order) -> None:
    # given
    lifecycle.books(tax_codes=("STD",), method=order.payment_method)
    assert (order.stage, order.waiting_on) == (OrderStage.ACCEPTED, WaitingOn.GATEWAY)
    # when the gateway captures, the ERP registers, the WMS releases and ships in two parcels
    lifecycle.pay(order, fee=lifecycle.FEE)
    order.refresh_from_db()
    assert (order.stage, order.waiting_on) == (OrderStage.PAYMENT_CAPTURED, WaitingOn.ERP)
    lifecycle.register(order, "SO-1")
    order.refresh_from_db()
    assert order.fulfilment_status == FulfilmentStatus.RELEASE_REQUESTED
    assert (order.stage, order.waiting_on) == (OrderStage.REGISTERED, WaitingOn.WMS)
    lifecycle.release(order, "REL-1")
    numbers = sorted(order.lines.values_list("line_number", flat=True))
    lifecycle.ship(order, "SHP-1", {numbers[0]: order.lines.get(line_number=numbers[0]).quantity})
    order.refresh_from_db()
    expected_partial = OrderStage.PARTIALLY_SHIPPED if len(numbers) > 1 else OrderStage.SHIPPED
    assert order.stage == expected_partial
    for n in numbers[1:]:
        lifecycle.ship(order, f"SHP-{n}", {n: order.lines.get(line_number=n).quantity})
    order.refresh_from_db()
    assert (order.stage, order.waiting_on) == (OrderStage.SHIPPED, WaitingOn.ERP)
    # and the ERP invoices each shipment
    lifecycle.invoice(order, "INV-1", numbers[:1], shipping=True)
    if numbers[1:]:
        lifecycle.invoice(order, "INV-2", numbers[1:], shipping=False)
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
    lifecycle.books(tax_codes=("RED",), method=order.payment_method)
    lifecycle.pay(order, fee=lifecycle.FEE)
    lifecycle.register(order, "SO-1")
    numbers = sorted(order.lines.values_list("line_number", flat=True))
    lifecycle.release(order, "REL-1")
    lifecycle.ship(order, "SHP-1", {n: order.lines.get(line_number=n).quantity for n in numbers})
    # when
    lifecycle.invoice(order, "INV-1", numbers, shipping=True)
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
    shipment = lifecycle.ship(order, "SHP-X", {numbers[0]: 1})
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
    lifecycle.pay(order, fee=lifecycle.FEE)
    lifecycle.register(order, "SO-1")
    lifecycle.release(order, "REL-1")
    line = order.lines.order_by("line_number").first()
    # when
    shipment = lifecycle.ship(order, "SHP-9", {line.line_number: line.quantity + 1})
    # then
    assert shipment is None
    problem = OpsException.objects.get(dedupe_key="shipment:wms:SHP-9")
    assert f"only {line.quantity} of {line.quantity} is left to ship" in problem.detail


@pytest.mark.django_db
def test_payment_in_another_currency_is_refused_and_for_another_amount_flagged(
    order: Order,
) -> None:
    # when the amount differs
    lifecycle.pay(order, order.total_amount - Decimal("1.00"), fee=lifecycle.FEE)
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
