"""WooCommerce products → the catalog, and our side of WooCommerce's batch endpoints.

Master data is pulled on a schedule with a watermark (``pull_products``: ``GET /products
?modified_after=…``, a variable parent's variations from ``/products/<id>/variations``) and
applied the same way when a ``product.created``/``product.updated`` webhook arrives
(``handle_product_event``; a variable parent's variations are read by a task after the inbox
transaction commits). ``product.deleted`` (body ``{"id": N}``) deactivates the SKUs, never
deletes them.

Batches (``products/batch``, ``products/<id>/variations/batch``) take at most 100 items per
request; ``batch_update_products``/``batch_update_variations`` split any list and read
WooCommerce's per-item errors from the answer.
"""

from __future__ import annotations

import json
import logging
import uuid
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

import httpx
from celery import current_app
from django.db import IntegrityError, transaction
from django.utils import timezone

from controltower.catalog.choices import SystemKind
from controltower.catalog.services import (
    ChannelProductData,
    ProductSync,
    apply_channel_product,
    deactivate_channel_product,
)
from integrations.runtime.models import Connection, InboundEvent, SyncCursor, SyncRun
from integrations.runtime.registry import Ignored
from integrations.woocommerce.client import (
    WooCommerceError,
    get_json,
    paginate,
    request_json,
    woo_client,
)
from integrations.woocommerce.translate import (
    TranslationError,
    product_modified_at,
    translate_product,
)

logger = logging.getLogger(__name__)

PULL = "products.pull"
SYNC_PRODUCT = "woocommerce.sync_product"
INITIAL_LOOKBACK = timedelta(days=3650)  # the first pull reads the whole catalog
OVERLAP = timedelta(seconds=60)  # modified_after is strict and has 1 s resolution
BATCH_LIMIT = 100  # WooCommerce refuses more with 413 woocommerce_rest_request_entity_too_large


def source_system_for(connection: Connection) -> str:
    return f"woocommerce:{connection.slug}"


def _currency(connection: Connection) -> str:
    return connection.channel.currency if connection.channel_id else "EUR"


def _channel(connection: Connection) -> str:
    """The code of the channel the store sells: its SKUs' prices are kept for it."""
    return connection.channel.code if connection.channel_id else ""


# --- webhooks (inside the inbox transaction: no HTTP here) -------------------------------------
def handle_product_event(event: InboundEvent) -> uuid.UUID | None:
    """Apply one ``product.*`` webhook; the product's correlation id, or None when ignored."""
    connection = event.connection
    try:
        payload = json.loads(event.body)
    except ValueError as exc:
        raise TranslationError(f"malformed JSON: {exc}") from exc
    if not isinstance(payload, dict):
        raise TranslationError("product payload must be a JSON object")
    source_system = source_system_for(connection)
    id_only = set(payload) == {"id"}
    if event.topic == "product.deleted" or id_only:
        product_id = payload.get("id")
        if isinstance(product_id, bool) or not isinstance(product_id, int) or product_id <= 0:
            raise TranslationError("id: missing or not a positive integer")
    if id_only and event.topic != "product.deleted":
        _queue_sync(connection.pk, product_id)
        logger.info(
            "%s for product %s carried only its id: read from the store", event.topic, product_id
        )
        return None
    if event.topic == "product.deleted":
        skus = deactivate_channel_product(
            system=SystemKind.WOOCOMMERCE,
            source_system=source_system,
            external_id=str(product_id),
            reason=f"deleted in {source_system}",
        )
        if not skus:
            return Ignored(f"product.deleted for product {product_id}, which we never held")
        logger.info("product %s deleted in the store: %s SKU(s) deactivated", product_id, len(skus))
        return skus[0].product.correlation_id
    if payload.get("type") == "variation":
        parent = payload.get("parent_id")
        if not isinstance(parent, int) or parent <= 0:
            raise TranslationError("parent_id: a variation without its parent")
        _queue_sync(connection.pk, parent)
        logger.info("variation %s changed: its parent %s is read again", payload.get("id"), parent)
        return None
    data = translate_product(
        payload,
        source_system=source_system,
        currency=_currency(connection),
        channel=_channel(connection),
    )
    result = apply_channel_product(data)
    if data.is_variable:
        _queue_sync(connection.pk, int(data.external_id))
    return result.product.correlation_id


