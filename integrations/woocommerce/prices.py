"""The ERP price pushed back to a WooCommerce store: the ops action on a price-policy exception
(``controltower.pricing.services.request_price_push``) becomes one outbox message
``woocommerce.price.push``, delivered through the batch endpoints.

Why the batch endpoints for one item: it is the same path as the stock publisher's (a simple
product to ``POST /products/batch``, a variation to ``/products/<parent>/variations/batch``), and
WooCommerce answers a refused item inside a 200 with its ``code`` and ``message``, which is the
answer recorded on the push. The update sets ``regular_price`` to the ERP price, clears
``sale_price`` and the sale's schedule (``date_on_sale_from_gmt`` / ``date_on_sale_to_gmt``), and
sets the ERP's tax class (the standard one as WooCommerce's blank). Sending it twice leaves the
same product. The exception stays open until the next product sync (the store's
``product.updated`` webhook, or the scheduled pull) shows the price in policy.
"""

from __future__ import annotations

import logging
from decimal import Decimal
from typing import Any

import httpx
from django.dispatch import receiver

from controltower.catalog.choices import SystemKind
from controltower.catalog.models import SKUCrossReference
from controltower.pricing.models import PricePush
from controltower.pricing.services import PricePushError, record_price_push_answer
from controltower.pricing.signals import price_push_requested
from integrations.runtime.http import correlation_headers, result_from_error, result_from_response
from integrations.runtime.models import Connection, OutboundMessage
from integrations.runtime.outbox import enqueue_outbound
from integrations.runtime.registry import (
    DeliveryResult,
    MessagePolicy,
    PoisonMessage,
    deliverer,
    on_delivered,
)
from integrations.woocommerce.client import WooCommerceError, woo_client
from integrations.woocommerce.products import price_update
from integrations.woocommerce.stock import path_for, source_system_for, store_connection

logger = logging.getLogger(__name__)

PRICE_PUSH = "woocommerce.price.push"  # outbound message kind
SUBJECT_TYPE = "pricing.pricepush"


def _place(connection: Connection, push: PricePush) -> tuple[int, int | None]:
    """The SKU's WooCommerce id and its parent (None for a simple product), as the product
    pull filed them; ``PoisonMessage`` when the store never told us."""
    reference = (
        SKUCrossReference.objects.filter(
            system=SystemKind.WOOCOMMERCE,
            source_system=source_system_for(connection),
            sku_id=push.sku_id,
        )
        .order_by("pk")
        .values_list("system_code", "external_id")
        .first()
    )
    code, filed = reference or ("", "")
    parent, _, variation = filed.partition("/")
    if code.isdigit() and int(code) > 0:
        if not variation and parent == code:
            return int(code), None
        if variation == code and parent.isdigit() and int(parent) > 0:
            return int(code), int(parent)
    raise PoisonMessage(
        f"no WooCommerce product id for SKU {push.sku.code} in {connection.slug}: sync "
        "products first"
    )


@receiver(price_push_requested, dispatch_uid="woocommerce.queue_price_push")
def queue_price_push(sender: Any, *, push: PricePush, **_: Any) -> int | None:
    """Write the push's outbox message in the action's transaction; its id (None when no
    enabled WooCommerce connection sells the channel: the domain refuses the action)."""
    connection = store_connection(push.channel_id)
    if connection is None:
        return None
    try:
        woo_id, parent = _place(connection, push)
    except PoisonMessage as exc:
        raise PricePushError(str(exc)) from None
    key = f"woocommerce:{connection.slug}:price:{push.pk}"
    enqueue_outbound(
        connection,
        kind=PRICE_PUSH,
        idempotency_key=key,
        payload={
            "push_id": push.pk,
            "sku": push.sku.code,
            "id": woo_id,
            "parent_id": parent,
            "regular_price": f"{push.regular_price_amount:.2f}",
            "tax_class": push.tax_class,
        },
        correlation_id=push.correlation_id,
        subject_type=SUBJECT_TYPE,
        subject_id=str(push.pk),
    )
    return OutboundMessage.objects.only("pk").get(idempotency_key=key).pk


