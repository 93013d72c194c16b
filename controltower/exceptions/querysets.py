from __future__ import annotations

from typing import Any

from django.db import models

from controltower.exceptions.choices import ACTIVE_STATES, ExceptionType


class ExceptionQuerySet(models.QuerySet):
    def open(self) -> ExceptionQuerySet:
        return self.filter(state__in=ACTIVE_STATES)

    def for_owner(self, user: Any) -> ExceptionQuerySet:
        return self.filter(owner=user)

    def at_risk(self) -> ExceptionQuerySet:
        return self.filter(money_at_risk_amount__gt=0)

    def for_finance(self) -> ExceptionQuerySet:
        """Finance's part of the queue: posting failures (blocked or rejected entries) and
        anything opened with ``context={"finance": True}``."""
        return self.filter(
            models.Q(type=ExceptionType.POSTING_FAILURE) | models.Q(context__finance=True)
        )
