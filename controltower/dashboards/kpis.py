"""The executive KPIs, each one SQL aggregate over the canonical rows.

Every figure is computed by PostgreSQL (GROUP BY, conditional counts, ``percentile_cont``), so a
busy month costs the same few queries as a quiet day; Python only lays the grouped rows onto the
window's calendar days (a day without orders still gets its bar, at zero). Each KPI returns what
both the chart and the table under it show, plus ``empty`` so the page can say so in words.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from decimal import Decimal
from typing import Any

from django.db.models import (
    Aggregate,
    Count,
    DurationField,
    ExpressionWrapper,
    F,
    Q,
    Sum,
)
from django.db.models.functions import TruncDate
from django.utils import timezone

from controltower.exceptions.choices import ExceptionType
from controltower.exceptions.models import OpsException
from controltower.orders.choices import OrderState, PostingStatus
from controltower.orders.models import Order

logger = logging.getLogger(__name__)

WINDOWS = (7, 14, 30)
DEFAULT_WINDOW = 14
# Orders that will never be posted: they do not count against posting completion.
NEVER_POSTED = (OrderState.CANCELLED, OrderState.FAILED, OrderState.REFUNDED)
HOUR = timedelta(hours=1)
DAY = timedelta(days=1)


class Percentile(Aggregate):
    """PostgreSQL's ``percentile_cont(f) WITHIN GROUP (ORDER BY expr)`` (interpolated, so the
    p50 of 2 h and 4 h is 3 h, as a spreadsheet's MEDIAN would say)."""

    function = "PERCENTILE_CONT"
    template = "%(function)s(%(fraction)s) WITHIN GROUP (ORDER BY %(expressions)s)"
    allow_distinct = False

    def __init__(self, expression: Any, *, fraction: float, **extra: Any) -> None:
        if not 0 <= fraction <= 1:
            raise ValueError(f"a percentile is between 0 and 1, not {fraction}")
        super().__init__(expression, fraction=repr(float(fraction)), **extra)


@dataclass(frozen=True)
class Window:
    """The last ``days`` calendar days (in the site's time zone), today included."""

    days: int
    now: datetime

    @classmethod
    def last(cls, days: int, *, now: datetime | None = None) -> Window:
        return cls(days=days, now=now or timezone.now())

    @property
    def first_day(self) -> date:
        return timezone.localdate(self.now) - timedelta(days=self.days - 1)

    @property
    def start(self) -> datetime:
        first = self.first_day
        return timezone.make_aware(datetime(first.year, first.month, first.day))

    @property
    def calendar(self) -> list[date]:
        return [self.first_day + timedelta(days=n) for n in range(self.days)]

    @property
    def label(self) -> str:
        today = timezone.localdate(self.now)
        return f"the last {self.days} days ({self.first_day:%d %b} – {today:%d %b %Y})"


@dataclass
class OrdersPerDay:
    days: list[date]
    channels: list[str]
    counts: dict[str, list[int]]  # channel → one count per day
    totals: list[int]
    total: int

    @property
    def empty(self) -> bool:
        return self.total == 0

    def rows(self) -> list[dict[str, Any]]:
        return [
            {"day": day, "counts": [self.counts[c][i] for c in self.channels], "total": total}
            for i, (day, total) in enumerate(zip(self.days, self.totals, strict=True))
        ]

    def chart(self) -> dict[str, Any]:
        return {
            "type": "stacked-bar",
            "labels": [f"{day:%d %b}" for day in self.days],
            "datasets": [{"label": c, "data": self.counts[c]} for c in self.channels],
            "unit": "orders",
        }


def orders_per_day(window: Window) -> OrdersPerDay:
    grouped = (
        Order.objects.filter(placed_at__gte=window.start, placed_at__lte=window.now)
        .annotate(day=TruncDate("placed_at"))
        .values("day", "channel__code")
        .annotate(n=Count("id"))
        .order_by()
    )
    cells = {(row["day"], row["channel__code"]): row["n"] for row in grouped}
    days = window.calendar
    channels = sorted({channel for _, channel in cells})
    counts = {c: [cells.get((day, c), 0) for day in days] for c in channels}
    totals = [sum(counts[c][i] for c in channels) for i in range(len(days))]
    return OrdersPerDay(days, channels, counts, totals, sum(totals))


