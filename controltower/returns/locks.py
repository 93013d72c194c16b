from __future__ import annotations

from controltower.returns.models import Refund


def lock_refund(pk: int) -> Refund:
    return Refund.objects.order_by("pk").select_for_update(of=("self",)).get(pk=pk)
