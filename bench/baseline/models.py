from __future__ import annotations

from django.db import models
from django.utils import timezone


class NaiveWebhook(models.Model):
    """One row per webhook, as a hand-written receiver would store it."""

    topic = models.CharField(max_length=64, blank=True, default="")
    body = models.JSONField()
    received_at = models.DateTimeField(default=timezone.now)

    def __str__(self) -> str:
        return f"{self.topic} {self.pk}"