@dataclass
class CycleDay:
    day: date
    shipped: int
    p50: timedelta | None
    p90: timedelta | None

    @property
    def p50_hours(self) -> float | None:
        return _hours(self.p50)

    @property
    def p90_hours(self) -> float | None:
        return _hours(self.p90)


def _hours(value: timedelta | None) -> float | None:
    return None if value is None else round(value / HOUR, 1)


@dataclass
class CycleTimes:
    days: list[CycleDay]

    @property
    def shipped(self) -> int:
        return sum(d.shipped for d in self.days)

    @property
    def empty(self) -> bool:
        return self.shipped == 0

    def chart(self) -> dict[str, Any]:
        return {
            "type": "line",
            "labels": [f"{d.day:%d %b}" for d in self.days],
            "datasets": [
                {"label": "p50 (hours)", "data": [d.p50_hours for d in self.days]},
                {"label": "p90 (hours)", "data": [d.p90_hours for d in self.days]},
            ],
            "unit": "hours",
        }


def cycle_times(window: Window) -> CycleTimes:
    """Placed → shipped (the order's last shipment), grouped by the day it shipped."""
    elapsed = ExpressionWrapper(F("shipped_at") - F("placed_at"), output_field=DurationField())
    grouped = (
        Order.objects.filter(shipped_at__gte=window.start, shipped_at__lte=window.now)
        .annotate(day=TruncDate("shipped_at"))
        .values("day")
        .annotate(
            shipped=Count("id"),
            p50=Percentile(elapsed, fraction=0.5, output_field=DurationField()),
            p90=Percentile(elapsed, fraction=0.9, output_field=DurationField()),
        )
        .order_by()
    )
    by_day = {row["day"]: row for row in grouped}
    return CycleTimes(
        [
            CycleDay(
                day,
                by_day[day]["shipped"] if day in by_day else 0,
                by_day[day]["p50"] if day in by_day else None,
                by_day[day]["p90"] if day in by_day else None,
            )
            for day in window.calendar
        ]
    )


AGE_BUCKETS = (("under 1 h", None, HOUR), ("1–24 h", HOUR, DAY), ("over 24 h", DAY, None))


@dataclass
class PostingCompletion:
    invoiced: int
    posted: int
    unposted_by_age: list[tuple[str, int]] = field(default_factory=list)

    @property
    def empty(self) -> bool:
        return self.invoiced == 0 and not self.unposted

    @property
    def unposted(self) -> int:
        return sum(n for _, n in self.unposted_by_age)

    @property
    def share_posted(self) -> Decimal | None:
        if not self.invoiced:
            return None
        return (Decimal(100) * self.posted / self.invoiced).quantize(Decimal("0.1"))

    def chart(self) -> dict[str, Any]:
        return {
            "type": "bar",
            "labels": [label for label, _ in self.unposted_by_age],
            "datasets": [
                {"label": "unposted orders", "data": [n for _, n in self.unposted_by_age]}
            ],
            "unit": "orders",
        }


def posting_completion(window: Window) -> PostingCompletion:
    """Of the orders fully invoiced in the window, how many the ledger has posted; and every
    invoiced order still unposted (whenever invoiced) by how long it has waited."""
    invoiced = Order.objects.filter(invoiced_at__isnull=False).exclude(state__in=NEVER_POSTED)
    is_posted = Q(posting_status=PostingStatus.POSTED)
    in_window = Q(invoiced_at__gte=window.start, invoiced_at__lte=window.now)
    buckets: dict[str, Any] = {}
    for index, (_, older_than, newer_than) in enumerate(AGE_BUCKETS):
        condition = ~is_posted
        if older_than is not None:
            condition &= Q(invoiced_at__lte=window.now - older_than)
        if newer_than is not None:
            condition &= Q(invoiced_at__gt=window.now - newer_than)
        buckets[f"age_{index}"] = Count("id", filter=condition)
    figures = invoiced.aggregate(
        invoiced=Count("id", filter=in_window),
        posted=Count("id", filter=in_window & is_posted),
        **buckets,
    )
    return PostingCompletion(
        invoiced=figures["invoiced"],
        posted=figures["posted"],
        unposted_by_age=[
            (label, figures[f"age_{index}"]) for index, (label, _, _) in enumerate(AGE_BUCKETS)
        ],
    )


@dataclass
class RiskRow:
    type: str
    label: str
    currency: str
    amount: Decimal
    exceptions: int


