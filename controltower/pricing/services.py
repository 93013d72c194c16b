"""Pricing services: the promotion policy's rules and exclusions (admin-edited), and the ops
action that pushes the ERP price back to a storefront.

A saved or deleted rule or exclusion re-checks every storefront price at once (one statement),
so the work queue shows what the new policy breaches — and closes what it now allows — before
the next product sync. A push is recorded as a :class:`PricePush` and handed to the storefront's
connector (``signals.price_push_requested``) in the same transaction: nothing is recorded if no
connector can send it.
"""

from __future__ import annotations

import logging
from typing import Any

from django.db import transaction
from django.utils import timezone

from controltower.catalog.models import SKU, Channel, ChannelPrice
from controltower.core.context import acting_as
from controltower.core.models import stamp
from controltower.core.writepath import domain_service
from controltower.exceptions.models import OpsException
from controltower.pricing.checks import check_prices
from controltower.pricing.choices import PRICING_TYPES, PushState
from controltower.pricing.models import PricePush, PromotionExclusion, PromotionRule
from controltower.pricing.signals import price_push_requested

logger = logging.getLogger(__name__)

Policy = PromotionRule | PromotionExclusion


class PricePushError(ValueError):
    """The push cannot be asked for; the message says why, in a person's words."""


def _save[M: (PromotionRule, PromotionExclusion)](row: M, *, actor: Any, reason: str) -> M:
    with transaction.atomic(), acting_as(actor):
        stamp(row, reason[:100])
        row.save()
        check_prices()
    return row


def _delete(row: Policy, *, actor: Any, reason: str) -> None:
    with transaction.atomic(), acting_as(actor):
        stamp(row, reason[:100])
        row.delete()
        check_prices()


@domain_service
def save_promotion_rule(rule: PromotionRule, *, actor: Any, reason: str) -> PromotionRule:
    return _save(rule, actor=actor, reason=reason)


@domain_service
def delete_promotion_rule(rule: PromotionRule, *, actor: Any, reason: str) -> None:
    """Without a rule its scope falls to the next broader one (none: no discount allowed)."""
    _delete(rule, actor=actor, reason=reason)


@domain_service
def save_promotion_exclusion(
    exclusion: PromotionExclusion, *, actor: Any, reason: str
) -> PromotionExclusion:
    return _save(exclusion, actor=actor, reason=reason)


@domain_service
def delete_promotion_exclusion(exclusion: PromotionExclusion, *, actor: Any, reason: str) -> None:
    _delete(exclusion, actor=actor, reason=reason)


def _subject(exception: OpsException) -> tuple[SKU, Channel]:
    context = exception.context or {}
    if exception.type not in PRICING_TYPES:
        raise PricePushError(
            f"“{exception.get_type_display()}” is not a price-policy exception: there is no "
            "ERP price to push"
        )
    if not exception.is_active:
        raise PricePushError(f"exception {exception.pk} is already {exception.state}")
    sku = SKU.objects.filter(pk=context.get("sku_id")).first()
    channel = Channel.objects.filter(pk=context.get("channel_id")).first()
    if sku is None or channel is None:
        raise PricePushError("the exception no longer names a SKU and a channel we hold")
    if sku.erp_price_amount is None:
        raise PricePushError(f"the ERP has sent no price for {sku.code}: nothing to push")
    return sku, channel


@domain_service
def request_price_push(exception: OpsException, *, actor: Any, reason: str) -> PricePush:
    """Ops: send the ERP price (regular price = ERP price, sale price cleared, the ERP's tax
    class) to the storefront behind a price-policy exception. The exception stays open until
    the next sync shows the price in policy."""
    reason = (reason or "").strip()
    if not reason:
        raise PricePushError("a reason is required")
    sku, channel = _subject(exception)
    held = ChannelPrice.objects.filter(sku=sku, channel=channel).first()
    with transaction.atomic(), acting_as(actor):
        waiting = PricePush.objects.filter(sku=sku, channel=channel, state=PushState.QUEUED)
        if waiting.exists():
            raise PricePushError(
                f"a push of {sku.code} to {channel.code} is already on its way; wait for the "
                "store's answer"
            )
        push = PricePush(
            sku=sku,
            channel=channel,
            exception=exception,
            regular_price_amount=sku.erp_price_amount,
            currency=held.currency if held is not None else sku.currency,
            tax_class=sku.erp_tax_class,
            requested_by=actor if getattr(actor, "pk", None) else None,
            reason=reason[:200],
            correlation_id=exception.correlation_id,
        )
        stamp(push, f"push asked for: {reason}"[:100])
        push.save()
        answers = [
            message_id
            for _, message_id in price_push_requested.send(sender=PricePush, push=push)
            if message_id
        ]
        if not answers:
            raise PricePushError(
                f"no enabled storefront connection sells channel {channel.code}: nothing was sent"
            )
        push.message_id = answers[0]
        push.save(update_fields=["message_id", "updated_at"])
    logger.info(
        "ERP price of %s pushed to %s",
        sku.code,
        channel.code,
        extra={"correlation_id": str(push.correlation_id)},
    )
    return push


@domain_service
def record_price_push_answer(
    push: PricePush, *, accepted: bool, answer: dict[str, Any]
) -> PricePush:
    """The store's answer to a push: accepted (the next sync shows the price and the check
    closes the exception) or refused in the store's words."""
    with transaction.atomic():
        push = PricePush.objects.select_for_update().get(pk=push.pk)
        push.state = PushState.ACCEPTED if accepted else PushState.REFUSED
        push.answer = answer
        push.answered_at = timezone.now()
        said = "accepted" if accepted else f"refused: {answer.get('message', '')}"
        stamp(push, f"the store {said}"[:100])
        push.save(update_fields=["state", "answer", "answered_at", "updated_at"])
    return push