def _queue_sync(connection_id: int, product_id: int) -> None:
    def send() -> None:
        try:
            current_app.send_task(
                SYNC_PRODUCT, kwargs={"connection_id": connection_id, "product_id": product_id}
            )
        except Exception:  # the broker is down: the scheduled pull catches up
            logger.exception("could not queue the sync of product %s", product_id)

    transaction.on_commit(send)


# --- reading products ----------------------------------------------------------------------------
def _variations(client: httpx.Client, product_id: int) -> list[Any]:
    return [v for page in paginate(client, f"/products/{product_id}/variations") for v in page]


def _read(connection: Connection, payload: Any, client: httpx.Client) -> ChannelProductData:
    """Translate one product, reading a variable parent's variations first (no transaction)."""
    variations = None
    if isinstance(payload, dict) and payload.get("type") == "variable":
        product_id = payload.get("id")
        if not isinstance(product_id, int) or product_id <= 0:
            raise TranslationError("id: missing or not a positive integer")
        variations = _variations(client, product_id)
    return translate_product(
        payload,
        source_system=source_system_for(connection),
        currency=_currency(connection),
        variations=variations,
        channel=_channel(connection),
    )


class RetryableRead(RuntimeError):
    """WooCommerce could not answer now (408/429/5xx): read again later."""


def sync_product(connection: Connection, product_id: int) -> ProductSync | None:
    """Read one product (and its variations) from the store and apply it; gone: deactivate.

    408/429/5xx raise ``RetryableRead``; other refusals raise ``WooCommerceError``.
    """
    try:
        with woo_client(connection) as client:
            payload = get_json(client, f"/products/{product_id}")
            data = _read(connection, payload, client)
    except WooCommerceError as exc:
        if exc.status_code == 404:
            deactivate_channel_product(
                system=SystemKind.WOOCOMMERCE,
                source_system=source_system_for(connection),
                external_id=str(product_id),
                reason=f"gone from {source_system_for(connection)}",
            )
            return None
        if exc.status_code in (408, 429) or (exc.status_code or 500) >= 500:
            raise RetryableRead(str(exc)) from exc
        raise
    return apply_channel_product(data)


