"""Scheduled WooCommerce jobs (beat): the order backfill poll and the webhook re-arm watcher."""

from __future__ import annotations

import logging

import httpx
from celery import shared_task
from django.urls import reverse

from controltower.catalog.choices import SystemKind
from controltower.core.context import acting_as
from controltower.returns.models import Refund
from integrations.runtime.locks import singleton
from integrations.runtime.models import Connection
from integrations.woocommerce import backfill, products, refunds

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


# --- refunds and products (woocommerce.refunds / woocommerce.products) ---------------------------
@shared_task(
    name=refunds.FETCH_REFUND_DETAILS,
    autoretry_for=(refunds.RetryableFetch,),
    retry_backoff=2,
    retry_backoff_max=300,
    retry_jitter=True,
    max_retries=8,
)
def fetch_refund_details(*, refund_id: int) -> str:
    """Read one refund's lines from its store; already read (or gone): nothing to do."""
    refund = Refund.objects.select_related("order").filter(pk=refund_id).first()
    if refund is None:
        logger.info("refund %s is gone; nothing to read", refund_id)
        return "missing"
    if refund.details_fetched_at is not None:
        return "done"
    connection = refunds.connection_for(refund)
    if connection is None:
        logger.warning("refund %s: no connection for %s", refund_id, refund.source_system)
        return "no-connection"
    with acting_as("sync.woocommerce"):
        refund = refunds.fetch_refund_details(refund, connection)
    return "done" if refund.details_fetched_at is not None else "refused"


@shared_task(name="woocommerce.detail_refunds")
def detail_refunds() -> int:
    """Queue the reading of refunds whose lines are still unread (a lost task, a broker outage)."""
    with singleton("woocommerce.detail_refunds") as held:
        if not held:
            return 0
        ids = refunds.refunds_to_detail()
        for refund_id in ids:
            refunds.queue_refund_details(refund_id)
    return len(ids)


@shared_task(
    name=products.SYNC_PRODUCT,
    autoretry_for=(httpx.HTTPError, products.RetryableRead),
    retry_backoff=2,
    retry_backoff_max=300,
    retry_jitter=True,
    max_retries=8,
)
def sync_product(*, connection_id: int, product_id: int) -> str:
    """Read one product (with its variations) from its store into the catalog."""
    connection = Connection.objects.filter(pk=connection_id, enabled=True).first()
    if connection is None:
        logger.info(
            "connection %s is gone or disabled; product %s not read", connection_id, product_id
        )
        return "no-connection"
    with acting_as("sync.woocommerce"):
        result = products.sync_product(connection, product_id)
    return "deactivated" if result is None else "applied"


@shared_task(name="woocommerce.pull_products")
def pull_products() -> dict[str, dict[str, int]]:
    results: dict[str, dict[str, int]] = {}
    with acting_as("sync.woocommerce"), singleton("woocommerce.pull_products") as held:
        if not held:
            return results
        for connection in _connections():
            results[connection.slug] = products.pull_products(connection).counts
    return results
