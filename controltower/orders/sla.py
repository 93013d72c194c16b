"""The stuck-order sweep: an order that stays in a stage longer than its ``StageSLA`` allows
gets one exception per order and stage, naming the stage, who it waits on and for how long.

The condition is the exception's dedupe key, ``stuck:<order pk>:<stage>``. The domain closes it
when the order leaves the stage (``services.lifecycle.announce``); the sweep closes what the
domain cannot see: an SLA that was raised or switched off, an order that ended. The sweep is
set-based (one query per SLA, one for the open exceptions, one for the ignored ones), writes
only what changed, and runs as a singleton (a PostgreSQL advisory lock), so running it again, or
twice at once, opens nothing new.

An exception a person *ignored* stays ignored while the order stays in that stage (it opens
again only once the order has left the stage and came back); a *resolved* one whose order is
still stuck opens again, since the fix did not take.
"""

from __future__ import annotations

import hashlib
import logging
import re
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime, timedelta

from django.db import connection, transaction
from django.utils import timezone

from controltower.exceptions.choices import ExceptionState, ExceptionType, Severity
from controltower.exceptions.models import OpsException
from controltower.exceptions.services import close_exceptions_for, open_exception
from controltower.orders.choices import WaitingOn
from controltower.orders.models import Order, StageSLA

logger = logging.getLogger(__name__)

LOCK_NAME = "orders.sweep_stuck"
KEY_PREFIX = "stuck:"
_KEY = re.compile(r"^stuck:(?P<order>\d+):(?P<stage>[a-z_]+)$")

# Who an order waits on, as ops name them in a sentence ("waiting on WMS").
WAITING_NAMES: dict[str, str] = {
    WaitingOn.NOTHING: "nothing",
    WaitingOn.STOREFRONT: "the storefront",
    WaitingOn.GATEWAY: "the payment gateway",
    WaitingOn.ERP: "ERP",
    WaitingOn.WMS: "WMS",
    WaitingOn.LEDGER: "the ledger",
    WaitingOn.PEOPLE: "people",
}


@dataclass(frozen=True)
class SweepResult:
    opened: int = 0
    kept: int = 0
    closed: int = 0
    skipped: bool = False  # another sweep held the lock


def stuck_key(order_id: int, stage: str) -> str:
    return f"{KEY_PREFIX}{order_id}:{stage}"


def format_age(age: timedelta) -> str:
    """ "2 h 5 min", "45 min", "1 d 3 h": how long, as people say it on a page."""
    minutes = max(int(age.total_seconds() // 60), 0)
    days, rest = divmod(minutes, 24 * 60)
    hours, mins = divmod(rest, 60)
    if days:
        return f"{days} d {hours} h"
    if hours:
        return f"{hours} h {mins} min"
    return f"{mins} min" if mins else "under a minute"


def stuck_title(order: Order, *, sla: StageSLA, now: datetime) -> str:
    """'Order woo-web-1001 stuck in released for 2 h 5 min: waiting on WMS (SLA 60 min)'."""
    waiting = WAITING_NAMES.get(order.waiting_on, order.waiting_on)
    age = format_age(now - order.stage_changed_at)
    return (
        f"Order {order.reference} stuck in {order.stage} for {age}: "
        f"waiting on {waiting} (SLA {sla.minutes} min)"
    )


@contextmanager
def _singleton() -> Iterator[bool]:
    """True when this process holds the sweep's session advisory lock (others skip)."""
    lock_id = int.from_bytes(hashlib.sha256(LOCK_NAME.encode()).digest()[:8], "big", signed=True)
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_try_advisory_lock(%s)", [lock_id])
        held = bool(cursor.fetchone()[0])
    try:
        yield held
    finally:
        if held:
            with connection.cursor() as cursor:
                cursor.execute("SELECT pg_advisory_unlock(%s)", [lock_id])


def _open_keys() -> set[str]:
    return {
        key
        for key in OpsException.objects.open()
        .filter(type=ExceptionType.STUCK_ORDER, dedupe_key__startswith=KEY_PREFIX)
        .values_list("dedupe_key", flat=True)
        if _KEY.match(key)
    }


def _ignored_this_stay(candidates: dict[str, Order]) -> set[str]:
    """Keys a person ignored after the order entered its current stage."""
    if not candidates:
        return set()
    rows = OpsException.objects.filter(
        type=ExceptionType.STUCK_ORDER,
        state=ExceptionState.IGNORED,
        dedupe_key__in=list(candidates),
    ).values_list("dedupe_key", "opened_at")
    return {key for key, opened in rows if opened >= candidates[key].stage_changed_at}


def _open_stuck(order: Order, *, sla: StageSLA, now: datetime) -> None:
    open_exception(
        type=ExceptionType.STUCK_ORDER,
        dedupe_key=stuck_key(order.pk, order.stage),
        title=stuck_title(order, sla=sla, now=now),
        detail=(
            f"In stage {order.get_stage_display()} since "
            f"{order.stage_changed_at:%Y-%m-%d %H:%M} UTC, longer than its SLA of "
            f"{sla.minutes} min. It waits on {WAITING_NAMES.get(order.waiting_on, '?')}."
        ),
        severity=Severity.MEDIUM,
        correlation_id=order.correlation_id,
        money_at_risk=order.total_amount,
        currency=order.currency,
        subject_type="orders.order",
        subject_id=str(order.pk),
        context={
            "stage": order.stage,
            "waiting_on": order.waiting_on,
            "sla_minutes": sla.minutes,
            "stage_changed_at": order.stage_changed_at.isoformat(),
        },
    )


def sweep_stuck(*, now: datetime | None = None) -> SweepResult:
    """Open an exception for every order past its stage's SLA, close those no longer past it.
    One transaction per SLA for the opening, one for the closing."""
    now = now or timezone.now()
    with _singleton() as held:
        if not held:
            logger.info("stuck-order sweep skipped: another sweep is running")
            return SweepResult(skipped=True)
        already_open = _open_keys()
        still_stuck: set[str] = set()
        opened = kept = 0
        slas = list(StageSLA.objects.filter(enabled=True).order_by("stage"))
        for sla in slas:
            cutoff = now - timedelta(minutes=sla.minutes)
            stuck = {
                stuck_key(order.pk, order.stage): order
                for order in Order.objects.in_stage_since_before(sla.stage, cutoff=cutoff)
                .select_related("channel")
                .order_by("pk")
            }
            still_stuck |= stuck.keys()
            fresh = {key: order for key, order in stuck.items() if key not in already_open}
            kept += len(stuck) - len(fresh)
            quiet = _ignored_this_stay(fresh)
            due = [order for key, order in fresh.items() if key not in quiet]
            if due:
                with transaction.atomic():
                    for order in due:
                        _open_stuck(order, sla=sla, now=now)
                opened += len(due)
        minutes = {sla.stage: sla.minutes for sla in slas}
        closed = 0
        gone = sorted(already_open - still_stuck)
        if gone:
            with transaction.atomic():
                for key in gone:
                    stage = _KEY.match(key)["stage"]  # type: ignore[index]
                    reason = (
                        f"no longer past the {stage} SLA of {minutes[stage]} min"
                        if stage in minutes
                        else f"no SLA is enabled for {stage} any more"
                    )
                    closed += close_exceptions_for(key, reason=reason)
    result = SweepResult(opened=opened, kept=kept, closed=closed)
    logger.info("stuck-order sweep: %s", result)
    return result