def _update_of(message: OutboundMessage) -> tuple[str, dict[str, Any]]:
    """The batch path and its one update item, checked (an edited replay too)."""
    payload = message.payload if isinstance(message.payload, dict) else {}
    woo_id, parent = payload.get("id"), payload.get("parent_id")
    for name, value, nullable in (("id", woo_id, False), ("parent_id", parent, True)):
        if value is None and nullable:
            continue
        if isinstance(value, bool) or not isinstance(value, int) or value < 1:
            raise PoisonMessage(f"payload.{name} must be a WooCommerce id, not {str(value)[:20]!r}")
    try:
        price = Decimal(str(payload.get("regular_price")))
    except ArithmeticError:
        price = Decimal(-1)
    if not price.is_finite() or price < 0 or isinstance(payload.get("regular_price"), float):
        raise PoisonMessage(
            f"payload.regular_price must be a decimal string ≥ 0, not "
            f"{str(payload.get('regular_price'))[:20]!r}"
        )
    tax_class = payload.get("tax_class", "")
    if not isinstance(tax_class, str) or len(tax_class) > 32:
        raise PoisonMessage("payload.tax_class must be a tax class slug")
    item = price_update(woo_id, price)
    item.update(
        sale_price="",
        date_on_sale_from_gmt=None,
        date_on_sale_to_gmt=None,
        tax_class="" if tax_class in ("", "standard") else tax_class,
    )
    return path_for(parent), item


@deliverer(
    PRICE_PUSH,
    label="WooCommerce: push the ERP price",
    policy=MessagePolicy(max_attempts=6, backoff_base_s=2.0),
)
def deliver_price_push(message: OutboundMessage) -> DeliveryResult:
    """``POST <batch path> {"update": [item]}``; the answer keeps WooCommerce's ``update``."""
    path, item = _update_of(message)
    try:
        with woo_client(message.connection) as client:
            response = client.post(path, json={"update": [item]}, headers=correlation_headers())
    except httpx.HTTPError as exc:
        return result_from_error(exc)
    result = result_from_response(response)
    if not result.ok:
        return DeliveryResult(
            ok=False,
            status_code=result.status_code,
            body=result.body,
            error=str(WooCommerceError.from_response(response, path=path)),
            retryable=result.retryable,
            retry_after_s=result.retry_after_s,
        )
    answered = result.body.get("update") if isinstance(result.body, dict) else None
    if not isinstance(answered, list) or not answered or not isinstance(answered[0], dict):
        return DeliveryResult(  # applied or not, we cannot tell: ask again (it is absolute)
            ok=False,
            status_code=result.status_code,
            body=result.body,
            error=f"{path}: the batch answer has no update list",
        )
    return DeliveryResult(ok=True, status_code=result.status_code, body={"update": answered})


@on_delivered(PRICE_PUSH)
def record_price_pushed(message: OutboundMessage, result: DeliveryResult) -> None:
    """The store's answer on the push: accepted with the prices it now shows, or refused in
    its words (an item error inside the 200)."""
    push = PricePush.objects.filter(pk=(message.payload or {}).get("push_id")).first()
    if push is None:
        logger.warning("price push message %s names no push we hold", message.pk)
        return
    entry = (result.body or {}).get("update", [{}])[0]
    error = entry.get("error") if isinstance(entry, dict) else None
    if isinstance(error, dict):
        answer = {
            "code": str(error.get("code") or "error"),
            "message": f"WooCommerce refused product {entry.get('id')}: "
            f"{error.get('code')}: {error.get('message')}",
        }
        record_price_push_answer(push, accepted=False, answer=answer)
        logger.warning("%s refused a price push: %s", message.connection.slug, answer["message"])
        return
    answer = {
        key: entry.get(key)
        for key in ("id", "price", "regular_price", "sale_price", "tax_class", "date_modified_gmt")
    }
    record_price_push_answer(push, accepted=True, answer=answer)
