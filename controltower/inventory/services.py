"""Inventory services: stock figures from every system, reservations that never oversell, the
figures each channel may sell (ATS, ``inventory.ats``) and what the storefront should show.

- :func:`record_stock_reports` takes one feed message of one system (an ERP page, a WMS snapshot
  or adjustment, a POS count): validated whole — a negative on-hand, an unknown SKU or location,
  an ``as_of`` in the future or older than the source's freshness SLA refuse the whole message
  with every problem named (:class:`StockFeedRefused`), nothing applied; a figure older than the
  one held (a delivery that came late) is superseded, not applied. Applied figures recompute ATS
  for their SKUs, close the freshness exceptions of their sources and check drift.
- Reservations are taken under a per-SKU advisory lock (in SKU order: no deadlocks), from the
  location that can give most, never beyond the channel's ATS: two channels selling the last unit
  at the same instant cannot both reserve it. What could not be reserved is an oversell
  exception with the quantity short. A channel with no allocation rule is not stock-controlled:
  its lines are reserved unplaced, as before, and never reported oversold.
- Every ATS change for a channel marks its ``StockPublication`` pending and, after commit, asks
  for a publish (``stock_publication_due``): many changes in a moment become one batch.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from decimal import Decimal
from typing import Any

from django.db import connection, transaction
from django.utils import timezone

from controltower.catalog.models import SKU, Channel, Location
from controltower.core import memo
from controltower.core.models import bulk_create, bulk_update, stamp
from controltower.core.writepath import domain_service
from controltower.exceptions.choices import ExceptionType, Severity
from controltower.exceptions.models import OpsException
from controltower.exceptions.services import close_exceptions, open_exception
from controltower.inventory import ats
from controltower.inventory.choices import PublicationState, ReportingSystem, ReservationStatus
from controltower.inventory.models import (
    ChannelAllocationRule,
    Reservation,
    StockFreshnessRule,
    StockPosition,
)
from controltower.inventory.signals import stock_publication_due

logger = logging.getLogger(__name__)

CLOCK_SKEW = timedelta(minutes=5)  # an as_of this far ahead of our clock is refused
# Without a rule: the WMS and the POS report counts continuously (snapshots, sales), so half an
# hour of silence is news; the ERP's feed sends a balance only when it changes, so a quiet item's
# figure stays valid for a day.
DEFAULT_FRESHNESS_MINUTES = {"erp": 24 * 60, "wms": 30, "pos": 30}
LOCK_NAMESPACE = 0x5354  # pg_advisory_xact_lock(namespace, sku id): "ST"
FEED_SYSTEMS = (ReportingSystem.ERP, ReportingSystem.WMS, ReportingSystem.POS)


# --- stock figures from the systems ------------------------------------------------------------
@dataclass(frozen=True)
class StockReport:
    """One system's count of one SKU at one location, as of a moment."""

    sku: str  # SKU code
    location: str  # location code
    on_hand: Any  # validated: an int ≥ 0
    as_of: datetime
    reference: str = ""  # the source's id for the line, for people reading an error


class StockFeedRefused(ValueError):
    """A feed message that cannot be applied; ``problems`` names every bad line."""

    def __init__(self, problems: list[str]):
        self.problems = problems
        shown = "; ".join(problems[:20])
        more = f"; and {len(problems) - 20} more" if len(problems) > 20 else ""
        super().__init__(f"stock feed refused, nothing applied: {shown}{more}")


@dataclass
class StockFeedResult:
    created: int = 0
    changed: int = 0
    refreshed: int = 0  # same figure, newer as_of
    superseded: int = 0  # older than the figure held: not applied
    skus: set[int] = field(default_factory=set)  # whose figure changed

    @property
    def applied(self) -> int:
        return self.created + self.changed + self.refreshed


