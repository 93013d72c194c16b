"""Stock to the storefront: what each channel may sell (ATS) published to its WooCommerce shop.

Why this shape: a storefront must show a figure close to the truth within a second, yet
WooCommerce counts calls (every REST call boots WordPress) and takes at most 100 items a batch.
So nothing is sent per change:

1. Every ATS change of a WooCommerce channel marks its ``StockPublication`` pending (the domain,
   ``controltower.inventory.services``) and, after commit, sends ``stock_publication_due``.
   :func:`schedule_publish_on_due` asks for one ``woocommerce.publish_stock`` per channel at most
   every ``COALESCE_MS`` (Redis ``SET NX PX``; the task deletes the key as it starts, so a change
   that lands during a run asks for the next one). Many changes of a SKU in that moment are one
   pending row: one update, with the last figure.
2. :func:`publish_stock` (the task) claims the channel's pending rows (``SKIP LOCKED``), finds
   each SKU's WooCommerce id in its ``SKUCrossReference`` (``<product>`` or
   ``<parent>/<variation>``, as the product pull files them), and writes one outbox message
   ``woocommerce.stock.publish`` per request of at most 100 items — simple products to
   ``POST /products/batch``, variations to their parent's ``/products/<id>/variations/batch`` —
   in the claiming transaction. A SKU with no WooCommerce id is refused at once, with a reason a
   person can act on.
3. The outbox delivers each message (rate limit, circuit breaker, retries with backoff, dead
   letters: the runtime's). :func:`deliver_stock_publish` first drops the items a later change
   superseded (their newer figure is pending or on its way), so a batch retried after an outage
   never sets an old figure over a newer one. :func:`record_stock_published` maps WooCommerce's
   per-item answers back: accepted with the quantity the shop now shows, or refused with its
   ``code`` and ``message`` (an exception per SKU, ``record_published``).

``inventory.sweep_publications`` (beat) re-pends what was sent and never answered and re-sends
the signal, so a lost task or a dead worker delays a figure, never loses it.
"""

from __future__ import annotations

import contextlib
import logging
import uuid
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

import httpx
import redis
from celery import shared_task
from django.conf import settings
from django.db import transaction
from django.dispatch import receiver
from django.utils import timezone

from controltower.catalog.choices import SystemKind
from controltower.catalog.models import SKUCrossReference
from controltower.core.context import acting_as, correlated
from controltower.inventory.models import StockPublication
from controltower.inventory.services import (
    PublishItem,
    record_published,
    take_pending_publications,
)
from controltower.inventory.signals import stock_publication_due
from integrations.runtime.http import correlation_headers, result_from_error, result_from_response
from integrations.runtime.models import Connection, OutboundMessage
from integrations.runtime.outbox import enqueue_outbound
from integrations.runtime.redis_store import redis_client
from integrations.runtime.registry import DeliveryResult, PoisonMessage, deliverer, on_delivered
from integrations.woocommerce.client import WooCommerceError, woo_client
from integrations.woocommerce.products import BATCH_LIMIT, chunks, stock_update

logger = logging.getLogger(__name__)

PUBLISH_STOCK = "woocommerce.publish_stock"  # the task, sent by name
STOCK_PUBLISH = "woocommerce.stock.publish"  # outbound message kind
SUBJECT_TYPE = "catalog.channel"
SERVICE_USER = "sync.woocommerce"
COALESCE_MS = 200  # at most one publish scheduled per channel in this long
TAKE_LIMIT = 1000  # pending rows claimed per transaction (≤ 10 requests)
MAX_ROUNDS = 20  # claims per run; more waiting: the run asks for another
PRODUCTS_BATCH = "/products/batch"


# --- 1. scheduling -------------------------------------------------------------------------------
def schedule_key(channel_id: int) -> str:
    return f"ct:kick:{settings.CELERY_TASK_DEFAULT_QUEUE}:{PUBLISH_STOCK}:{channel_id}"


def schedule_publish(channel_id: int) -> bool:
    """Ask for one ``woocommerce.publish_stock`` of the channel in ``COALESCE_MS``, unless one
    was asked for in that time (it will take this change too). False when none was sent."""
    from celery import current_app

    try:
        if not redis_client().set(schedule_key(channel_id), "1", nx=True, px=COALESCE_MS):
            return False
    except redis.RedisError:
        logger.warning(
            "stock publish of channel %s: redis unavailable; the sweep sends it", channel_id
        )
        return False
    try:
        current_app.send_task(
            PUBLISH_STOCK,
            kwargs={"channel_id": channel_id},
            queue=settings.CELERY_TASK_DEFAULT_QUEUE,
            countdown=COALESCE_MS / 1000,
        )
    except Exception:  # broker down: inventory.sweep_publications asks again
        logger.exception("stock publish of channel %s: could not enqueue", channel_id)
        with contextlib.suppress(redis.RedisError):
            redis_client().delete(schedule_key(channel_id))
        return False
    return True


