from __future__ import annotations

from django.db import models
from django.db.models import Q
from django.utils import timezone

from controltower.catalog.models import SKU, Channel, Location
from controltower.core.models import CanonicalModel, EventRecord, canonical_constraints
from controltower.core.money import AmountField, CurrencyField, Money
from controltower.orders.choices import (
    FulfilmentStatus,
    InvoicingStatus,
    OrderEventType,
    OrderLineStatus,
    OrderStage,
    OrderState,
    PaymentStatus,
    PostingStatus,
    WaitingOn,
)
from controltower.orders.querysets import OrderQuerySet
from controltower.orders.transitions import is_allowed


class Order(CanonicalModel):
    channel = models.ForeignKey(Channel, on_delete=models.PROTECT, related_name="orders")
    number = models.CharField(max_length=64)
    state = models.CharField(max_length=32, choices=OrderState.choices, default=OrderState.RECEIVED)
    channel_status = models.CharField(max_length=64, blank=True, default="")
    currency = CurrencyField()
    subtotal_amount = AmountField()
    discount_amount = AmountField()
    shipping_amount = AmountField()
    tax_amount = AmountField()
    total_amount = AmountField()
    customer_name = models.CharField(max_length=200, blank=True, default="")
    customer_email = models.EmailField(blank=True, default="")
    billing_address = models.JSONField(default=dict, blank=True)
    shipping_address = models.JSONField(default=dict, blank=True)
    payment_method = models.CharField(max_length=64, blank=True, default="")
    placed_at = models.DateTimeField(default=timezone.now, db_index=True)
    state_changed_at = models.DateTimeField(default=timezone.now)
    erp_reference = models.CharField(max_length=64, blank=True, default="")
    erp_registered_at = models.DateTimeField(null=True, blank=True)
    # The channel trashed/deleted the order (WooCommerce ``order.deleted``); cleared on restore.
    trashed_at = models.DateTimeField(null=True, blank=True)
    # Order to cash: one status per system's step (transitions.ASPECTS), and the stage and the
    # system waited on derived from them (lifecycle.derive_stage), kept for lists and SLAs.
    payment_status = models.CharField(
        max_length=24, choices=PaymentStatus.choices, default=PaymentStatus.NONE
    )
    fulfilment_status = models.CharField(
        max_length=24, choices=FulfilmentStatus.choices, default=FulfilmentStatus.UNRELEASED
    )
    invoicing_status = models.CharField(
        max_length=24, choices=InvoicingStatus.choices, default=InvoicingStatus.NONE
    )
    posting_status = models.CharField(
        max_length=16, choices=PostingStatus.choices, default=PostingStatus.NONE
    )
    stage = models.CharField(max_length=24, choices=OrderStage.choices, default=OrderStage.RECEIVED)
    waiting_on = models.CharField(
        max_length=16, choices=WaitingOn.choices, blank=True, default=WaitingOn.NOTHING
    )
    stage_changed_at = models.DateTimeField(default=timezone.now)
    wms_reference = models.CharField(max_length=64, blank=True, default="")
    released_at = models.DateTimeField(null=True, blank=True)
    shipped_at = models.DateTimeField(null=True, blank=True)
    invoiced_at = models.DateTimeField(null=True, blank=True)
    posted_at = models.DateTimeField(null=True, blank=True)

    objects = OrderQuerySet.as_manager()

    class Meta(CanonicalModel.Meta):
        ordering = ["-placed_at", "-id"]
        constraints = canonical_constraints(
            models.CheckConstraint(
                condition=Q(state__in=OrderState.values), name="orders_order_state_valid"
            ),
            models.CheckConstraint(
                condition=Q(total_amount__gte=0)
                & Q(subtotal_amount__gte=0)
                & Q(shipping_amount__gte=0)
                & Q(tax_amount__gte=0)
                & Q(discount_amount__gte=0),
                name="orders_order_amounts_nonneg",
            ),
        )
        indexes = [
            models.Index(fields=["state", "-placed_at"], name="orders_order_state_idx"),
            models.Index(fields=["stage", "-placed_at"], name="orders_order_stage_idx"),
            models.Index(fields=["waiting_on", "-placed_at"], name="orders_order_waiting_idx"),
        ]

    def __str__(self) -> str:
        return f"{self.channel.code} #{self.number}"

    @property
    def reference(self) -> str:
        """How every other system knows the order: ``<channel code>-<number>`` (the ERP's and
        the warehouse's ``external_ref``, the gateway's ``metadata[order_ref]``, the ledger's
        ``order`` dimension)."""
        return f"{self.channel.code}-{self.number}"

    @property
    def total(self) -> Money:
        return Money(self.total_amount, self.currency)

    def can_transition_to(self, state: str) -> bool:
        return is_allowed(self.state, state)