def freshness_minutes(system: str, location_id: int | None) -> int:
    """The freshness SLA of ``system`` at a location (its own rule, the system's default rule,
    else :data:`DEFAULT_FRESHNESS_MINUTES`)."""
    rules = memo.remember(
        ("freshness-rules",),
        lambda: {
            (rule.reporting_system, rule.location_id): rule.max_age_minutes
            for rule in StockFreshnessRule.objects.all()
        },
    )
    own = rules.get((system, location_id)) or rules.get((system, None))
    return own or DEFAULT_FRESHNESS_MINUTES.get(system, 30)


def _line_name(index: int, report: StockReport) -> str:
    ref = f" ({str(report.reference)[:40]})" if report.reference else ""
    return f"line {index + 1}{ref}: {str(report.sku)[:64]!r} at {str(report.location)[:64]!r}"


@domain_service
def record_stock_reports(
    system: str, reports: Sequence[StockReport], *, source: str, reason: str = ""
) -> StockFeedResult:
    """Apply one feed message of ``system`` (``erp`` / ``wms`` / ``pos``); see the module doc."""
    if system not in FEED_SYSTEMS:
        raise ValueError(f"{system!r} does not report stock positions")
    reason = (reason or f"stock from {source}")[:100]
    now = timezone.now()
    codes = {str(r.sku) for r in reports}
    places = {str(r.location) for r in reports}
    skus = dict(SKU.objects.filter(code__in=codes).values_list("code", "pk"))
    locations = dict(Location.objects.filter(code__in=places).values_list("code", "pk"))
    problems: list[str] = []
    newest: dict[tuple[int, int], tuple[StockReport, int]] = {}
    for index, report in enumerate(reports):
        name = _line_name(index, report)
        quantity = report.on_hand
        line_problems = []
        if str(report.sku) not in skus:
            line_problems.append("unknown SKU")
        if str(report.location) not in locations:
            line_problems.append("unknown location")
        if isinstance(quantity, bool) or not isinstance(quantity, int):
            line_problems.append(f"on-hand {str(quantity)[:20]!r} is not a whole number")
        elif quantity < 0:
            line_problems.append(f"on-hand {quantity} is negative")
        elif quantity > 2_000_000_000:
            line_problems.append(f"on-hand {quantity} is not a plausible count")
        if not isinstance(report.as_of, datetime) or report.as_of.tzinfo is None:
            line_problems.append("as_of is not a moment with a time zone")
        elif report.as_of > now + CLOCK_SKEW:
            line_problems.append(f"as_of {report.as_of.isoformat()} is in the future")
        elif str(report.location) in locations:
            limit = freshness_minutes(system, locations[str(report.location)])
            if report.as_of < now - timedelta(minutes=limit):
                age = int((now - report.as_of).total_seconds() // 60)
                line_problems.append(
                    f"stale: as of {report.as_of.isoformat()} ({age} min old; the freshness "
                    f"SLA is {limit} min)"
                )
        if line_problems:
            problems.append(f"{name}: {', '.join(line_problems)}")
            continue
        key = (skus[str(report.sku)], locations[str(report.location)])
        held = newest.get(key)
        if held is None or held[0].as_of < report.as_of:
            newest[key] = (report, quantity)
    if problems:
        raise StockFeedRefused(problems)
    result = StockFeedResult()
    if not newest:
        return result
    with transaction.atomic(savepoint=False):
        _apply_positions(system, newest, source=source, reason=reason, result=result)
        touched = {location for _, location in newest}
        _close_stale({(system, location) for location in touched}, source=source)
        if result.skus:
            memo.after_batch("inventory.figures-moved", result.skus, figures_moved)
    return result


@domain_service
def figures_moved(sku_ids: set[int]) -> None:
    """After stock figures changed: ATS again for those SKUs (what changed marked for
    publishing) and their drift checked, in one transaction. A drain runs it once for its whole
    batch of feed messages (``memo.after_batch``); outside one it runs at once."""
    from controltower.inventory.drift import check_drift

    with transaction.atomic():
        mark_publications(ats.recompute(sku_ids))
        check_drift(sku_ids=set(sku_ids))


def _apply_positions(
    system: str,
    newest: dict[tuple[int, int], tuple[StockReport, int]],
    *,
    source: str,
    reason: str,
    result: StockFeedResult,
) -> None:
    held = {
        (p.sku_id, p.location_id): p
        for p in StockPosition.objects.select_for_update()
        .filter(reporting_system=system, sku_id__in={s for s, _ in newest})
        .filter(location_id__in={loc for _, loc in newest})
    }
    created, changed, refreshed = [], [], []
    for (sku_id, location_id), (report, quantity) in newest.items():
        position = held.get((sku_id, location_id))
        if position is None:
            position = StockPosition(
                sku_id=sku_id,
                location_id=location_id,
                reporting_system=system,
                on_hand=quantity,
                as_of=report.as_of,
                source_system=source[:64],
                source_updated_at=report.as_of,
            )
            created.append(position)
            result.skus.add(sku_id)
        elif position.as_of >= report.as_of:
            result.superseded += 1
        elif position.on_hand != quantity:
            position.on_hand, position.as_of = quantity, report.as_of
            position.source_updated_at = report.as_of
            stamp(position, reason)
            changed.append(position)
            result.skus.add(sku_id)
        else:
            position.as_of = position.source_updated_at = report.as_of
            refreshed.append(position)
    bulk_create(StockPosition, created, reason=reason)
    bulk_update(StockPosition, changed, ["on_hand", "as_of", "source_updated_at"])
    if refreshed:  # a newer count of the same figure: fresher, no history row
        from controltower.core.models import update_rows

        update_rows(StockPosition, refreshed, ["as_of", "source_updated_at"])
    result.created, result.changed, result.refreshed = len(created), len(changed), len(refreshed)


# --- freshness -----------------------------------------------------------------------------------
def stale_key(system: str, location_id: int) -> str:
    return f"stock-stale:{system}:{location_id}"


def _close_stale(pairs: set[tuple[str, int]], *, source: str) -> None:
    keys = {stale_key(system, location): f"fresh stock from {source}" for system, location in pairs}
    if OpsException.objects.open().filter(dedupe_key__in=list(keys)).exists():
        close_exceptions(keys)


@domain_service
def check_freshness(now: datetime | None = None) -> dict[str, int]:
    """Open one exception per (system, location) whose newest figure is older than its SLA (or a
    location a rule names that never reported); close the ones that are fresh again."""
    now = now or timezone.now()
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT reporting_system, location_id, max(as_of) FROM inventory_stockposition "
            "GROUP BY reporting_system, location_id"
        )
        newest = {(system, location): as_of for system, location, as_of in cursor.fetchall()}
    for rule in StockFreshnessRule.objects.filter(location__isnull=False):
        newest.setdefault((rule.reporting_system, rule.location_id), None)
    names = dict(
        Location.objects.filter(pk__in={loc for _, loc in newest}).values_list("pk", "name")
    )
    opened, fresh = 0, {}
    with memo.batch():
        for (system, location_id), as_of in sorted(newest.items(), key=lambda item: item[0]):
            limit = freshness_minutes(system, location_id)
            if as_of is not None and as_of >= now - timedelta(minutes=limit):
                fresh[stale_key(system, location_id)] = "fresh stock figures again"
                continue
            label = ReportingSystem(system).label if system in ReportingSystem.values else system
            where = names.get(location_id, f"location {location_id}")
            if as_of is None:
                title, age = f"No stock from {label} for {where} yet", None
            else:
                age = int((now - as_of).total_seconds() // 60)
                title = f"No stock from {label} for {where} for {age} min"
            open_exception(
                type=ExceptionType.STOCK_STALE,
                dedupe_key=stale_key(system, location_id),
                title=title,
                detail=f"The freshness SLA of {label} at {where} is {limit} min; its newest "
                f"figure is {'missing' if as_of is None else as_of.isoformat()}. ATS there "
                "still uses the last figure.",
                severity=Severity.MEDIUM,
                subject_type="catalog.location",
                subject_id=str(location_id),
                context={"system": system, "age_minutes": age, "sla_minutes": limit},
            )
            opened += 1
    closed = close_exceptions(fresh) if fresh else 0
    return {"stale": opened, "closed": closed}


# --- reservations --------------------------------------------------------------------------------
def _stock_controlled(channel_ids: Iterable[int]) -> set[int]:
    wanted = set(channel_ids)
    return set(
        ChannelAllocationRule.objects.filter(channel_id__in=wanted)
        .values_list("channel_id", flat=True)
        .distinct()
    )


def _lock_skus(sku_ids: Iterable[int]) -> None:
    """Serialise reservations per SKU until the transaction ends (SKU order: no deadlocks)."""
    ids = sorted(set(sku_ids))
    if not ids:
        return
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT pg_advisory_xact_lock(%s, s) FROM unnest(%s::integer[]) AS s ORDER BY s",
            [LOCK_NAMESPACE, ids],
        )


