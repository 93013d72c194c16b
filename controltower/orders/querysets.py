from __future__ import annotations

from datetime import datetime, timedelta

from django.db import models
from django.utils import timezone

from controltower.orders.choices import OrderStage
from controltower.orders.transitions import TERMINAL

# Stages an order has left order to cash in: nothing waits, no SLA applies.
ENDED_STAGES = (OrderStage.CLOSED, OrderStage.CANCELLED)


class OrderQuerySet(models.QuerySet):
    def open(self) -> OrderQuerySet:
        return self.exclude(state__in=[s.value for s in TERMINAL])

    def recent(self, *, hours: int = 24) -> OrderQuerySet:
        return self.filter(placed_at__gte=timezone.now() - timedelta(hours=hours))

    def awaiting_erp(self) -> OrderQuerySet:
        return self.filter(erp_reference="").open()

    def for_list(self) -> OrderQuerySet:
        return self.select_related("channel")

    def in_stage_since_before(self, stage: str, *, cutoff: datetime) -> OrderQuerySet:
        """Orders still in ``stage`` (and not ended) that entered it before ``cutoff``: the
        stuck-order sweep's one query per SLA (the ``stage`` index serves it)."""
        return (
            self.filter(stage=stage, stage_changed_at__lt=cutoff)
            .exclude(stage__in=ENDED_STAGES)
            .open()
        )

    def for_detail(self) -> OrderQuerySet:
        """Everything the order page's lifecycle strip reads, in a fixed number of queries
        however many payments, shipments, invoices and entries the order has."""
        return self.select_related("channel").prefetch_related(
            models.Prefetch("payments", queryset=_ordered("payments", "Payment")),
            models.Prefetch("shipments", queryset=_ordered("fulfilment", "Shipment")),
            models.Prefetch("invoices", queryset=_ordered("finance", "Invoice")),
            models.Prefetch("journal", queryset=_ordered("finance", "JournalEntry")),
        )


def _ordered(app_label: str, model_name: str) -> models.QuerySet:
    """A related app's rows oldest first (resolved lazily: those apps import orders' models)."""
    from django.apps import apps

    return apps.get_model(app_label, model_name).objects.order_by("created_at", "pk")
