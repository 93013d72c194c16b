"""Scheduled safety nets for WooCommerce, which never retries a failed webhook delivery and
disables a webhook after repeated failures:

- ``backfill_orders``: polls ``GET /wp-json/wc/v3/orders?modified_after=<watermark>`` (GMT,
  ``orderby=modified``, 100 per page, ``X-WP-TotalPages``) and feeds orders we do not hold at that
  version into the inbox, through the same path as webhooks;
- ``rearm_webhooks``: re-activates our webhooks that WooCommerce disabled.

Each run is a ``SyncRun`` row; the watermark is a ``SyncCursor``.
"""

from __future__ import annotations

import json
import logging
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
from django.db import transaction
from django.utils import timezone

from controltower.orders.models import Order
from integrations.runtime.http import client_for
from integrations.runtime.inbox import inbound_dedupe_key, record_inbound_event
from integrations.runtime.models import Connection, SyncCursor, SyncRun
from integrations.woocommerce.translate import TranslationError, order_modified_at

logger = logging.getLogger(__name__)

API = "/wp-json/wc/v3"
PER_PAGE = 100
OVERLAP = timedelta(seconds=60)  # modified_after is strict and has 1 s resolution
INITIAL_LOOKBACK = timedelta(days=1)
BACKFILL = "orders.backfill"


class WooCommerceError(RuntimeError):
    pass


def _client(connection: Connection) -> httpx.Client:
    credentials = connection.credentials
    client = client_for(connection)
    client.auth = httpx.BasicAuth(
        str(credentials.get("consumer_key", "")), str(credentials.get("consumer_secret", ""))
    )
    return client


def _get(client: httpx.Client, path: str, params: dict[str, Any]) -> httpx.Response:
    response = client.get(f"{API}{path}", params=params)
    if response.status_code != 200:
        raise WooCommerceError(f"GET {path}: HTTP {response.status_code}: {response.text[:300]}")
    return response


def _fmt(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S")


def _held_versions(source_system: str, ids: list[str]) -> dict[str, datetime | None]:
    return dict(
        Order.objects.filter(source_system=source_system, external_id__in=ids).values_list(
            "external_id", "source_updated_at"
        )
    )


def backfill_orders(connection: Connection) -> SyncRun:
    """Fetch orders modified since the watermark; queue those we do not hold at that version."""
    run = SyncRun.objects.create(connection=connection, name=BACKFILL)
    cursor, _ = SyncCursor.objects.get_or_create(connection=connection, name=BACKFILL)
    since = (cursor.watermark or timezone.now() - INITIAL_LOOKBACK) - OVERLAP
    counts = {"fetched": 0, "queued": 0, "current": 0, "duplicate": 0, "pages": 0}
    newest = cursor.watermark
    source_system = f"woocommerce:{connection.slug}"
    try:
        with _client(connection) as client:
            page, pages = 1, 1
            while page <= pages:
                response = _get(
                    client,
                    "/orders",
                    {
                        "modified_after": _fmt(since),
                        "dates_are_gmt": "true",
                        "orderby": "modified",
                        "order": "asc",
                        "per_page": PER_PAGE,
                        "page": page,
                    },
                )
                pages = int(response.headers.get("X-WP-TotalPages", "1") or 1)
                orders = response.json()
                counts["pages"] += 1
                held = _held_versions(source_system, [str(o.get("id")) for o in orders])
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
                page += 1
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
        with _client(connection) as client:
            hooks = _get(client, "/webhooks", {"per_page": PER_PAGE}).json()
            for hook in hooks:
                counts["seen"] += 1
                ours = (
                    str(hook.get("delivery_url", ""))
                    .rstrip("/")
                    .endswith(receiver_path.rstrip("/"))
                )
                if ours and hook.get("status") == "disabled":
                    response = client.put(f"{API}/webhooks/{hook['id']}", json={"status": "active"})
                    if response.status_code != 200:
                        raise WooCommerceError(
                            f"PUT /webhooks/{hook['id']}: HTTP {response.status_code}"
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
