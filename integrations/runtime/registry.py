"""The interface a system kind implements, registered when the runtime imports its ``adapter``
and ``webhooks`` modules (for each package in ``CT_CONNECTORS``).

A kind (``integrations/<kind>/``) contributes, each by one decorator here:

- ``@webhook(kind)`` in ``webhooks.py``: verify a delivery the system sent us and describe it
  (:class:`Accept`), or answer it (:class:`Answer`, :class:`Unverified`, :class:`Reject`); the
  runtime stores accepted deliveries in the inbox and answers the sender;
- ``@inbound(kind)`` in ``adapter.py``: apply one stored event through the domain services
  (translate with ``translate.py``); returns the business transaction's correlation id, or None
  when the event is ignored; raise :class:`PoisonMessage` for what can never be applied;
- ``@deliverer(message_kind, label=…, policy=…, creates=…)``: one outbound call for a message,
  mapped to a :class:`DeliveryResult` (``integrations.runtime.http.result_from_response``); a kind
  whose call creates something on the other side (a sales order) says so with :class:`Creates`,
  and the runtime never lets a person replay it into a second one;
- ``@on_delivered(message_kind)``: record what the other system answered, in the delivery's
  transaction;
- ``@subscribe(domain_event)``: write outbox rows when another kind announces a domain event
  (:func:`publish_domain_event`), inside the announcing transaction.

Kinds never import each other: a storefront adapter publishes a domain event ("order.accepted")
and whichever connectors subscribe to it (the ERP adapter) write their outbox rows, in the same
transaction. The runtime never imports a kind: it finds them here.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from collections.abc import Mapping

    from integrations.runtime.models import InboundEvent, OutboundMessage


@dataclass(frozen=True)
class Ignored:
    """What an inbound handler returns when an event needs nothing, and why (kept on the event
    for ops). Returned, not raised: whatever the handler queued on commit still happens."""

    reason: str


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


@dataclass(frozen=True)
class Creates:
    """A message kind whose delivery creates something on the other side (a sales order).

    Once a create of a subject was delivered, replaying it (edited or not) would create a second
    one: the runtime refuses, naming what was created (``what`` and the reference found under
    ``reference_key`` in the delivered answer). Where the other system can change what it holds,
    ``update_kind`` names the message kind that does, and a replay of a delivered create is sent
    as that update instead (its deliverer finds the reference in ``created_reference``)."""

    what: str
    reference_key: str = "id"
    update_kind: str = ""

    def reference_in(self, response: Any) -> str:
        """The reference a delivered answer names, or "" when it names none."""
        if isinstance(response, dict):
            return str(response.get(self.reference_key) or "")
        return ""


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


# --- receiving: what a kind's webhook receiver is given and what it answers ----------------------
@dataclass(frozen=True)
class WebhookRequest:
    """A delivery as the receiver sees it, the same from Django's view and the WSGI fast path."""

    body: bytes
    headers: Mapping[str, str]  # case-insensitive (Django's HttpHeaders)
    content_type: str  # without parameters

    def header(self, name: str) -> str:
        return self.headers.get(name, "") or ""


@dataclass(frozen=True)
class WebhookConnection:
    """What receiving needs of a Connection: identity and decrypted credentials."""

    pk: int
    slug: str
    name: str
    kind: str
    credentials: dict[str, Any]


@dataclass(frozen=True)
class Answer:
    """Answer the sender now, store nothing (a ping, a refused request)."""

    status: int
    data: dict[str, Any]


@dataclass(frozen=True)
class Unverified(Answer):
    """The signature does not match: the runtime re-reads the credentials once (a secret just
    rotated) and asks again before giving this answer."""


@dataclass(frozen=True)
class Accept:
    """A verified delivery: the runtime stores it in the inbox and answers 200.

    ``modified`` (the source's modification time as sent) and ``resource_id`` form the dedupe key
    with the body; ``source_modified_at`` is the parsed time, or None."""

    topic: str
    resource: str
    resource_id: str
    modified: str
    source_modified_at: datetime | None
    delivery_id: str
    headers: dict[str, str]


@dataclass(frozen=True)
class Reject:
    """Verified but unreadable: kept as a rejected event for ops (replayable edited), and the
    sender is told why with a 400."""

    detail: str
    topic: str
    resource: str
    delivery_id: str
    headers: dict[str, str]