@dataclass(frozen=True)
class Shortfall:
    line: Any
    short: int
    available: int


def _reserve(lines: list[Any]) -> list[Reservation]:
    """Reservations for ``lines`` (each with its order loaded); see the module doc."""
    wanted = []
    for line in lines:
        if line.sku_id is None:
            continue
        quantity = line.quantity - line.quantity_cancelled
        if quantity > 0:
            wanted.append((line, quantity))
    if not wanted:
        return []
    controlled = _stock_controlled({line.order.channel_id for line, _ in wanted})
    rows: list[Reservation] = []
    shortfalls: list[Shortfall] = []
    placed = [(line, q) for line, q in wanted if line.order.channel_id in controlled]
    for line, quantity in wanted:
        if line.order.channel_id not in controlled:
            rows.append(_reservation(line, quantity, location_id=line.fulfilment_location_id))
    if placed:
        _lock_skus(line.sku_id for line, _ in placed)
        by_channel: dict[int, list[tuple[Any, int]]] = {}
        for line, quantity in placed:
            by_channel.setdefault(line.order.channel_id, []).append((line, quantity))
        for channel_id, items in by_channel.items():
            free = ats.available_at({line.sku_id for line, _ in items}, channel_id)
            left = {sku: dict(places) for sku, places in free.items()}
            for line, quantity in items:
                places = left.get(line.sku_id, {})
                total = sum(places.values())
                need = quantity
                # its own location first (a till sale's store), then the one that can give most
                own = line.fulfilment_location_id
                order_of = sorted(places, key=lambda loc: (loc != own, -places[loc], loc))
                for location_id in order_of:
                    take = min(need, places[location_id])
                    if take <= 0:
                        continue
                    rows.append(_reservation(line, take, location_id=location_id))
                    places[location_id] -= take
                    need -= take
                    if need == 0:
                        break
                if need > 0:
                    shortfalls.append(Shortfall(line, need, total))
    created = bulk_create(Reservation, rows, reason="reserved on order acceptance")
    for shortfall in shortfalls:
        _oversold(shortfall)
    sku_ids = {line.sku_id for line, _ in placed}
    if sku_ids:
        mark_publications(ats.recompute(sku_ids))
    return created


