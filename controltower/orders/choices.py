from __future__ import annotations

from django.db import models


class OrderState(models.TextChoices):
    RECEIVED = "received", "Received"
    PENDING_PAYMENT = "pending_payment", "Pending payment"
    ON_HOLD = "on_hold", "On hold"
    ACCEPTED = "accepted", "Accepted"
    REGISTERED = "registered", "Registered in ERP"
    PARTIALLY_SHIPPED = "partially_shipped", "Partially shipped"
    SHIPPED = "shipped", "Shipped"
    COMPLETED = "completed", "Completed"
    CANCELLED = "cancelled", "Cancelled"
    REFUNDED = "refunded", "Refunded"
    FAILED = "failed", "Failed"


ORDER_STATE_COLOURS: dict[str, str] = {
    OrderState.RECEIVED: "grey",
    OrderState.PENDING_PAYMENT: "amber",
    OrderState.ON_HOLD: "amber",
    OrderState.ACCEPTED: "blue",
    OrderState.REGISTERED: "green",
    OrderState.PARTIALLY_SHIPPED: "teal",
    OrderState.SHIPPED: "teal",
    OrderState.COMPLETED: "green",
    OrderState.CANCELLED: "grey",
    OrderState.REFUNDED: "purple",
    OrderState.FAILED: "red",
}


class OrderLineStatus(models.TextChoices):
    OPEN = "open", "Open"
    BACKORDERED = "backordered", "Backordered"
    PARTIALLY_SHIPPED = "partially_shipped", "Partially shipped"
    SHIPPED = "shipped", "Shipped"
    CANCELLED = "cancelled", "Cancelled"


class OrderEventType(models.TextChoices):
    RECEIVED = "received", "Received from channel"
    UPDATED = "updated", "Updated from channel"
    STATE_CHANGED = "state_changed", "State changed"
    TRANSITION_REFUSED = "transition_refused", "Transition refused"
    STALE_UPDATE_REFUSED = "stale_update_refused", "Stale update refused"
    ERP_REQUESTED = "erp_requested", "Sent to ERP"
    ERP_REGISTERED = "erp_registered", "Registered in ERP"
    NOTE_ADDED = "note_added", "Note added"
    TRASHED = "trashed", "Trashed in channel"
    RESTORED = "restored", "Restored in channel"
    ERP_CANCEL_REQUESTED = "erp_cancel_requested", "ERP cancel requested"
    ERP_CANCELLED = "erp_cancelled", "Cancelled in ERP"
    ERP_CREATE_WITHDRAWN = "erp_create_withdrawn", "ERP create withdrawn"
    CHANNEL_UPDATE_REQUESTED = "channel_update_requested", "Channel update requested"
    ERP_REFERENCE_REFUSED = "erp_reference_refused", "Second ERP reference refused"
    ERP_REFERENCE_REPOINTED = "erp_reference_repointed", "ERP reference changed"
    STAGE_CHANGED = "stage_changed", "Stage changed"
    STEP_REFUSED = "step_refused", "Step refused"
    PAYMENT_UPDATED = "payment_updated", "Payment updated at the gateway"
    PAYMENT_REQUESTED = "payment_requested", "Gateway action requested"
    RELEASE_REQUESTED = "release_requested", "Release to warehouse requested"
    RELEASED = "released", "Released to warehouse"
    RELEASE_CANCEL_REQUESTED = "release_cancel_requested", "Release cancel requested"
    RELEASE_CANCELLED = "release_cancelled", "Release cancelled in warehouse"
    WAREHOUSE_PROGRESS = "warehouse_progress", "Warehouse progress"
    SHIPPED = "shipped", "Shipment recorded"
    BACKORDERED = "backordered", "Backordered in warehouse"
    LINES_CANCELLED = "lines_cancelled", "Lines cancelled"
    SHIPMENT_CONFIRM_REQUESTED = "shipment_confirm_requested", "Shipment confirmation sent to ERP"
    INVOICED = "invoiced", "Invoice issued"
    CREDIT_MEMO_ISSUED = "credit_memo_issued", "Credit memo issued"
    POSTING_BLOCKED = "posting_blocked", "Posting blocked"
    POSTING_QUEUED = "posting_queued", "Posting queued"
    POSTING_SENT = "posting_sent", "Posting sent to ledger"
    POSTED = "posted", "Posted to ledger"
    POSTING_REJECTED = "posting_rejected", "Posting rejected by ledger"
    COMPENSATION_IMPOSSIBLE = "compensation_impossible", "Compensation no longer possible"


class OrderStage(models.TextChoices):
    """Where an order is in order-to-cash, derived from its state and aspects (lifecycle.py)."""

    RECEIVED = "received", "Received"
    ACCEPTED = "accepted", "Accepted"
    PAYMENT_AUTHORIZED = "payment_authorized", "Payment authorized"
    PAYMENT_CAPTURED = "payment_captured", "Payment captured"
    REGISTERED = "registered", "Registered in ERP"
    RELEASED = "released", "Released to warehouse"
    PARTIALLY_SHIPPED = "partially_shipped", "Partially shipped"
    SHIPPED = "shipped", "Shipped"
    INVOICED = "invoiced", "Invoiced"
    POSTED = "posted", "Posted"
    CLOSED = "closed", "Closed"
    CANCELLED = "cancelled", "Cancelled"


STAGE_ORDER: tuple[str, ...] = tuple(OrderStage.values)


class WaitingOn(models.TextChoices):
    """The system (or people) an order waits on in its stage."""

    NOTHING = "", "Nothing"
    STOREFRONT = "storefront", "Storefront"
    GATEWAY = "gateway", "Payment gateway"
    ERP = "erp", "ERP"
    WMS = "wms", "Warehouse"
    LEDGER = "ledger", "Ledger"
    PEOPLE = "people", "People (an exception)"


class PaymentStatus(models.TextChoices):
    NONE = "none", "None yet"
    AUTHORIZED = "authorized", "Authorized"
    PARTIALLY_CAPTURED = "partially_captured", "Partially captured"
    CAPTURED = "captured", "Captured"
    PARTIALLY_REFUNDED = "partially_refunded", "Partially refunded"
    REFUNDED = "refunded", "Refunded"
    VOIDED = "voided", "Voided"
    FAILED = "failed", "Failed"
    NOT_REQUIRED = "not_required", "Paid outside the gateway"


class FulfilmentStatus(models.TextChoices):
    UNRELEASED = "unreleased", "Not released"
    RELEASE_REQUESTED = "release_requested", "Release requested"
    RELEASED = "released", "Released"
    PICKING = "picking", "Picking"
    PARTIALLY_SHIPPED = "partially_shipped", "Partially shipped"
    SHIPPED = "shipped", "Shipped"
    RELEASE_CANCELLED = "release_cancelled", "Release cancelled"


class InvoicingStatus(models.TextChoices):
    NONE = "none", "Not invoiced"
    PARTIALLY_INVOICED = "partially_invoiced", "Partially invoiced"
    INVOICED = "invoiced", "Invoiced"


class PostingStatus(models.TextChoices):
    NONE = "none", "Not due"
    BLOCKED = "blocked", "Blocked"
    QUEUED = "queued", "Queued"
    SENT = "sent", "Sent to ledger"
    POSTED = "posted", "Posted"
    REJECTED = "rejected", "Rejected by ledger"