Outcome = Answer | Accept | Reject
WebhookReceiver = Callable[[WebhookRequest, WebhookConnection], Outcome]
InboundHandler = Callable[["InboundEvent"], Any]
InboundBatchHandler = Callable[[list["InboundEvent"]], dict[int, Any]]
Deliverer = Callable[["OutboundMessage"], DeliveryResult]
DeliveredHook = Callable[["OutboundMessage", DeliveryResult], None]
DeliveredBatchHook = Callable[[list[tuple["OutboundMessage", DeliveryResult]]], None]
Subscriber = Callable[[Any], None]

WEBHOOKS: dict[str, WebhookReceiver] = {}
INBOUND: dict[str, InboundHandler] = {}
INBOUND_BATCH: dict[str, InboundBatchHandler] = {}
DELIVERERS: dict[str, Deliverer] = {}
ON_DELIVERED: dict[str, DeliveredHook] = {}
ON_DELIVERED_BATCH: dict[str, DeliveredBatchHook] = {}
SUBSCRIBERS: dict[str, list[Subscriber]] = defaultdict(list)
POLICIES: dict[str, MessagePolicy] = {}
LABELS: dict[str, str] = {}
CREATES: dict[str, Creates] = {}


def policy_for(message_kind: str) -> MessagePolicy:
    return POLICIES.get(message_kind) or default_policy()


def label_for(message_kind: str) -> str:
    """How people read a message kind ("ERP: create sales order"); the kind itself if unnamed."""
    return LABELS.get(message_kind, message_kind)


def creates_for(message_kind: str) -> Creates | None:
    """What a message kind creates on the other side, or None (it changes or tells only)."""
    return CREATES.get(message_kind)


def webhook(kind: str) -> Callable[[WebhookReceiver], WebhookReceiver]:
    def register(func: WebhookReceiver) -> WebhookReceiver:
        WEBHOOKS[kind] = func
        return func

    return register


def inbound(kind: str) -> Callable[[InboundHandler], InboundHandler]:
    def register(func: InboundHandler) -> InboundHandler:
        INBOUND[kind] = func
        return func

    return register


def inbound_batch(kind: str) -> Callable[[InboundBatchHandler], InboundBatchHandler]:
    """Register a kind's batch handler: given a drain's fresh events of that kind, it applies
    those it can together (one transaction for the batch, rows inserted in bulk) and returns
    ``{event id: correlation id}`` for them. Every event it leaves out — and every event of a
    batch that raised, rolled back whole — goes to the kind's :func:`inbound` handler, one by
    one, so the batch path is an accelerator of the plain case, never a second set of rules:
    it must leave exactly the rows the one-by-one handler would."""

    def register(func: InboundBatchHandler) -> InboundBatchHandler:
        INBOUND_BATCH[kind] = func
        return func

    return register


def deliverer(
    message_kind: str,
    *,
    label: str = "",
    policy: MessagePolicy | None = None,
    creates: Creates | None = None,
) -> Callable[[Deliverer], Deliverer]:
    def register(func: Deliverer) -> Deliverer:
        DELIVERERS[message_kind] = func
        if label:
            LABELS[message_kind] = label
        if policy is not None:
            POLICIES[message_kind] = policy
        if creates is not None:
            CREATES[message_kind] = creates
        return func

    return register


def on_delivered(message_kind: str) -> Callable[[DeliveredHook], DeliveredHook]:
    def register(func: DeliveredHook) -> DeliveredHook:
        ON_DELIVERED[message_kind] = func
        return func

    return register


def on_delivered_batch(
    message_kind: str,
) -> Callable[[DeliveredBatchHook], DeliveredBatchHook]:
    """The :func:`on_delivered` hook of a kind, for many messages delivered in one batch (its
    outcomes recorded in one transaction): the same effect as calling the one-message hook for
    each, with rows written in bulk. A kind without one has its one-message hook called for
    each; the one-message hook is still needed (a batch of one, a batch that fell back)."""

    def register(func: DeliveredBatchHook) -> DeliveredBatchHook:
        ON_DELIVERED_BATCH[message_kind] = func
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
