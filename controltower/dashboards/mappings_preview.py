"""What a mapping change would affect, read from the database before it is saved.

An admin about to remap a channel status, repoint a GL account, change when a payment method
takes its money or tighten an SLA should see the open orders and pending postings it reaches:
how many, and the first few to open. Each function takes the proposed row (built from the form,
not saved) and the row as it is now (None for a new one) and returns a :class:`Preview` of
groups, each with its count and its first :data:`SHOWN` rows.

The predicates mirror the domain's own reads: the status lookup (``map_channel_status``), the
GL mapping key (``finance.services.mapping_for``: event, channel or all, tax code, payment
method), the capture mode (``orders.services.lifecycle.capture_mode``: an unknown method is
taken at checkout) and the stage clock (``Order.stage_changed_at``).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import timedelta

from django.db.models import Exists, OuterRef, Q, QuerySet
from django.urls import reverse
from django.utils import timezone
from django.utils.timesince import timesince

from controltower.catalog.choices import CaptureMode
from controltower.catalog.models import PaymentMethod
from controltower.finance import postings
from controltower.finance.choices import JournalState
from controltower.finance.models import GLMapping, Invoice, InvoiceLine, JournalEntry
from controltower.orders.choices import OrderStage, PaymentStatus, PostingStatus
from controltower.orders.lifecycle import ENDED
from controltower.orders.models import ChannelStatusMapping, Order, OrderLine, StageSLA
from controltower.payments.models import Payment

SHOWN = 10

# The events a sales entry is built from (finance.postings); the others post nothing yet.
SALES_EVENTS = frozenset(
    {
        postings.GROSS_SALES,
        postings.DISCOUNTS,
        postings.SHIPPING_REVENUE,
        postings.TAX_PAYABLE,
        postings.PAYMENT_CLEARING,
        postings.GATEWAY_FEES,
    }
)
# Money not taken yet: a change of capture mode still changes when (or whether) it is.
NOT_YET_CAPTURED = frozenset(
    {PaymentStatus.NONE, PaymentStatus.AUTHORIZED, PaymentStatus.PARTIALLY_CAPTURED}
)


@dataclass(frozen=True)
class PreviewRow:
    label: str
    url: str
    detail: str


@dataclass
class PreviewGroup:
    title: str
    count: int
    rows: list[PreviewRow] = field(default_factory=list)
    note: str = ""

    @property
    def more(self) -> int:
        return max(self.count - len(self.rows), 0)


@dataclass
class Preview:
    summary: str
    groups: list[PreviewGroup] = field(default_factory=list)

    @property
    def total(self) -> int:
        return sum(group.count for group in self.groups)


def open_orders() -> QuerySet[Order]:
    """Orders still on their way: not cancelled, failed or refunded, and not in a stage that
    ended order to cash (closed, cancelled), as the stuck-order sweep counts them."""
    return Order.objects.exclude(state__in=ENDED).exclude(
        stage__in=[OrderStage.CLOSED, OrderStage.CANCELLED]
    )


def _order_url(pk: int) -> str:
    return reverse("orders:order_detail", kwargs={"pk": pk})


def _group(
    title: str,
    orders: QuerySet[Order],
    detail: Callable[[Order], str],
    *,
    order_by: str = "-placed_at",
) -> PreviewGroup:
    """A group of orders: the count, and the first rows with ``detail(order)`` beside each."""
    rows = [
        PreviewRow(label=str(order), url=_order_url(order.pk), detail=detail(order))
        for order in orders.select_related("channel").order_by(order_by, "-id")[:SHOWN]
    ]
    return PreviewGroup(title=title, count=orders.count(), rows=rows)


# --- channel status mappings ---------------------------------------------------------------------


def preview_status_mapping(
    proposed: ChannelStatusMapping, original: ChannelStatusMapping | None
) -> Preview:
    """Open orders of the channel now in that channel status: their next update from the
    channel maps them to the proposed state. A changed key leaves the old key's orders unmapped
    (their next update is refused until a mapping exists)."""
    channel, status = proposed.channel, proposed.channel_status
    state = proposed.get_state_display()
    now_in = open_orders().filter(channel=channel, channel_status=status)
    groups = [
        _group(
            f"Open orders of {channel.code} in status '{status}'",
            now_in,
            lambda order: (
                f"already {state}"
                if order.state == proposed.state
                else f"{order.get_state_display()} → {state} on its next update"
            ),
        )
    ]
    if original is not None and (original.channel_id, original.channel_status) != (
        proposed.channel_id,
        status,
    ):
        left = open_orders().filter(
            channel_id=original.channel_id, channel_status=original.channel_status
        )
        groups.append(
            _group(
                f"Open orders of {original.channel.code} in status "
                f"'{original.channel_status}', left without a mapping",
                left,
                lambda order: f"{order.get_state_display()}: its next update would be refused",
            )
        )
    return Preview(summary=f"{channel.code}'s status '{status}' would mean {state}.", groups=groups)


# --- GL mappings -----------------------------------------------------------------------------


def _gl_scope(mapping: GLMapping) -> Q:
    """The orders the mapping's key matches: its channel (or every channel), an order or
    invoice line (or invoiced shipping) with its tax code, an order or payment with its
    payment method."""
    scope = Q()
    if mapping.channel_id:
        scope &= Q(channel_id=mapping.channel_id)
    if mapping.tax_code:
        code = mapping.tax_code
        scope &= Q(
            Exists(OrderLine.objects.filter(order=OuterRef("pk"), tax_code=code))
            | Exists(InvoiceLine.objects.filter(invoice__order=OuterRef("pk"), tax_code=code))
            | Exists(Invoice.objects.filter(order=OuterRef("pk"), shipping_tax_code=code))
        )
    if mapping.payment_method:
        method = mapping.payment_method
        scope &= Q(payment_method=method) | Q(
            Exists(Payment.objects.filter(order=OuterRef("pk"), method=method))
        )
    return scope


def preview_gl_mapping(proposed: GLMapping, original: GLMapping | None) -> Preview:
    """Pending postings the key matches: sales entries queued for the ledger or rejected by it
    (a re-post rebuilds them with today's mappings) and orders whose posting is blocked (the
    next evaluation or retry reads the mappings again). An edit that changes the key reaches
    the old key's postings too."""
    summary = f"{proposed} ({proposed.account.name})"
    if proposed.event not in SALES_EVENTS:
        note = (
            f"{proposed.get_event_display()} is not part of the sales entry: "
            "no pending posting reads it."
        )
        return Preview(
            summary=summary, groups=[PreviewGroup("Pending postings", count=0, note=note)]
        )
    scope = _gl_scope(proposed)
    if original is not None:
        scope |= _gl_scope(original)
    matched = Order.objects.filter(scope).values("pk")
    entries = JournalEntry.objects.filter(
        state__in=[JournalState.DRAFT, JournalState.REJECTED], event="sale", order__in=matched
    )
    entry_rows = [
        PreviewRow(
            label=entry.description or f"entry {entry.pk}",
            url=_order_url(entry.order_id),
            detail=entry.get_state_display()
            + (f": {entry.rejection_reason}" if entry.rejection_reason else ""),
        )
        for entry in entries.order_by("-entry_date", "-id")[:SHOWN]
    ]
    blocked = (
        Order.objects.filter(scope)
        .filter(posting_status=PostingStatus.BLOCKED)
        .exclude(state__in=ENDED)
    )
    return Preview(
        summary=summary,
        groups=[
            PreviewGroup(
                "Sales entries queued or rejected", count=entries.count(), rows=entry_rows
            ),
            _group(
                "Orders whose posting is blocked",
                blocked,
                lambda order: (
                    f"{order.get_stage_display()}, waiting on "
                    f"{order.get_waiting_on_display().lower()}"
                ),
            ),
        ],
    )