class OrderLine(CanonicalModel):
    order = models.ForeignKey(Order, on_delete=models.CASCADE, related_name="lines")
    line_number = models.PositiveIntegerField()
    sku = models.ForeignKey(SKU, null=True, blank=True, on_delete=models.PROTECT, related_name="+")
    sku_code = models.CharField(max_length=64)
    name = models.CharField(max_length=255)
    quantity = models.PositiveIntegerField()
    quantity_cancelled = models.PositiveIntegerField(default=0)
    quantity_shipped = models.PositiveIntegerField(default=0)
    quantity_backordered = models.PositiveIntegerField(default=0)
    fulfilment_location = models.ForeignKey(
        Location, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    status = models.CharField(
        max_length=32, choices=OrderLineStatus.choices, default=OrderLineStatus.OPEN
    )
    tax_code = models.CharField(max_length=16, blank=True, default="")
    quantity_released = models.PositiveIntegerField(default=0)
    currency = CurrencyField()
    unit_price_amount = AmountField()
    discount_amount = AmountField()
    tax_amount = AmountField()
    total_amount = AmountField()

    class Meta(CanonicalModel.Meta):
        ordering = ["order_id", "line_number"]
        constraints = canonical_constraints(
            models.UniqueConstraint(
                fields=["order", "line_number"], name="orders_orderline_number_uniq"
            ),
            models.CheckConstraint(
                condition=Q(quantity__gt=0), name="orders_orderline_quantity_pos"
            ),
            models.CheckConstraint(
                condition=Q(quantity_cancelled__lte=models.F("quantity"))
                & Q(quantity_shipped__lte=models.F("quantity") - models.F("quantity_cancelled")),
                name="orders_orderline_quantities_fit",
            ),
            models.CheckConstraint(
                condition=Q(unit_price_amount__gte=0) & Q(total_amount__gte=0),
                name="orders_orderline_amounts_nonneg",
            ),
        )

    def __str__(self) -> str:
        return f"{self.sku_code} × {self.quantity}"


class ChannelStatusMapping(CanonicalModel):
    """Admin-editable: which canonical state a channel's own order status means."""

    channel = models.ForeignKey(Channel, on_delete=models.CASCADE, related_name="status_mappings")
    channel_status = models.CharField(max_length=64)
    state = models.CharField(max_length=32, choices=OrderState.choices)

    class Meta(CanonicalModel.Meta):
        constraints = canonical_constraints(
            models.UniqueConstraint(
                fields=["channel", "channel_status"], name="orders_statusmapping_uniq"
            ),
        )

    def __str__(self) -> str:
        return f"{self.channel.code}: {self.channel_status} → {self.state}"


class OrderEvent(EventRecord):
    """A typed, human-readable step in an order's life (the trace page reads these)."""

    order = models.ForeignKey(Order, on_delete=models.CASCADE, related_name="events")
    type = models.CharField(max_length=32, choices=OrderEventType.choices)

    def __str__(self) -> str:
        return f"{self.get_type_display()} ({self.order_id})"


class StageSLA(CanonicalModel):
    """Admin-editable: how long an order may stay in a stage before it counts as stuck."""

    stage = models.CharField(max_length=24, choices=OrderStage.choices, unique=True)
    minutes = models.PositiveIntegerField()
    enabled = models.BooleanField(default=True)
    description = models.CharField(max_length=200, blank=True, default="")

    class Meta(CanonicalModel.Meta):
        ordering = ["stage"]
        verbose_name = "stage SLA"
        constraints = canonical_constraints(
            models.CheckConstraint(condition=Q(minutes__gt=0), name="orders_stagesla_minutes_pos"),
        )

    def __str__(self) -> str:
        return f"{self.get_stage_display()} within {self.minutes} min"