def _fmt(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S")


def pull_products(connection: Connection) -> SyncRun:
    """Apply every product modified since the watermark; each product (with its variations) in
    its own transaction. A product that cannot be translated is counted and named in the run's
    error, and the others still apply."""
    run = SyncRun.objects.create(connection=connection, name=PULL)
    cursor, _ = SyncCursor.objects.get_or_create(connection=connection, name=PULL)
    since = (cursor.watermark or timezone.now() - INITIAL_LOOKBACK) - OVERLAP
    counts = {"fetched": 0, "created": 0, "changed": 0, "unchanged": 0, "stale": 0, "refused": 0}
    refused: list[str] = []
    newest = cursor.watermark
    try:
        with woo_client(connection) as client:
            params = {
                "modified_after": _fmt(since),
                "dates_are_gmt": "true",
                "orderby": "modified",
                "order": "asc",
            }
            for page in paginate(client, "/products", params):
                for payload in page:
                    if isinstance(payload, dict) and payload.get("type") == "variation":
                        continue  # read with its parent
                    counts["fetched"] += 1
                    try:
                        result = apply_channel_product(_read(connection, payload, client))
                        modified = product_modified_at(payload)
                    except (TranslationError, IntegrityError) as exc:
                        counts["refused"] += 1
                        refused.append(f"product {_id_of(payload)}: {exc}")
                        continue
                    newest = max(filter(None, [newest, modified]), default=None)
                    outcome = (
                        "stale"
                        if result.stale
                        else "created"
                        if result.created
                        else "changed"
                        if result.changed
                        else "unchanged"
                    )
                    counts[outcome] += 1
        if newest is not None and newest != cursor.watermark:
            cursor.watermark = newest
            cursor.save(update_fields=["watermark", "updated_at"])
        run.status = SyncRun.Status.SUCCEEDED
        run.error = "\n".join(refused)[:4000]
    except (httpx.HTTPError, WooCommerceError, ValueError) as exc:
        run.status = SyncRun.Status.FAILED
        run.error = "\n".join([f"{type(exc).__name__}: {exc}", *refused])[:4000]
        logger.warning("woocommerce product pull for %s failed: %s", connection.slug, exc)
    run.counts = counts
    run.finished_at = timezone.now()
    run.save(update_fields=["status", "counts", "error", "finished_at"])
    return run


def _id_of(payload: Any) -> str:
    return str(payload.get("id", "?")) if isinstance(payload, dict) else "?"


# --- batches -------------------------------------------------------------------------------------
@dataclass(frozen=True)
class BatchItemError:
    """One item WooCommerce refused inside a batch (the batch itself answered 200)."""

    id: Any
    code: str
    message: str
    status: int | None = None


@dataclass
class BatchResult:
    updated: list[dict[str, Any]] = field(default_factory=list)
    errors: list[BatchItemError] = field(default_factory=list)
    requests: int = 0

    @property
    def ok(self) -> bool:
        return not self.errors


def stock_update(item_id: int, quantity: int) -> dict[str, Any]:
    """One batch item setting a product's or variation's stock."""
    return {"id": item_id, "manage_stock": True, "stock_quantity": quantity}


def price_update(item_id: int, regular_price: Decimal) -> dict[str, Any]:
    """One batch item setting a regular price (WooCommerce takes amounts as strings)."""
    if isinstance(regular_price, float):
        raise TypeError("prices must be Decimal, not float")
    return {"id": item_id, "regular_price": f"{Decimal(regular_price):.2f}"}


def chunks(items: Sequence[Any], size: int = BATCH_LIMIT) -> Iterator[list[Any]]:
    if size < 1:
        raise ValueError("chunk size must be at least 1")
    for start in range(0, len(items), size):
        yield list(items[start : start + size])


def _batch_update(
    client: httpx.Client, path: str, updates: Sequence[dict[str, Any]]
) -> BatchResult:
    result = BatchResult()
    for chunk in chunks(updates):
        answer = request_json(client, "POST", path, json_body={"update": chunk})
        result.requests += 1
        items = answer.get("update", []) if isinstance(answer, dict) else None
        if not isinstance(items, list):
            raise WooCommerceError("batch answer has no update list", status_code=200, path=path)
        for item in items:
            error = item.get("error") if isinstance(item, dict) else None
            if isinstance(error, dict):
                data = error.get("data") if isinstance(error.get("data"), dict) else {}
                result.errors.append(
                    BatchItemError(
                        id=item.get("id"),
                        code=str(error.get("code") or ""),
                        message=str(error.get("message") or ""),
                        status=data.get("status"),
                    )
                )
            elif isinstance(item, dict):
                result.updated.append(item)
    return result


def batch_update_products(client: httpx.Client, updates: Sequence[dict[str, Any]]) -> BatchResult:
    """``POST /products/batch`` in requests of at most 100 updates."""
    return _batch_update(client, "/products/batch", updates)


def batch_update_variations(
    client: httpx.Client, product_id: int, updates: Sequence[dict[str, Any]]
) -> BatchResult:
    """``POST /products/<id>/variations/batch`` in requests of at most 100 updates."""
    return _batch_update(client, f"/products/{product_id}/variations/batch", updates)
