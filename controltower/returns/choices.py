from __future__ import annotations

from django.db import models


class ReturnState(models.TextChoices):
    REQUESTED = "requested", "Requested"
    AUTHORIZED = "authorized", "Authorized"
    RECEIVED = "received", "Received"
    CLOSED = "closed", "Closed"
    REJECTED = "rejected", "Rejected"


class Disposition(models.TextChoices):
    PENDING = "pending", "Pending inspection"
    RESTOCK = "restock", "Restock"
    WRITE_OFF = "write_off", "Write off"


class RefundState(models.TextChoices):
    REQUESTED = "requested", "Requested"
    AWAITING_APPROVAL = "awaiting_approval", "Awaiting finance approval"
    APPROVED = "approved", "Approved"
    REJECTED = "rejected", "Rejected"
    POSTED = "posted", "Posted"


class RefundEventType(models.TextChoices):
    RECORDED = "recorded", "Refund recorded"
    DETAILS_RECORDED = "details_recorded", "Refund lines recorded"
    DETAILS_REFUSED = "details_refused", "Refund lines refused"