def _reservation(line: Any, quantity: int, *, location_id: int | None) -> Reservation:
    return Reservation(
        order_line=line,
        sku_id=line.sku_id,
        location_id=location_id,
        quantity=quantity,
        correlation_id=line.correlation_id,
    )


def _oversold(shortfall: Shortfall) -> None:
    line, order = shortfall.line, shortfall.line.order
    code = line.sku_code  # the line names its SKU: no read per shortfall
    unit = line.unit_price_amount
    open_exception(
        type=ExceptionType.OVERSELL,
        dedupe_key=f"oversell:{line.pk}",
        title=f"{order}: {code} oversold by {shortfall.short}",
        detail=f"Order {order} asked for {line.quantity - line.quantity_cancelled} × {code}; "
        f"the channel could sell {shortfall.available} when it was accepted, so "
        f"{shortfall.short} could not be reserved. Find stock, or cancel the line.",
        severity=Severity.HIGH,
        correlation_id=order.correlation_id,
        money_at_risk=Decimal(unit or 0) * shortfall.short,
        currency=order.currency,
        subject_type="orders.order",
        subject_id=str(order.pk),
        context={"sku": code, "short": shortfall.short, "available": shortfall.available},
    )
    logger.warning("order %s oversold %s × %s", order.pk, shortfall.short, code)


