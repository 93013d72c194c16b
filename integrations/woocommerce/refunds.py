"""WooCommerce refunds: reported inside ``order.updated`` (the order's ``refunds`` summary), read
in detail from ``GET /orders/<id>/refunds/<rid>`` afterwards.

The inbox handler records each refund from the summary (amount, reason, WooCommerce's refund
id) in the order's transaction; when that commits, a task reads the refund's lines and tax. No
HTTP call runs inside the inbox transaction, and both steps are idempotent (a refund is unique
by source system and WooCommerce id; its lines are written once).
"""

from __future__ import annotations

import logging
from datetime import timedelta

import httpx
from celery import current_app
from django.db import transaction
from django.utils import timezone

from controltower.core.context import correlated
from controltower.orders.models import Order
from controltower.returns.choices import RefundEventType
from controltower.returns.models import Refund
from controltower.returns.services import (
    ChannelRefundData,
    RefundError,
    record_channel_refunds,
    record_refund_lines,
    refuse_refund_lines,
)
from integrations.runtime.models import Connection
from integrations.runtime.registry import PoisonMessage
from integrations.woocommerce.client import WooCommerceError, get_json, woo_client
from integrations.woocommerce.translate import TranslationError, translate_refund_lines

logger = logging.getLogger(__name__)

FETCH_REFUND_DETAILS = "woocommerce.fetch_refund_details"


def record_order_refunds(
    connection: Connection, order: Order, refunds: tuple[ChannelRefundData, ...]
) -> list[Refund]:
    """Inside the inbox transaction: record new refunds of ``order``; on commit, queue the
    reading of their lines (and of any held refund whose lines are still unread)."""
    if not refunds:
        return []
    try:
        created = record_channel_refunds(order, refunds, source_system=order.source_system)
    except RefundError as exc:
        raise PoisonMessage(str(exc)) from exc
    undetailed = list(
        Refund.objects.undetailed()
        .filter(order=order, external_id__in=[r.external_id for r in refunds])
        .values_list("pk", flat=True)
    )
    for refund_id in undetailed:
        transaction.on_commit(lambda refund_id=refund_id: queue_refund_details(refund_id))
    return created


def queue_refund_details(refund_id: int) -> None:
    """Ask a worker to read one refund's lines (by task name: no import of the task module)."""
    try:
        current_app.send_task(FETCH_REFUND_DETAILS, kwargs={"refund_id": refund_id})
    except Exception:  # the broker is down: the refund stays undetailed and is swept later
        logger.exception("could not queue the details of refund %s", refund_id)


class RetryableFetch(RuntimeError):
    """WooCommerce could not answer now (network, 408/429/5xx): try again later."""


def fetch_refund_details(refund: Refund, connection: Connection) -> Refund:
    """Read the refund's lines from WooCommerce and record them; already detailed: no call.

    A refund whose lines cannot be taken as reported (an unknown order item, more money than the
    refund) is recorded as refused, not retried. Network trouble raises ``RetryableFetch``.
    """
    if refund.details_fetched_at is not None:
        return refund
    order = refund.order
    path = f"/orders/{order.external_id}/refunds/{refund.external_id}"
    with correlated(refund.correlation_id):
        try:
            with woo_client(connection) as client:
                payload = get_json(client, path, params={"dates_are_gmt": "true"})
        except httpx.HTTPError as exc:
            raise RetryableFetch(f"GET {path}: {type(exc).__name__}: {exc}") from exc
        except WooCommerceError as exc:
            if exc.status_code in (408, 429) or (exc.status_code or 500) >= 500:
                raise RetryableFetch(str(exc)) from exc
            refuse_refund_lines(refund, reason=str(exc))
            return refund
        try:
            lines = translate_refund_lines(payload, order_external_id=order.external_id)
            return record_refund_lines(refund, lines)
        except (TranslationError, RefundError) as exc:
            refuse_refund_lines(refund, reason=str(exc))
            return refund


def connection_for(refund: Refund) -> Connection | None:
    """The WooCommerce connection a refund came through (``woocommerce:<slug>``)."""
    _, _, slug = refund.source_system.partition(":")
    return Connection.objects.filter(slug=slug).first()


SWEEP_AFTER = timedelta(minutes=2)


def refunds_to_detail(*, older_than: timedelta = SWEEP_AFTER, limit: int = 500) -> list[int]:
    """WooCommerce refunds whose lines are unread and were never refused, oldest first."""
    return list(
        Refund.objects.undetailed()
        .filter(
            source_system__startswith="woocommerce:", created_at__lt=timezone.now() - older_than
        )
        .exclude(events__type=RefundEventType.DETAILS_REFUSED)
        .order_by("pk")
        .values_list("pk", flat=True)[:limit]
    )
