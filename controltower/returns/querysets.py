from __future__ import annotations

from django.db import models


class RefundQuerySet(models.QuerySet):
    def undetailed(self) -> RefundQuerySet:
        """Refunds whose line items have not been read from their source yet."""
        return self.filter(details_fetched_at__isnull=True)

    def for_list(self) -> RefundQuerySet:
        return self.select_related("order").prefetch_related("lines__order_line")
