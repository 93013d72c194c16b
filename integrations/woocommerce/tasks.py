"""Scheduled WooCommerce jobs (beat): the order backfill poll and the webhook re-arm watcher."""

from __future__ import annotations

import logging

from celery import shared_task
from django.urls import reverse

from controltower.catalog.choices import SystemKind
from controltower.core.context import acting_as
from integrations.runtime.locks import singleton
from integrations.runtime.models import Connection
from integrations.woocommerce import backfill

logger = logging.getLogger(__name__)


def _connections() -> list[Connection]:
    return list(Connection.objects.filter(kind=SystemKind.WOOCOMMERCE, enabled=True))


@shared_task(name="woocommerce.backfill_orders")
def backfill_orders() -> dict[str, dict[str, int]]:
    results: dict[str, dict[str, int]] = {}
    with acting_as("sync.woocommerce"), singleton("woocommerce.backfill_orders") as held:
        if not held:
            return results
        for connection in _connections():
            results[connection.slug] = backfill.backfill_orders(connection).counts
    return results


@shared_task(name="woocommerce.rearm_webhooks")
def rearm_webhooks() -> dict[str, dict[str, int]]:
    results: dict[str, dict[str, int]] = {}
    with acting_as("sync.woocommerce"), singleton("woocommerce.rearm_webhooks") as held:
        if not held:
            return results
        for connection in _connections():
            path = reverse(
                "webhooks:receive", kwargs={"kind": connection.kind, "slug": connection.slug}
            )
            results[connection.slug] = backfill.rearm_webhooks(
                connection, receiver_path=path
            ).counts
    return results