@receiver(stock_publication_due, dispatch_uid="woocommerce.schedule_stock_publish")
def schedule_publish_on_due(sender: Any, *, channel_ids: Iterable[int], **_: Any) -> None:
    """Sent after the commit that marked the rows pending: ask for a publish of each channel."""
    for channel_id in sorted(set(channel_ids)):
        schedule_publish(int(channel_id))


# --- 2. claiming and queuing ---------------------------------------------------------------------
@dataclass(frozen=True)
class Target:
    """Where WooCommerce keeps a SKU's stock: a simple product, or a variation of ``parent``."""

    item: PublishItem
    woo_id: int
    parent: int | None


def source_system_for(connection: Connection) -> str:
    return f"woocommerce:{connection.slug}"


def store_connection(channel_id: int) -> Connection | None:
    """The enabled WooCommerce connection selling the channel (the first by slug)."""
    return (
        Connection.objects.filter(kind=SystemKind.WOOCOMMERCE, channel_id=channel_id, enabled=True)
        .order_by("slug")
        .first()
    )


def _positive(text: str) -> int | None:
    return int(text) if text.isdigit() and int(text) > 0 else None


def _target(item: PublishItem, code: str, external_id: str) -> Target | None:
    """A cross reference filed by the product pull: ``<product>`` for a simple product (its
    ``system_code``), ``<parent>/<variation>`` for a variation (``system_code`` = variation)."""
    woo_id = _positive(code)
    if woo_id is None:
        return None
    parent, _, variation = external_id.partition("/")
    if not variation:
        return Target(item, woo_id, None) if _positive(parent) == woo_id else None
    if _positive(variation) != woo_id or _positive(parent) is None:
        return None
    return Target(item, woo_id, _positive(parent))


def targets_for(
    connection: Connection, items: list[PublishItem]
) -> tuple[list[Target], dict[int, str]]:
    """Each item's place in the shop, and ``{sku id: why}`` for those with none."""
    references = SKUCrossReference.objects.filter(
        system=SystemKind.WOOCOMMERCE,
        source_system=source_system_for(connection),
        sku_id__in=[item.sku_id for item in items],
    ).values_list("sku_id", "system_code", "external_id")
    held: dict[int, tuple[str, str]] = {}
    for sku_id, code, external_id in references.order_by("pk"):
        held.setdefault(sku_id, (code, external_id))
    targets, missing = [], {}
    for item in items:
        code, external_id = held.get(item.sku_id, ("", ""))
        target = _target(item, code, external_id)
        if target is None:
            missing[item.sku_id] = (
                f"no WooCommerce product id for SKU {item.sku}: sync products first"
            )
        else:
            targets.append(target)
    return targets, missing


def requests_for(targets: list[Target]) -> list[tuple[int | None, list[Target]]]:
    """The requests to make: ``(parent or None, ≤ 100 targets)``, simple products first, then
    each parent's variations, in id order (the same input gives the same requests)."""
    groups: dict[int | None, list[Target]] = {}
    for target in sorted(targets, key=lambda t: t.woo_id):
        groups.setdefault(target.parent, []).append(target)
    order = sorted(groups, key=lambda parent: (parent is not None, parent or 0))
    return [(parent, chunk) for parent in order for chunk in chunks(groups[parent])]


def path_for(parent: int | None) -> str:
    return PRODUCTS_BATCH if parent is None else f"/products/{parent}/variations/batch"


