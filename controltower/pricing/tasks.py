"""Pricing's periodic job: the whole policy check (beat, ``CT_PRICE_CHECK_S``). Each price read
checks its own SKUs at once; this run catches what only time changes — a scheduled sale that
starts or a promotion window that closes. History names ``system.pricing``."""

from __future__ import annotations

from celery import shared_task

from controltower.core.context import acting_as
from controltower.pricing.checks import check_prices as run_check


@shared_task(name="pricing.check_prices")
def check_prices() -> dict[str, int]:
    with acting_as("system.pricing"):
        return run_check()
