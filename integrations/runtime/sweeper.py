"""The sweeper (on beat): claims a dead worker left behind go back to the queue, and drains are
woken for anything waiting, so a lost kick or a killed process delays work but loses none."""

from __future__ import annotations

import logging

from django.db import transaction
from django.utils import timezone

from integrations.runtime import kick
from integrations.runtime.choices import InboundStatus, OutboundStatus
from integrations.runtime.models import InboundEvent, OutboundMessage

logger = logging.getLogger(__name__)


def sweep() -> dict[str, int]:
    """Return abandoned claims to the queue and wake drains for anything waiting."""
    now = timezone.now()
    with transaction.atomic():
        inbound = InboundEvent.objects.filter(
            status=InboundStatus.PROCESSING, claimed_until__lt=now
        ).update(status=InboundStatus.PENDING, claimed_until=None)
        outbound = OutboundMessage.objects.filter(
            status=OutboundStatus.IN_FLIGHT, claimed_until__lt=now
        ).update(status=OutboundStatus.PENDING, claimed_until=None, claim_token=None)
    if InboundEvent.objects.filter(status=InboundStatus.PENDING).exists():
        kick.kick("inbox")
    if OutboundMessage.objects.filter(
        status=OutboundStatus.PENDING, next_attempt_at__lte=now, connection__enabled=True
    ).exists():
        kick.kick("outbox")
    if inbound or outbound:
        logger.info("sweeper re-queued %s inbound and %s outbound", inbound, outbound)
    return {"inbound_requeued": inbound, "outbound_requeued": outbound}
