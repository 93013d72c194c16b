"""The ops stock pages: SKUs with what each channel may sell, and one SKU across locations and
systems — every system's figure with its age, the open reservations, ATS per channel, what the
storefront was last told, and the SKU's open stock exceptions (drift, freshness, oversells)."""

from __future__ import annotations

from typing import Any

from django.contrib.auth.decorators import login_required, permission_required
from django.core.paginator import Paginator
from django.db.models import Q, Sum
from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, render
from django.utils import timezone
from django.views.decorators.http import require_GET

from controltower.catalog.models import SKU, Channel, Location
from controltower.exceptions.choices import ExceptionType
from controltower.exceptions.models import OpsException
from controltower.inventory.choices import DEFAULT_AUTHORITY, ReportingSystem, ReservationStatus
from controltower.inventory.models import (
    AvailableToSell,
    Reservation,
    StockPosition,
    StockPublication,
)
from controltower.inventory.services import freshness_minutes

PAGE_SIZE = 50
SYSTEMS = (ReportingSystem.ERP, ReportingSystem.WMS, ReportingSystem.POS)
STOCK_EXCEPTIONS = (
    ExceptionType.INVENTORY_DRIFT,
    ExceptionType.STOCK_STALE,
    ExceptionType.OVERSELL,
)


@require_GET
@login_required
@permission_required("inventory.view_stockposition", raise_exception=True)
def stock_list(request: HttpRequest) -> HttpResponse:
    """SKUs (search by code or name), each with ATS per channel."""
    term = (request.GET.get("q") or "").strip()[:64]
    skus = SKU.objects.filter(is_active=True).order_by("code")
    if term:
        skus = skus.filter(Q(code__icontains=term) | Q(name__icontains=term))
    page = Paginator(skus, PAGE_SIZE).get_page(request.GET.get("page") or 1)
    channels = list(Channel.objects.order_by("code"))
    figures = {
        (row.sku_id, row.channel_id): row.quantity
        for row in AvailableToSell.objects.filter(sku__in=list(page.object_list))
    }
    rows = [
        {"sku": sku, "ats": [figures.get((sku.pk, channel.pk)) for channel in channels]}
        for sku in page.object_list
    ]
    open_stock = OpsException.objects.open().filter(type__in=STOCK_EXCEPTIONS).count()
    context = {"page": page, "rows": rows, "channels": channels, "q": term, "open": open_stock}
    return render(request, "inventory/stock_list.html", context)


def _authority(location: Location) -> str:
    return location.stock_authority or DEFAULT_AUTHORITY.get(location.type, ReportingSystem.ERP)


@require_GET
@login_required
@permission_required("inventory.view_stockposition", raise_exception=True)
def stock_detail(request: HttpRequest, code: str) -> HttpResponse:
    sku = get_object_or_404(SKU, code=code)
    now = timezone.now()
    positions = StockPosition.objects.filter(sku=sku).select_related("location")
    held = dict(
        Reservation.objects.filter(sku=sku, status=ReservationStatus.OPEN)
        .values_list("location_id")
        .annotate(total=Sum("quantity"))
    )
    by_location: dict[int, dict[str, Any]] = {}
    for position in positions:
        place = by_location.setdefault(
            position.location_id,
            {"location": position.location, "figures": {}, "reserved": 0},
        )
        limit = freshness_minutes(position.reporting_system, position.location_id)
        age = int((now - position.as_of).total_seconds() // 60)
        place["figures"][position.reporting_system] = {
            "on_hand": position.on_hand,
            "as_of": position.as_of,
            "age": age,
            "stale": age > limit,
        }
    for location in Location.objects.filter(pk__in=[pk for pk in held if pk]):
        by_location.setdefault(location.pk, {"location": location, "figures": {}, "reserved": 0})
    places = []
    for place in sorted(by_location.values(), key=lambda p: p["location"].code):
        location = place["location"]
        place["reserved"] = held.get(location.pk, 0)
        place["authority"] = _authority(location)
        place["cells"] = [place["figures"].get(system) for system in SYSTEMS]
        values = [f["on_hand"] for f in place["figures"].values()]
        place["spread"] = max(values) - min(values) if len(values) > 1 else 0
        places.append(place)
    publications = {
        p.channel_id: p for p in StockPublication.objects.filter(sku=sku).select_related("channel")
    }
    channels = [
        {
            "channel": row.channel,
            "ats": row.quantity,
            "computed_at": row.computed_at,
            "publication": publications.get(row.channel_id),
        }
        for row in AvailableToSell.objects.filter(sku=sku).select_related("channel")
    ]
    reservations = (
        Reservation.objects.filter(sku=sku, status=ReservationStatus.OPEN)
        .select_related("order_line__order__channel", "location")
        .order_by("-created_at")[:50]
    )
    exceptions = OpsException.objects.open().filter(
        Q(type__in=[ExceptionType.INVENTORY_DRIFT, ExceptionType.OVERSELL], context__sku=sku.code)
        | Q(
            type=ExceptionType.STOCK_STALE,
            subject_type="catalog.location",
            subject_id__in=[str(pk) for pk in by_location],
        )
    )
    context = {
        "sku": sku,
        "systems": [ReportingSystem(s).label for s in SYSTEMS],
        "places": places,
        "unplaced": held.get(None, 0),
        "channels": channels,
        "reservations": reservations,
        "exceptions": exceptions.order_by("-opened_at")[:20],
    }
    return render(request, "inventory/stock_detail.html", context)