@dataclass
class MoneyAtRisk:
    rows: list[RiskRow]

    @property
    def empty(self) -> bool:
        return not self.rows

    def chart(self) -> dict[str, Any]:
        labels = sorted({row.label for row in self.rows})
        currencies = sorted({row.currency for row in self.rows})
        cell = {(row.label, row.currency): float(row.amount) for row in self.rows}
        return {
            "type": "bar",
            "labels": labels,
            "datasets": [
                {"label": currency, "data": [cell.get((label, currency), 0) for label in labels]}
                for currency in currencies
            ],
            "unit": "money",
        }


def money_at_risk() -> MoneyAtRisk:
    """Open (and assigned) exceptions, whatever their age, summed per type and currency."""
    labels = dict(ExceptionType.choices)
    grouped = (
        OpsException.objects.open()
        .at_risk()
        .values("type", "currency")
        .annotate(amount=Sum("money_at_risk_amount"), exceptions=Count("id"))
        .order_by("-amount", "type")
    )
    return MoneyAtRisk(
        [
            RiskRow(
                row["type"],
                labels.get(row["type"], row["type"]),
                row["currency"],
                row["amount"],
                row["exceptions"],
            )
            for row in grouped
        ]
    )


@dataclass
class StockHealth:
    """Per day: stock accuracy (the day's last full drift check: the share of SKU × location
    pairs two or more systems count that agree within tolerance) and the oversells opened."""

    days: list[date]
    accuracy: list[float | None]  # percent, None on a day without a check
    oversells: list[int]

    @property
    def empty(self) -> bool:
        return all(a is None for a in self.accuracy) and not any(self.oversells)

    @property
    def latest(self) -> float | None:
        return next((a for a in reversed(self.accuracy) if a is not None), None)

    def rows(self) -> list[dict[str, Any]]:
        return [
            {"day": day, "accuracy": accuracy, "oversells": n}
            for day, accuracy, n in zip(self.days, self.accuracy, self.oversells, strict=True)
        ]

    def charts(self) -> dict[str, Any]:
        labels = [f"{day:%d %b}" for day in self.days]
        return {
            "accuracy": {
                "type": "line",
                "labels": labels,
                "datasets": [{"label": "within tolerance", "data": self.accuracy}],
                "unit": "%",
            },
            "oversells": {
                "type": "bar",
                "labels": labels,
                "datasets": [{"label": "oversells", "data": self.oversells}],
                "unit": "orders",
            },
        }


def stock_health(window: Window) -> StockHealth:
    from controltower.inventory.models import StockAccuracySample

    last_per_day: dict[date, tuple[int, int]] = {}
    samples = StockAccuracySample.objects.filter(
        taken_at__gte=window.start, taken_at__lte=window.now
    ).order_by("taken_at")
    for sample in samples.only("taken_at", "pairs", "within_tolerance"):
        last_per_day[timezone.localdate(sample.taken_at)] = (sample.pairs, sample.within_tolerance)
    oversold = dict(
        OpsException.objects.filter(
            type=ExceptionType.OVERSELL, opened_at__gte=window.start, opened_at__lte=window.now
        )
        .annotate(day=TruncDate("opened_at"))
        .values_list("day")
        .annotate(n=Count("id"))
        .order_by()
    )
    days = window.calendar
    accuracy = []
    for day in days:
        pairs, within = last_per_day.get(day, (0, 0))
        accuracy.append(round(100 * within / pairs, 1) if pairs else None)
    return StockHealth(days, accuracy, [oversold.get(day, 0) for day in days])


@dataclass
class Dashboard:
    window: Window
    orders: OrdersPerDay
    cycle: CycleTimes
    posting: PostingCompletion
    risk: MoneyAtRisk
    stock: StockHealth

    def charts(self) -> dict[str, Any]:
        """What static/js/kpi-charts.js draws (embedded with json_script, never inline JS)."""
        return {
            "orders": self.orders.chart(),
            "cycle": self.cycle.chart(),
            "posting": self.posting.chart(),
            "risk": self.risk.chart(),
            **self.stock.charts(),
        }


def dashboard(days: int = DEFAULT_WINDOW, *, now: datetime | None = None) -> Dashboard:
    window = Window.last(days, now=now)
    return Dashboard(
        window=window,
        orders=orders_per_day(window),
        cycle=cycle_times(window),
        posting=posting_completion(window),
        risk=money_at_risk(),
        stock=stock_health(window),
    )
