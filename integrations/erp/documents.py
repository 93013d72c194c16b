"""What the ERP decides by itself, applied: an invoice issued → Invoice (the order's invoicing
step), a credit memo → CreditMemo, a sales order it cancelled → the order cancelled here (the
store told, the compensations run; the ERP is not asked again).

Each event is re-read from its stored body (an edited replay is applied as edited). The order is
found by the document's ``correlation_id`` or, failing that, by its sales order (our ERP
reference). An invoice for an order that has not shipped yet waits (the domain's NotYet: the inbox
holds it and retries); one that does not add up or names a line the order does not have is refused
by the domain (timeline entry and exception, nothing applied).

The pages of the ERP's stock feed (topic ``stock.page``, stored by the scheduled pull, not
webhooks) go to ``integrations.erp.stock``; those of its item feed (``items.page``) to
``integrations.erp.prices``."""

from __future__ import annotations

import uuid
from typing import Any

from controltower.catalog.choices import SystemKind
from controltower.core.errors import NotYet
from controltower.finance.services import record_credit_memo, record_invoice
from controltower.orders.choices import OrderState
from controltower.orders.models import Order
from controltower.orders.services import transition_order
from controltower.orders.signals import CancelOrigin
from controltower.orders.transitions import IllegalTransition
from integrations.erp.prices import ITEMS_PAGE, handle_items_page
from integrations.erp.stock import STOCK_PAGE, handle_stock_page
from integrations.erp.translate import TranslationError, document_data
from integrations.runtime.models import InboundEvent
from integrations.runtime.registry import Ignored, inbound
from integrations.runtime.signing import parse_event


def source_system_for(slug: str) -> str:
    return f"erp:{slug}"


def _order_of(obj: dict[str, Any]) -> Order:
    correlation = obj.get("correlation_id")
    order = None
    if isinstance(correlation, str):
        try:
            order = Order.objects.filter(correlation_id=uuid.UUID(correlation)).first()
        except ValueError:
            raise TranslationError(f"correlation_id: {correlation[:40]!r} is not a UUID") from None
    sales_order = obj.get("sales_order") if obj.get("object") != "sales_order" else obj.get("id")
    if order is None and isinstance(sales_order, str) and sales_order:
        order = Order.objects.filter(erp_reference=sales_order).first()
    if order is None:
        raise NotYet(f"no order here for ERP sales order {str(sales_order)[:40]!r} (yet)")
    return order


@inbound(SystemKind.ERP)
def handle_inbound(event: InboundEvent) -> Any:
    if event.topic == STOCK_PAGE:
        return handle_stock_page(event)
    if event.topic == ITEMS_PAGE:
        return handle_items_page(event)
    try:
        envelope = parse_event(event.body.encode("utf-8"))
    except ValueError as exc:
        raise TranslationError(str(exc)) from None
    kind, obj = envelope["type"], envelope["data"]["object"]
    source = source_system_for(event.connection.slug)
    if kind in ("invoice.issued", "credit_memo.issued"):
        data = document_data(obj, source_system=source)
        order = _order_of(obj)
        record = record_invoice if kind == "invoice.issued" else record_credit_memo
        record(order, data)  # None: refused by the domain, recorded with its exception
        return order.correlation_id
    if kind == "sales_order.cancelled":
        order = _order_of(obj)
        if order.state == OrderState.CANCELLED:
            return Ignored(f"{order} is already cancelled")
        reason = obj.get("cancel_reason") if isinstance(obj.get("cancel_reason"), str) else ""
        try:
            transition_order(
                order,
                OrderState.CANCELLED,
                reason=f"cancelled in the ERP: {reason or 'no reason given'}"[:200],
                origin=CancelOrigin.ERP,
            )
        except IllegalTransition as exc:
            return Ignored(f"the ERP cancelled {order}, which is {exc.current} here: refused")
        return order.correlation_id
    return Ignored(f"ERP {kind} events are not handled")
