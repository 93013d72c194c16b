"""The inventory domain's periodic jobs (beat: ``CELERY_BEAT_SCHEDULE`` in settings). History
names ``system.inventory``."""

from __future__ import annotations

import logging
from datetime import timedelta

from celery import shared_task
from django.db import transaction
from django.utils import timezone

from controltower.core.context import acting_as
from controltower.inventory import ats
from controltower.inventory.choices import PublicationState
from controltower.inventory.drift import check_drift as run_drift
from controltower.inventory.models import StockPublication
from controltower.inventory.services import check_freshness as run_freshness
from controltower.inventory.services import mark_publications
from controltower.inventory.signals import stock_publication_due

logger = logging.getLogger(__name__)

SENT_LEASE = timedelta(seconds=60)  # a batch sent this long ago and never answered: again


@shared_task(name="inventory.check_freshness")
def check_freshness() -> dict[str, int]:
    with acting_as("system.inventory"):
        return run_freshness()


@shared_task(name="inventory.check_drift")
def check_drift() -> dict[str, int]:
    with acting_as("system.inventory"):
        return run_drift()


@shared_task(name="inventory.recompute_ats")
def recompute_ats() -> int:
    """Every SKU's ATS again, in one statement; what changed is published."""
    with acting_as("system.inventory"):
        changed = ats.recompute()  # ranges of SKUs side by side (ats.recompute_all)
        with transaction.atomic():
            mark_publications(changed)
    if changed:
        logger.info("ATS recompute changed %s figure(s)", len(changed))
    return len(changed)


@shared_task(name="inventory.sweep_publications")
def sweep_publications() -> int:
    """Publications sent but never answered (a lost batch) go pending again, and every channel
    with pending ones is asked to publish (a kick that was missed)."""
    stale = timezone.now() - SENT_LEASE
    with acting_as("system.inventory"):
        again = StockPublication.objects.filter(
            state=PublicationState.SENT, sent_at__lt=stale
        ).update(state=PublicationState.PENDING, changed_at=timezone.now())
        waiting = sorted(
            StockPublication.objects.filter(state=PublicationState.PENDING)
            .values_list("channel_id", flat=True)
            .distinct()
        )
        if waiting:
            stock_publication_due.send(sender=StockPublication, channel_ids=waiting)
    return again