def queue_publications(connection: Connection, *, limit: int = TAKE_LIMIT) -> int:
    """One claim in one transaction: take the channel's pending rows, write the outbox messages,
    refuse the SKUs the shop cannot be told about. How many rows it took."""
    channel_id = connection.channel_id
    if channel_id is None:
        raise ValueError(f"connection {connection.slug} has no channel: no stock to publish")
    with transaction.atomic():
        items = take_pending_publications(channel_id, limit=limit)
        if not items:
            return 0
        targets, missing = targets_for(connection, items)
        stamp = timezone.now().strftime("%Y%m%dT%H%M%S")
        ref = f"{connection.slug[:30]}-{stamp}-{uuid.uuid4().hex[:8]}"
        for number, (parent, chunk) in enumerate(requests_for(targets), start=1):
            key = f"woocommerce:{connection.slug}:stock:{ref}:{number}"
            correlation_id = uuid.uuid5(uuid.NAMESPACE_URL, key)
            with correlated(correlation_id):
                enqueue_outbound(
                    connection,
                    kind=STOCK_PUBLISH,
                    idempotency_key=key,
                    payload={
                        "channel_id": channel_id,
                        "parent_id": parent,
                        "items": [
                            {
                                "sku_id": t.item.sku_id,
                                "sku": t.item.sku,
                                "id": t.woo_id,
                                "quantity": t.item.quantity,
                            }
                            for t in chunk
                        ],
                    },
                    correlation_id=correlation_id,
                    subject_type=SUBJECT_TYPE,
                    subject_id=str(channel_id),
                )
        if missing:
            record_published(channel_id, accepted={}, refused=missing)
    logger.info(
        "stock of %s SKU(s) queued for %s (%s without a WooCommerce id)",
        len(targets),
        connection.slug,
        len(missing),
    )
    return len(items)


@shared_task(name=PUBLISH_STOCK)
def publish_stock(*, channel_id: int) -> int:
    """Queue everything pending for the channel's shop; how many SKUs it took. No enabled
    connection: the rows stay pending (the sweep asks again once there is one)."""
    with contextlib.suppress(redis.RedisError):  # a change from now on asks for another run
        redis_client().delete(schedule_key(channel_id))
    connection = store_connection(channel_id)
    if connection is None:
        logger.info("stock of channel %s waits: no enabled WooCommerce connection", channel_id)
        return 0
    taken = 0
    with acting_as(SERVICE_USER):
        for _ in range(MAX_ROUNDS):
            count = queue_publications(connection)
            taken += count
            if count < TAKE_LIMIT:
                break
        else:
            schedule_publish(channel_id)
    return taken


# --- 3. delivering -------------------------------------------------------------------------------
@dataclass(frozen=True)
class StockItem:
    sku_id: int
    sku: str
    id: int
    quantity: int


@dataclass(frozen=True)
class StockRequest:
    channel_id: int
    path: str
    items: list[StockItem]


def _whole(value: Any, *, minimum: int) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and value >= minimum


def request_of(message: OutboundMessage) -> StockRequest:
    """The message's payload, checked whole (an edited replay too); ``PoisonMessage`` naming the
    first thing wrong."""
    payload = message.payload
    if not isinstance(payload, dict):
        raise PoisonMessage("payload must be an object")
    channel_id, parent, items = (
        payload.get("channel_id"),
        payload.get("parent_id"),
        payload.get("items"),
    )
    if channel_id != message.connection.channel_id:
        raise PoisonMessage(
            f"payload.channel_id {str(channel_id)[:20]!r} is not the channel of connection "
            f"{message.connection.slug} ({message.connection.channel_id})"
        )
    if parent is not None and not _whole(parent, minimum=1):
        raise PoisonMessage(
            f"payload.parent_id must be a WooCommerce product id or null, not {str(parent)[:20]!r}"
        )
    if not isinstance(items, list) or not items:
        raise PoisonMessage("payload.items must be a non-empty list")
    if len(items) > BATCH_LIMIT:
        raise PoisonMessage(
            f"payload.items has {len(items)} items; WooCommerce takes at most {BATCH_LIMIT} a "
            "request"
        )
    checked: list[StockItem] = []
    for index, item in enumerate(items):
        where = f"payload.items[{index}]"
        if not isinstance(item, dict):
            raise PoisonMessage(f"{where} must be an object")
        for name, minimum in (("sku_id", 1), ("id", 1), ("quantity", 0)):
            if not _whole(item.get(name), minimum=minimum):
                raise PoisonMessage(
                    f"{where}.{name} must be a whole number ≥ {minimum}, not "
                    f"{str(item.get(name))[:20]!r}"
                )
        checked.append(
            StockItem(item["sku_id"], str(item.get("sku", ""))[:64], item["id"], item["quantity"])
        )
    ids = [item.id for item in checked]
    if len(set(ids)) != len(ids):
        raise PoisonMessage("payload.items names a WooCommerce id twice")
    return StockRequest(channel_id, path_for(parent), checked)


