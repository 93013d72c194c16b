"""One constructor per refund event type: the timeline people read on the trace page."""

from __future__ import annotations

from typing import Any

from controltower.returns.choices import RefundEventType
from controltower.returns.models import Refund, RefundEvent


def _event(refund: Refund, type: RefundEventType, **parameters: Any) -> RefundEvent:
    return RefundEvent.record(
        refund=refund, correlation_id=refund.correlation_id, type=type, parameters=parameters
    )


def refund_recorded(refund: Refund, *, source: str, amount: str, currency: str) -> RefundEvent:
    return _event(refund, RefundEventType.RECORDED, source=source, amount=amount, currency=currency)


def refund_details_recorded(refund: Refund, *, lines: int, tax: str) -> RefundEvent:
    return _event(refund, RefundEventType.DETAILS_RECORDED, lines=lines, tax=tax)


def refund_details_refused(refund: Refund, *, reason: str) -> RefundEvent:
    return _event(refund, RefundEventType.DETAILS_REFUSED, reason=reason)
