"""An order's stage in order to cash, derived from its state and the status of each system's
step (payment, fulfilment, invoicing, posting), and the system it waits on there.

accepted → payment authorized / captured → registered in ERP → released to WMS → (partially)
shipped → invoiced → posted → closed; cancelled from anywhere. Pure: computed from the order's
own row and its payment method's capture mode (docs/lifecycle.md).
"""

from __future__ import annotations

from typing import Any

from controltower.orders.choices import (
    FulfilmentStatus as F,
)
from controltower.orders.choices import (
    InvoicingStatus as I,
)
from controltower.orders.choices import (
    OrderStage as G,
)
from controltower.orders.choices import (
    OrderState as S,
)
from controltower.orders.choices import (
    PaymentStatus as P,
)
from controltower.orders.choices import (
    PostingStatus as Q,
)
from controltower.orders.choices import (
    WaitingOn as W,
)

AT_CHECKOUT, AT_SHIPMENT, OFFLINE = "at_checkout", "at_shipment", "offline"

PAID = frozenset({P.CAPTURED, P.PARTIALLY_REFUNDED, P.REFUNDED, P.NOT_REQUIRED})
AUTHORIZED = PAID | {P.AUTHORIZED, P.PARTIALLY_CAPTURED}
ENDED = frozenset({S.CANCELLED, S.FAILED, S.REFUNDED})
BEFORE_ACCEPTANCE = frozenset({S.RECEIVED, S.PENDING_PAYMENT, S.ON_HOLD})
RELEASED = frozenset({F.RELEASED, F.PICKING})


def is_paid(order: Any, capture_mode: str) -> bool:
    return capture_mode == OFFLINE or order.payment_status in PAID


def is_authorized(order: Any, capture_mode: str) -> bool:
    """Money is secured for the order: what the warehouse release waits for."""
    return capture_mode == OFFLINE or order.payment_status in AUTHORIZED


def derive_stage(order: Any, *, capture_mode: str) -> tuple[str, str]:
    """(stage, waiting on) for an order row."""
    state = order.state
    if state in ENDED:
        return G.CANCELLED, W.NOTHING
    if state in BEFORE_ACCEPTANCE:
        return G.RECEIVED, W.STOREFRONT
    paid = is_paid(order, capture_mode)
    posting = order.posting_status
    if posting == Q.POSTED:
        return (G.CLOSED, W.NOTHING) if state == S.COMPLETED else (G.POSTED, W.STOREFRONT)
    fulfilment = order.fulfilment_status
    if order.invoicing_status == I.INVOICED and fulfilment == F.SHIPPED:
        if posting in (Q.BLOCKED, Q.REJECTED):
            return G.INVOICED, W.PEOPLE
        if posting in (Q.QUEUED, Q.SENT):
            return G.INVOICED, W.LEDGER
        return G.INVOICED, (W.PEOPLE if paid else W.GATEWAY)
    if fulfilment == F.SHIPPED:
        return G.SHIPPED, (W.ERP if paid or capture_mode == AT_SHIPMENT else W.GATEWAY)
    if fulfilment == F.PARTIALLY_SHIPPED:
        return G.PARTIALLY_SHIPPED, W.WMS
    if fulfilment in RELEASED:
        return G.RELEASED, W.WMS
    if order.erp_reference:
        if fulfilment == F.RELEASE_CANCELLED:
            return G.REGISTERED, W.PEOPLE
        return G.REGISTERED, (W.WMS if is_authorized(order, capture_mode) else W.GATEWAY)
    if paid:
        return G.PAYMENT_CAPTURED, W.ERP
    if is_authorized(order, capture_mode):
        return G.PAYMENT_AUTHORIZED, W.ERP
    return G.ACCEPTED, W.GATEWAY
