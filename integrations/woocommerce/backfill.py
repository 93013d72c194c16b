"""Scheduled safety nets for WooCommerce, which never retries a failed webhook delivery and
disables a webhook after repeated failures:

- ``backfill_orders``: polls ``GET /wp-json/wc/v3/orders?modified_after=<watermark>`` (GMT,
  ``orderby=modified``, 100 per page, ``X-WP-TotalPages``) and feeds orders we do not hold at that
  version — nor waiting for it in the inbox — into the inbox, through the same path as webhooks;
- ``rearm_webhooks``: re-activates our webhooks that WooCommerce disabled.

Each run is a ``SyncRun`` row; the watermark is a ``SyncCursor``.
"""

from __future__ import annotations

import json
import logging
from datetime import UTC, datetime, timedelta

import httpx
from django.db import transaction
from django.db.models import Max
from django.utils import timezone

from controltower.orders.models import Order
from integrations.runtime.choices import InboundStatus
from integrations.runtime.inbox import inbound_dedupe_key, record_inbound_event
from integrations.runtime.models import Connection, InboundEvent, SyncCursor, SyncRun
from integrations.woocommerce.client import (
    PER_PAGE,
    WooCommerceError,
    get_json,
    paginate,
    request_json,
    woo_client,
)
from integrations.woocommerce.translate import TranslationError, order_modified_at

logger = logging.getLogger(__name__)

OVERLAP = timedelta(seconds=60)  # modified_after is strict and has 1 s resolution
INITIAL_LOOKBACK = timedelta(days=1)
BACKFILL = "orders.backfill"

__all__ = ["WooCommerceError", "backfill_orders", "rearm_webhooks"]


def _fmt(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S")


def _held_versions(source_system: str, ids: list[str]) -> dict[str, datetime | None]:
    return dict(
        Order.objects.filter(source_system=source_system, external_id__in=ids).values_list(
            "external_id", "source_updated_at"
        )
    )


# An inbox event in one of these already carries (or carried) its version to the order.
_IN_HAND = (InboundStatus.PENDING, InboundStatus.PROCESSING, InboundStatus.PROCESSED)


def _inbox_versions(connection: Connection, ids: list[str]) -> dict[str, datetime]:
    """The newest version of each order the inbox already holds, waiting or applied: a lagging
    inbox is not a missed webhook (its body differs from the REST one, so the dedupe key would
    let the same version in twice)."""
    return dict(
        InboundEvent.objects.filter(
            connection=connection,
            resource="order",
            resource_id__in=ids,
            status__in=_IN_HAND,
            source_modified_at__isnull=False,
        )
        .values("resource_id")
        .annotate(newest=Max("source_modified_at"))
        .values_list("resource_id", "newest")
    )


def backfill_orders(connection: Connection) -> SyncRun:
    """Fetch orders modified since the watermark; queue those we do not hold at that version."""
    run = SyncRun.objects.create(connection=connection, name=BACKFILL)
    cursor, _ = SyncCursor.objects.get_or_create(connection=connection, name=BACKFILL)
    since = (cursor.watermark or timezone.now() - INITIAL_LOOKBACK) - OVERLAP
    counts = {
        "fetched": 0,
        "queued": 0,
        "current": 0,
        "in_inbox": 0,
        "duplicate": 0,
        "pages": 0,
    }
    newest = cursor.watermark
    source_system = f"woocommerce:{connection.slug}"
    try:
        with woo_client(connection) as client:
            pages = paginate(
                client,
                "/orders",
                {
                    "modified_after": _fmt(since),
                    "dates_are_gmt": "true",
                    "orderby": "modified",
                    "order": "asc",
                    "per_page": PER_PAGE,
                },
            )
            for orders in pages:
                counts["pages"] += 1
                ids = [str(o.get("id")) for o in orders]
                held = _held_versions(source_system, ids)
                waiting = _inbox_versions(connection, ids)
                for payload in orders:
                    counts["fetched"] += 1
                    try:
                        modified = order_modified_at(payload)
                    except TranslationError:
                        modified = None
                    newest = max(filter(None, [newest, modified]), default=None)
                    held_at = held.get(str(payload.get("id")))
                    if held_at is not None and modified is not None and held_at >= modified:
                        counts["current"] += 1
                        continue
                    in_inbox = waiting.get(str(payload.get("id")))
                    if in_inbox is not None and modified is not None and in_inbox >= modified:
                        counts["in_inbox"] += 1
                        continue
                    body = json.dumps(payload).encode()
                    created = record_inbound_event(
                        connection,
                        body=body,
                        headers={"X-CT-Source": "backfill"},
                        topic="order.backfill",
                        resource="order",
                        resource_id=str(payload.get("id", "")),
                        source_modified_at=modified,
                        dedupe_key=inbound_dedupe_key(
                            connection,
                            resource="order",
                            resource_id=str(payload.get("id", "")),
                            modified=str(payload.get("date_modified_gmt", "")),
                            body=body,
                        ),
                    )
                    counts["queued" if created else "duplicate"] += 1
        with transaction.atomic():
            if newest is not None and newest != cursor.watermark:
                cursor.watermark = newest
                cursor.save(update_fields=["watermark", "updated_at"])
            run.status = SyncRun.Status.SUCCEEDED
    except (httpx.HTTPError, WooCommerceError, ValueError) as exc:
        run.status = SyncRun.Status.FAILED
        run.error = f"{type(exc).__name__}: {exc}"
        logger.warning("woocommerce backfill for %s failed: %s", connection.slug, exc)
    run.counts = counts
    run.finished_at = timezone.now()
    run.save(update_fields=["status", "counts", "error", "finished_at"])
    return run


def rearm_webhooks(connection: Connection, *, receiver_path: str) -> SyncRun:
    """Set our disabled webhooks (delivery URL ending in ``receiver_path``) active again."""
    run = SyncRun.objects.create(connection=connection, name="webhooks.rearm")
    counts = {"seen": 0, "rearmed": 0}
    try:
        with woo_client(connection) as client:
            hooks = get_json(client, "/webhooks", {"per_page": PER_PAGE})
            for hook in hooks:
                counts["seen"] += 1
                ours = (
                    str(hook.get("delivery_url", ""))
                    .rstrip("/")
                    .endswith(receiver_path.rstrip("/"))
                )
                if ours and hook.get("status") == "disabled":
                    request_json(
                        client, "PUT", f"/webhooks/{hook['id']}", json_body={"status": "active"}
                    )
                    counts["rearmed"] += 1
                    logger.warning(
                        "woocommerce webhook %s (%s) was disabled; re-activated",
                        hook["id"],
                        hook.get("topic"),
                    )
        run.status = SyncRun.Status.SUCCEEDED
    except (httpx.HTTPError, WooCommerceError, ValueError) as exc:
        run.status = SyncRun.Status.FAILED
        run.error = f"{type(exc).__name__}: {exc}"
    run.counts = counts
    run.finished_at = timezone.now()
    run.save(update_fields=["status", "counts", "error", "finished_at"])
    return run
