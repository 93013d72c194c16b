"""The integration backlog per connection and message kind, for the API and the dashboards."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from django.db.models import Count, Min, Q
from django.utils import timezone

from integrations.runtime import breaker
from integrations.runtime.choices import InboundStatus, OutboundStatus
from integrations.runtime.models import DeliveryAttempt, InboundEvent, OutboundMessage

ERROR_WINDOW = timedelta(minutes=15)


def outbound_backlog() -> list[dict[str, Any]]:
    now = timezone.now()
    active = Q(status__in=[OutboundStatus.PENDING, OutboundStatus.IN_FLIGHT, OutboundStatus.DEAD])
    rows = (
        OutboundMessage.objects.filter(active)
        .values("connection__slug", "kind")
        .annotate(
            pending=Count("id", filter=Q(status=OutboundStatus.PENDING, attempts=0)),
            retrying=Count("id", filter=Q(status=OutboundStatus.PENDING, attempts__gt=0)),
            in_flight=Count("id", filter=Q(status=OutboundStatus.IN_FLIGHT)),
            dead=Count("id", filter=Q(status=OutboundStatus.DEAD)),
            oldest=Min(
                "created_at",
                filter=Q(status__in=[OutboundStatus.PENDING, OutboundStatus.IN_FLIGHT]),
            ),
        )
    )
    attempts = (
        DeliveryAttempt.objects.filter(started_at__gte=now - ERROR_WINDOW)
        .values("message__connection__slug", "message__kind")
        .annotate(
            total=Count("id"),
            failed=Count(
                "id",
                filter=Q(status_code__isnull=True) | Q(status_code__gte=400) & ~Q(status_code=409),
            ),
        )
    )
    rates = {(a["message__connection__slug"], a["message__kind"]): a for a in attempts}
    keys = {(r["connection__slug"], r["kind"]) for r in rows} | set(rates)
    by_key = {(r["connection__slug"], r["kind"]): r for r in rows}
    result = []
    for slug, kind in sorted(keys):
        row = by_key.get((slug, kind), {})
        rate = rates.get((slug, kind), {"total": 0, "failed": 0})
        oldest = row.get("oldest")
        result.append(
            {
                "connection": slug,
                "kind": kind,
                "pending": row.get("pending", 0),
                "retrying": row.get("retrying", 0),
                "in_flight": row.get("in_flight", 0),
                "dead": row.get("dead", 0),
                "oldest_age_s": round((now - oldest).total_seconds(), 1) if oldest else None,
                "attempts_15m": rate["total"],
                "error_rate_15m": round(rate["failed"] / rate["total"], 3)
                if rate["total"]
                else 0.0,
                "circuit": _circuit(f"{slug}:{kind}"),
            }
        )
    return result


def _circuit(endpoint: str) -> str:
    try:
        return str(breaker.state(endpoint)["state"])
    except Exception:  # Redis unavailable: say so rather than fail the whole report
        return "unknown"


def inbound_backlog() -> list[dict[str, Any]]:
    now = timezone.now()
    rows = (
        InboundEvent.objects.filter(
            status__in=[InboundStatus.PENDING, InboundStatus.PROCESSING, InboundStatus.FAILED]
        )
        .values("connection__slug")
        .annotate(
            pending=Count("id", filter=Q(status=InboundStatus.PENDING)),
            processing=Count("id", filter=Q(status=InboundStatus.PROCESSING)),
            failed=Count("id", filter=Q(status=InboundStatus.FAILED)),
            oldest=Min(
                "received_at",
                filter=Q(status__in=[InboundStatus.PENDING, InboundStatus.PROCESSING]),
            ),
        )
        .order_by("connection__slug")
    )
    return [
        {
            "connection": r["connection__slug"],
            "pending": r["pending"],
            "processing": r["processing"],
            "failed": r["failed"],
            "oldest_age_s": round((now - r["oldest"]).total_seconds(), 1) if r["oldest"] else None,
        }
        for r in rows
    ]
