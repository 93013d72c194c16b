from __future__ import annotations

from django.db import models


class ExceptionType(models.TextChoices):
    DEAD_LETTER = "dead_letter", "Dead-lettered message"
    STUCK_ORDER = "stuck_order", "Stuck order"
    POSTING_FAILURE = "posting_failure", "Posting failure"
    RECONCILIATION_BREAK = "reconciliation_break", "Reconciliation break"
    INVENTORY_DRIFT = "inventory_drift", "Inventory drift"
    REFUND_APPROVAL = "refund_approval", "Refund awaiting approval"
    REJECTED_INBOUND = "rejected_inbound", "Rejected inbound event"
    PAYMENT_MISMATCH = "payment_mismatch", "Payment does not match order"
    SHIPMENT_REFUSED = "shipment_refused", "Shipment refused"
    STEP_REFUSED = "step_refused", "Lifecycle step refused"
    COMPENSATION = "compensation", "Compensation needs a person"
    OVERSELL = "oversell", "Oversold"
    STOCK_STALE = "stock_stale", "Stock figures not fresh"
    PRICE_BELOW_FLOOR = "price_below_floor", "Price below the policy floor"
    PROMOTION_OUT_OF_WINDOW = "promotion_out_of_window", "Promotion outside its window"
    PROMOTION_EXCLUDED = "promotion_excluded", "Promotion on an excluded SKU"
    TAX_CLASS_MISMATCH = "tax_class_mismatch", "Tax class differs from the ERP"


class Severity(models.TextChoices):
    LOW = "low", "Low"
    MEDIUM = "medium", "Medium"
    HIGH = "high", "High"
    CRITICAL = "critical", "Critical"


SEVERITY_COLOURS: dict[str, str] = {
    Severity.LOW: "grey",
    Severity.MEDIUM: "amber",
    Severity.HIGH: "red",
    Severity.CRITICAL: "purple",
}


class ExceptionState(models.TextChoices):
    OPEN = "open", "Open"
    ASSIGNED = "assigned", "Assigned"
    RESOLVED = "resolved", "Resolved"
    IGNORED = "ignored", "Ignored"


ACTIVE_STATES = (ExceptionState.OPEN, ExceptionState.ASSIGNED)