def _superseded(request: StockRequest) -> set[int]:
    """The items whose figure is no longer the one to show: a later change marked them pending
    again with another figure (that figure is queued or on its way), or the row is gone."""
    wanted = dict(
        StockPublication.objects.filter(
            channel_id=request.channel_id, sku_id__in=[item.sku_id for item in request.items]
        ).values_list("sku_id", "wanted")
    )
    return {item.sku_id for item in request.items if wanted.get(item.sku_id) != item.quantity}


def _refused(request: StockRequest, response: httpx.Response) -> str:
    """A whole request refused, in WooCommerce's words (its ``code`` and ``message``)."""
    error = WooCommerceError.from_response(response, path=request.path)
    if response.status_code == 413:
        return f"{error} (this connector sends at most {BATCH_LIMIT} items; the shop takes fewer)"
    return str(error)


@deliverer(STOCK_PUBLISH, label="WooCommerce: publish stock")
def deliver_stock_publish(message: OutboundMessage) -> DeliveryResult:
    """``POST <path> {"update": [...]}`` with each live item's absolute ``stock_quantity``:
    sending it twice leaves the same stock. The answer keeps WooCommerce's ``update`` list and
    adds ``superseded`` (sku ids left out)."""
    request = request_of(message)
    superseded = _superseded(request)
    live = [item for item in request.items if item.sku_id not in superseded]
    if not live:
        return DeliveryResult(ok=True, body={"update": [], "superseded": sorted(superseded)})
    body = {"update": [stock_update(item.id, item.quantity) for item in live]}
    try:
        with woo_client(message.connection) as client:
            response = client.post(request.path, json=body, headers=correlation_headers())
    except httpx.HTTPError as exc:
        return result_from_error(exc)
    result = result_from_response(response)
    if not result.ok:
        return DeliveryResult(
            ok=False,
            status_code=result.status_code,
            body=result.body,
            error=_refused(request, response),
            retryable=result.retryable,
            retry_after_s=result.retry_after_s,
        )
    answered = result.body.get("update") if isinstance(result.body, dict) else None
    if not isinstance(answered, list):  # applied or not, we cannot tell: ask again (absolute)
        return DeliveryResult(
            ok=False,
            status_code=result.status_code,
            body=result.body,
            error=f"{request.path}: the batch answer has no update list",
        )
    return DeliveryResult(
        ok=True,
        status_code=result.status_code,
        body={"update": answered, "superseded": sorted(superseded)},
    )


def _item_id(entry: Any) -> int | None:
    value = entry.get("id") if isinstance(entry, dict) else None
    if isinstance(value, str) and value.isdigit():
        return int(value)
    return value if _whole(value, minimum=1) else None


def outcomes_of(request: StockRequest, body: Any) -> tuple[dict[int, int], dict[int, str]]:
    """WooCommerce's per-item answers as ``accepted`` {sku id: stock it shows} and ``refused``
    {sku id: why}; an item it sent and the answer does not mention is refused, never left
    *sent* for ever."""
    by_id = {item.id: item for item in request.items}
    body = body if isinstance(body, dict) else {}
    superseded = set(body.get("superseded") or [])
    accepted: dict[int, int] = {}
    refused: dict[int, str] = {}
    for entry in body.get("update") or []:
        item = by_id.get(_item_id(entry))
        if item is None or item.sku_id in superseded:
            continue
        error = entry.get("error")
        if isinstance(error, dict):
            code = str(error.get("code") or "error")
            said = str(error.get("message") or "no message")
            refused[item.sku_id] = f"WooCommerce refused product {item.id}: {code}: {said}"
            continue
        quantity = entry.get("stock_quantity")
        if _whole(quantity, minimum=-(2**31)):
            accepted[item.sku_id] = quantity
        else:
            refused[item.sku_id] = (
                f"WooCommerce answered product {item.id} without a stock quantity (is stock "
                "management off for it?)"
            )
    answered = {*accepted, *refused, *superseded}
    for item in request.items:
        if item.sku_id not in answered:
            refused[item.sku_id] = (
                f"WooCommerce's answer to {request.path} did not mention product {item.id}"
            )
    return accepted, refused


@on_delivered(STOCK_PUBLISH)
def record_stock_published(message: OutboundMessage, result: DeliveryResult) -> None:
    """Each item's answer through the domain (``record_published``), in the delivery's
    transaction."""
    request = request_of(message)
    accepted, refused = outcomes_of(request, result.body)
    if accepted or refused:
        record_published(request.channel_id, accepted=accepted, refused=refused)
    if refused:
        logger.warning(
            "%s refused the stock of %s SKU(s): %s",
            message.connection.slug,
            len(refused),
            "; ".join(list(refused.values())[:5]),
        )