@domain_service
@transaction.atomic(savepoint=False)
def reserve_order_lines(order: Any, *, lines: list[Any] | None = None) -> list[Reservation]:
    """Take a reservation per open line with a known SKU (idempotent: a line already holding
    one is left alone). ``lines``: all of the order's lines, when the caller holds them."""
    if lines is None:
        lines = list(order.lines.all())
    for line in lines:
        line.order = order
    reserved = set(
        Reservation.objects.filter(order_line__in=[line.pk for line in lines]).values_list(
            "order_line_id", flat=True
        )
    )
    return _reserve([line for line in lines if line.pk not in reserved])


@domain_service
@transaction.atomic(savepoint=False)
def reserve_new_lines(lines: list[Any]) -> list[Reservation]:
    """Reservations for lines just created (of one order or many; each with its order)."""
    return _reserve(lines)


@domain_service
@transaction.atomic(savepoint=False)
def release_order_reservations(order: object, *, reason: str) -> int:
    open_ones = list(
        Reservation.objects.select_for_update().filter(
            order_line__order=order, status=ReservationStatus.OPEN
        )
    )
    for reservation in open_ones:
        reservation.status = ReservationStatus.RELEASED
        stamp(reservation, reason[:100])
    bulk_update(Reservation, open_ones, ["status"])
    placed = {r.sku_id for r in open_ones if r.location_id is not None}
    if placed:
        mark_publications(ats.recompute(placed))
    return len(open_ones)


def stock_changed(sku_ids: Iterable[int]) -> None:
    """Reservations of these SKUs changed elsewhere (consumed by a shipment): ATS again."""
    ids = set(sku_ids)
    if ids:
        mark_publications(ats.recompute(ids))


# --- what the storefront should show ------------------------------------------------------------
def mark_publications(changed: list[tuple[int, int, int]]) -> int:
    """Mark the changed ATS rows of storefront channels pending (one statement) and ask for a
    publish after commit. Returns how many were marked."""
    if not changed:
        return 0
    storefronts = memo.remember(
        ("storefront-channels",),
        lambda: set(Channel.objects.filter(type="woocommerce").values_list("pk", flat=True)),
    )
    rows = [(s, c, q) for s, c, q in changed if c in storefronts]
    if not rows:
        return 0
    with connection.cursor() as cursor:
        cursor.execute(
            """
            INSERT INTO inventory_stockpublication AS p
                (sku_id, channel_id, wanted, state, changed_at, error)
            SELECT s, c, q, %s, now(), ''
            FROM unnest(%s::bigint[], %s::bigint[], %s::integer[]) AS t(s, c, q)
            ON CONFLICT (sku_id, channel_id) DO UPDATE
                SET wanted = EXCLUDED.wanted, state = EXCLUDED.state,
                    changed_at = EXCLUDED.changed_at, error = ''
            """,
            [
                PublicationState.PENDING,
                [s for s, _, _ in rows],
                [c for _, c, _ in rows],
                [q for _, _, q in rows],
            ],
        )
    channels = sorted({c for _, c, _ in rows})
    transaction.on_commit(
        lambda: stock_publication_due.send(sender=StockPosition, channel_ids=channels)
    )
    return len(rows)


@dataclass(frozen=True)
class PublishItem:
    sku_id: int
    sku: str
    quantity: int


