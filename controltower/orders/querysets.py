from __future__ import annotations

from datetime import timedelta

from django.db import models
from django.utils import timezone

from controltower.orders.transitions import TERMINAL


class OrderQuerySet(models.QuerySet):
    def open(self) -> OrderQuerySet:
        return self.exclude(state__in=[s.value for s in TERMINAL])

    def recent(self, *, hours: int = 24) -> OrderQuerySet:
        return self.filter(placed_at__gte=timezone.now() - timedelta(hours=hours))

    def awaiting_erp(self) -> OrderQuerySet:
        return self.filter(erp_reference="").open()

    def for_list(self) -> OrderQuerySet:
        return self.select_related("channel")