# --- payment methods -------------------------------------------------------------------------


def preview_payment_method(proposed: PaymentMethod, original: PaymentMethod | None) -> Preview:
    """Open orders paid with the method, and of those the ones whose capture would change: the
    mode differs and their money is not taken yet (captured money stays captured)."""
    before = original.capture_mode if original is not None else CaptureMode.AT_CHECKOUT
    after = proposed.capture_mode
    changes = before != after
    orders = open_orders().filter(payment_method=proposed.code)
    pending = orders.filter(payment_status__in=NOT_YET_CAPTURED)
    labels = dict(CaptureMode.choices)

    def detail(order: Order) -> str:
        status = order.get_payment_status_display()
        if changes and order.payment_status in NOT_YET_CAPTURED:
            return f"{status}: capture changes to {labels[after].lower()}"
        return f"{status}: unchanged"

    groups = [_group(f"Open orders paid with {proposed.code}", orders, detail)]
    if changes:
        groups.append(
            _group(
                f"Whose capture would change ({labels[before].lower()} → {labels[after].lower()})",
                pending,
                detail,
            )
        )
    summary = (
        f"{proposed.code}: {labels[before].lower()} → {labels[after].lower()}."
        if changes
        else f"{proposed.code}: when its money is taken does not change."
    )
    return Preview(summary=summary, groups=groups)


# --- stage SLAs --------------------------------------------------------------------------------


def preview_stage_sla(proposed: StageSLA, original: StageSLA | None) -> Preview:
    """Open orders in the stage now, and how many would be past the proposed SLA now (against
    how many are past the current one)."""
    now = timezone.now()
    in_stage = open_orders().filter(stage=proposed.stage)
    label = proposed.get_stage_display()
    limit = now - timedelta(minutes=proposed.minutes)

    def detail(order: Order) -> str:
        held = timesince(order.stage_changed_at, now)
        past = proposed.enabled and order.stage_changed_at < limit
        return f"in the stage for {held}" + (": past the new SLA" if past else "")

    groups = [_group(f"Open orders in {label}", in_stage, detail, order_by="stage_changed_at")]
    if proposed.enabled:
        late = in_stage.filter(stage_changed_at__lt=limit)
        groups.append(
            _group(
                f"Past the new SLA of {proposed.minutes} min now",
                late,
                detail,
                order_by="stage_changed_at",
            )
        )
    else:
        groups.append(
            PreviewGroup(title="Past the new SLA now", count=0, note="Disabled: none flagged.")
        )
    summary = f"{label} within {proposed.minutes} min" + ("" if proposed.enabled else " (off)")
    if original is not None and original.enabled and original.stage == proposed.stage:
        before = in_stage.filter(stage_changed_at__lt=now - timedelta(minutes=original.minutes))
        summary += f"; past the current {original.minutes} min now: {before.count()}"
    return Preview(summary=summary + ".", groups=groups)