@domain_service
def take_pending_publications(channel_id: int, *, limit: int = 1000) -> list[PublishItem]:
    """Claim up to ``limit`` pending publications of a channel (``SKIP LOCKED``: two publishers
    never take the same rows), mark them sent: what to send, with the quantities as they are now
    (many changes since the last publish are one update). In the caller's transaction."""
    with connection.cursor() as cursor:
        cursor.execute(
            """
            WITH claimed AS (
                SELECT p.id FROM inventory_stockpublication p
                WHERE p.channel_id = %s AND p.state = %s
                ORDER BY p.changed_at, p.id LIMIT %s
                FOR UPDATE SKIP LOCKED
            )
            UPDATE inventory_stockpublication p SET state = %s, sent_at = now()
            FROM claimed, catalog_sku s
            WHERE p.id = claimed.id AND s.id = p.sku_id
            RETURNING p.sku_id, s.code, p.wanted
            """,
            [channel_id, PublicationState.PENDING, limit, PublicationState.SENT],
        )
        return [PublishItem(int(s), code, int(q)) for s, code, q in cursor.fetchall()]


@domain_service
def record_published(
    channel_id: int, *, accepted: dict[int, int], refused: dict[int, str] | None = None
) -> None:
    """The storefront's answer: ``accepted`` {sku id: quantity it now shows}; ``refused`` {sku
    id: why} (an exception per SKU, closed when a later publish of it is accepted)."""
    refused = refused or {}
    now = timezone.now()
    with transaction.atomic(savepoint=False), connection.cursor() as cursor:
        if accepted:
            cursor.execute(
                """
                UPDATE inventory_stockpublication p
                SET published = t.q, published_at = %s, error = '',
                    state = CASE WHEN p.state = %s AND p.wanted = t.q THEN %s ELSE p.state END
                FROM unnest(%s::bigint[], %s::integer[]) AS t(s, q)
                WHERE p.channel_id = %s AND p.sku_id = t.s
                """,
                [
                    now,
                    PublicationState.SENT,
                    PublicationState.PUBLISHED,
                    list(accepted),
                    list(accepted.values()),
                    channel_id,
                ],
            )
            keys = {f"publish:{channel_id}:{sku}": "published" for sku in accepted}
            if OpsException.objects.open().filter(dedupe_key__in=list(keys)).exists():
                close_exceptions(keys)
        if refused:
            cursor.execute(
                """
                UPDATE inventory_stockpublication p SET state = %s, error = t.e
                FROM unnest(%s::bigint[], %s::text[]) AS t(s, e)
                WHERE p.channel_id = %s AND p.sku_id = t.s
                """,
                [PublicationState.FAILED, list(refused), list(refused.values()), channel_id],
            )
            codes = dict(SKU.objects.filter(pk__in=list(refused)).values_list("pk", "code"))
            channel = Channel.objects.get(pk=channel_id)
            for sku_id, why in refused.items():
                open_exception(
                    type=ExceptionType.DEAD_LETTER,
                    dedupe_key=f"publish:{channel_id}:{sku_id}",
                    title=f"{channel}: stock of {codes.get(sku_id, sku_id)} not published",
                    detail=f"The storefront refused the stock update: {why}",
                    severity=Severity.HIGH,
                    subject_type="catalog.sku",
                    subject_id=str(sku_id),
                    context={"channel": channel.code, "sku": codes.get(sku_id, "")},
                )


@domain_service
def retry_publications(channel_id: int, sku_ids: Iterable[int] | None = None) -> int:
    """Sent or failed publications marked pending again (a sweep of lost sends, or a person)."""
    with connection.cursor() as cursor:
        cursor.execute(
            "UPDATE inventory_stockpublication SET state = %s, changed_at = now() "
            "WHERE channel_id = %s AND state IN (%s, %s) AND (%s OR sku_id = ANY(%s))",
            [
                PublicationState.PENDING,
                channel_id,
                PublicationState.SENT,
                PublicationState.FAILED,
                sku_ids is None,
                sorted(sku_ids or []),
            ],
        )
        count = cursor.rowcount
    if count:
        channels = [channel_id]
        transaction.on_commit(
            lambda: stock_publication_due.send(sender=StockPosition, channel_ids=channels)
        )
    return count
