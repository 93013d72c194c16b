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
