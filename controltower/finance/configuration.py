"""The finance configuration a posting reads — the channel's posting gate, the GL mappings,
the fiscal period of a day — each read once per drain batch (``controltower.core.memo``): every
step of every order asks for the gate, and every line of every sales entry for a mapping, while
all three are configuration admins (or the ledger's period sync) change between batches. An
admin's change reaches the very next batch. ``services`` re-exports them.
"""

from __future__ import annotations

from datetime import date

from django.db.models import Q

from controltower.catalog.models import Channel
from controltower.core import memo
from controltower.finance import postings
from controltower.finance.models import FiscalPeriod, GLMapping, PostingGate


def gate_for(channel: Channel | int) -> PostingGate:
    """The channel's gate (or its id's). Read once per drain batch (controltower.core.memo):
    every step of every order asks, and a gate is configuration an admin edits."""
    channel_id = channel if isinstance(channel, int) else channel.pk

    def read() -> PostingGate:
        gate = (
            PostingGate.objects.filter(Q(channel_id=channel_id) | Q(channel__isnull=True))
            .order_by("channel_id")  # the channel's own first (NULLs last)
            .first()
        )
        return gate or PostingGate()  # the default gate: captured, shipped, invoiced

    return memo.remember(("posting-gate", channel_id), read)


def mapping_for(event: str, *, channel: Channel | None, key: str = "") -> GLMapping | None:
    """The most specific mapping: the channel's own before all channels', the key's own (tax
    code / payment method) before a blank one."""
    candidates = GLMapping.objects.select_related("account").filter(
        Q(channel=channel) | Q(channel__isnull=True), event=event
    )
    return best_mapping(list(candidates), event, key)


def mappings_of(channel: Channel) -> list[GLMapping]:
    """Every mapping that may apply to the channel's entries, in one read per drain batch
    (controltower.core.memo) instead of one per entry line."""
    return memo.remember(
        ("gl-mappings", channel.pk),
        lambda: list(
            GLMapping.objects.select_related("account").filter(
                Q(channel=channel) | Q(channel__isnull=True)
            )
        ),
    )


def best_mapping(mappings: list[GLMapping], event: str, key: str) -> GLMapping | None:
    """:func:`mapping_for`'s choice among ``mappings`` (in the model's order) of the event's."""
    field_name = "tax_code" if event == postings.TAX_PAYABLE else "payment_method"
    keyed = event in (
        postings.TAX_PAYABLE,
        postings.PAYMENT_CLEARING,
        postings.GATEWAY_FEES,
        postings.GIFT_CARDS,
    )
    if keyed:
        candidates = [
            m for m in mappings if m.event == event and getattr(m, field_name) in (key, "")
        ]
    else:
        candidates = [
            m for m in mappings if m.event == event and m.tax_code == "" and m.payment_method == ""
        ]
    best = None
    for mapping in candidates:
        rank = (mapping.channel_id is not None, bool(getattr(mapping, field_name)) if keyed else 0)
        if best is None or rank > best[0]:
            best = (rank, mapping)
    return best[1] if best else None


def period_for(day: date, legal_entity: str = "default") -> FiscalPeriod | None:
    """The period holding ``day``; read once per drain batch (periods change by the ledger's
    sync and people, never inside an inbound batch)."""
    return memo.remember(
        ("fiscal-period", day, legal_entity),
        lambda: FiscalPeriod.objects.filter(
            legal_entity=legal_entity, starts_on__lte=day, ends_on__gte=day
        ).first(),
    )
