"""The orders domain's periodic jobs (beat: ``CELERY_BEAT_SCHEDULE`` in settings)."""

from __future__ import annotations

import dataclasses
import logging

from celery import shared_task

from controltower.core.context import acting_as
from controltower.orders import sla

logger = logging.getLogger(__name__)


@shared_task(name="orders.sweep_stuck")
def sweep_stuck() -> dict[str, int | bool]:
    """Open and close stuck-order exceptions against the stage SLAs (every minute; a singleton,
    so an overlapping run returns ``skipped``). History names ``system.sla``."""
    with acting_as("system.sla"):
        return dataclasses.asdict(sla.sweep_stuck())
