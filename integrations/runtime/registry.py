"""What each connector package contributes, registered when its ``adapter`` module is imported.

Kinds never import each other: a storefront adapter publishes a domain event ("order.accepted")
and whichever connectors subscribe to it (the ERP adapter) write their outbox rows, in the same
transaction.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from integrations.runtime.models import InboundEvent, OutboundMessage


class PoisonMessage(Exception):
    """The payload can never be handled as it is: dead-letter at once, with this message."""


@dataclass(frozen=True)
class DeliveryResult:
    ok: bool
    status_code: int | None = None
    body: Any = None
    error: str = ""
    retryable: bool = True
    retry_after_s: float | None = None


@dataclass(frozen=True)
class MessagePolicy:
    """Per message kind: how often and how patiently to try, and when to stop hammering."""

    max_attempts: int = 8
    backoff_base_s: float = 1.0
    backoff_cap_s: float = 300.0
    breaker_threshold: int = 5
    breaker_cooldown_s: float = 30.0


def default_policy() -> MessagePolicy:
    """The policy for kinds that register none: from settings (``CT_OUTBOUND_MAX_ATTEMPTS``,
    ``CT_BACKOFF_BASE_S``, ``CT_BACKOFF_CAP_S``, ``CT_BREAKER_THRESHOLD``,
    ``CT_BREAKER_COOLDOWN_S``)."""
    from django.conf import settings

    return MessagePolicy(
        max_attempts=settings.CT_OUTBOUND_MAX_ATTEMPTS,
        backoff_base_s=settings.CT_BACKOFF_BASE_S,
        backoff_cap_s=settings.CT_BACKOFF_CAP_S,
        breaker_threshold=settings.CT_BREAKER_THRESHOLD,
        breaker_cooldown_s=settings.CT_BREAKER_COOLDOWN_S,
    )


InboundHandler = Callable[["InboundEvent"], Any]
Deliverer = Callable[["OutboundMessage"], DeliveryResult]
DeliveredHook = Callable[["OutboundMessage", DeliveryResult], None]
Subscriber = Callable[[Any], None]

INBOUND: dict[str, InboundHandler] = {}
DELIVERERS: dict[str, Deliverer] = {}
ON_DELIVERED: dict[str, DeliveredHook] = {}
SUBSCRIBERS: dict[str, list[Subscriber]] = defaultdict(list)
POLICIES: dict[str, MessagePolicy] = {}


def policy_for(message_kind: str) -> MessagePolicy:
    return POLICIES.get(message_kind) or default_policy()


def inbound(kind: str) -> Callable[[InboundHandler], InboundHandler]:
    def register(func: InboundHandler) -> InboundHandler:
        INBOUND[kind] = func
        return func

    return register


def deliverer(
    message_kind: str, *, policy: MessagePolicy | None = None
) -> Callable[[Deliverer], Deliverer]:
    def register(func: Deliverer) -> Deliverer:
        DELIVERERS[message_kind] = func
        if policy is not None:
            POLICIES[message_kind] = policy
        return func

    return register


def on_delivered(message_kind: str) -> Callable[[DeliveredHook], DeliveredHook]:
    def register(func: DeliveredHook) -> DeliveredHook:
        ON_DELIVERED[message_kind] = func
        return func

    return register


def subscribe(domain_event: str) -> Callable[[Subscriber], Subscriber]:
    def register(func: Subscriber) -> Subscriber:
        if func not in SUBSCRIBERS[domain_event]:
            SUBSCRIBERS[domain_event].append(func)
        return func

    return register


def publish_domain_event(domain_event: str, subject: Any) -> None:
    """Call every subscriber inside the caller's transaction (so outbox rows commit with it)."""
    for func in SUBSCRIBERS.get(domain_event, ()):
        func(subject)
