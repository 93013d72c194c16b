"""Runtime tables: connections, the inbox, the outbox and delivery attempts.

Inbox and outbox rows are claimed with ``SELECT … FOR UPDATE SKIP LOCKED`` by workers; they are
plain runtime tables (not historical) so that claims and status flips stay cheap.
"""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.contrib.postgres.fields import ArrayField
from django.contrib.postgres.indexes import GinIndex
from django.db import models
from django.db.models import Q
from django.utils import timezone

from controltower.catalog.choices import SystemKind
from controltower.core.models import CanonicalModel, canonical_constraints
from integrations.runtime import registry
from integrations.runtime.choices import InboundStatus, OutboundStatus
from integrations.runtime.crypto import decrypt_credentials, encrypt_credentials


class Connection(CanonicalModel):
    """One configured external system: where it is, how to authenticate, how hard to push it."""

    slug = models.SlugField(max_length=64, unique=True)
    name = models.CharField(max_length=200)
    kind = models.CharField(max_length=32, choices=SystemKind.choices)
    base_url = models.URLField(max_length=500, blank=True, default="")
    channel = models.ForeignKey(
        "catalog.Channel", null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    credentials_encrypted = models.TextField(blank=True, default="", editable=False)
    enabled = models.BooleanField(default=True)
    rate_limit_per_s = models.FloatField(default=20.0)
    timeout_s = models.FloatField(default=10.0)

    class Meta(CanonicalModel.Meta):
        ordering = ["slug"]
        constraints = canonical_constraints(
            models.CheckConstraint(
                condition=Q(timeout_s__gt=0) & Q(rate_limit_per_s__gt=0),
                name="integrations_connection_limits_pos",
            ),
        )

    def __str__(self) -> str:
        return f"{self.name} ({self.kind})"

    @property
    def credentials(self) -> dict[str, Any]:
        return decrypt_credentials(self.credentials_encrypted)

    def set_credentials(self, values: dict[str, Any]) -> None:
        self.credentials_encrypted = encrypt_credentials(values)


class InboundEvent(models.Model):
    """A raw inbound delivery, committed before we answer 2xx. ``dedupe_key`` is unique."""

    connection = models.ForeignKey(Connection, on_delete=models.PROTECT, related_name="inbound")
    # Every index here is paid on the webhook's one INSERT: those on columns a new event leaves
    # empty are partial (WHERE … IS NOT NULL), and the dedupe key has its unique index only
    # (a UniqueConstraint, without the LIKE index Django adds for unique=True) — bench-ingest.
    correlation_id = models.UUIDField(null=True, blank=True)
    topic = models.CharField(max_length=64, blank=True, default="")
    resource = models.CharField(max_length=32, blank=True, default="")
    resource_id = models.CharField(max_length=64, blank=True, default="")
    delivery_id = models.CharField(max_length=128, blank=True, default="")
    dedupe_key = models.CharField(max_length=191)
    source_modified_at = models.DateTimeField(null=True, blank=True)
    headers = models.JSONField(default=dict)
    body = models.TextField(blank=True, default="")
    status = models.CharField(
        max_length=16, choices=InboundStatus.choices, default=InboundStatus.PENDING
    )
    error = models.TextField(blank=True, default="")
    attempts = models.PositiveIntegerField(default=0)
    replay_of = models.ForeignKey(
        "self",
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="replays",
        db_index=False,
    )
    received_at = models.DateTimeField(default=timezone.now)
    claimed_until = models.DateTimeField(null=True, blank=True)
    processed_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-received_at", "-id"]
        constraints = [
            models.UniqueConstraint(fields=["dedupe_key"], name="integrations_inbound_dedupe_uniq")
        ]
        indexes = [
            models.Index(
                fields=["id"], condition=Q(status="pending"), name="integrations_inbound_pending"
            ),
            models.Index(fields=["resource", "resource_id"], name="integrations_inbound_res_idx"),
            models.Index(
                fields=["correlation_id"],
                condition=Q(correlation_id__isnull=False),
                name="integrations_inbound_corr",
            ),
            models.Index(
                fields=["replay_of"],
                condition=Q(replay_of__isnull=False),
                name="integrations_inbound_replay",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.topic or 'event'} {self.resource_id} ({self.status})"


class OutboundMessage(models.Model):
    """A message a domain change causes, committed in the same transaction (the outbox)."""

    connection = models.ForeignKey(Connection, on_delete=models.PROTECT, related_name="outbound")
    correlation_id = models.UUIDField(db_index=True)
    # A message that serves many business transactions at once (a ledger batch of many orders'
    # entries) is traced under each of them as well as under its own correlation id.
    also_for = ArrayField(models.UUIDField(), blank=True, default=list)
    kind = models.CharField(max_length=64)  # registered by its connector (registry.deliverer)
    idempotency_key = models.CharField(max_length=191, unique=True)
    subject_type = models.CharField(max_length=64, blank=True, default="")
    subject_id = models.CharField(max_length=64, blank=True, default="")
    payload = models.JSONField()
    status = models.CharField(
        max_length=16, choices=OutboundStatus.choices, default=OutboundStatus.PENDING
    )
    attempts = models.PositiveIntegerField(default=0)
    max_attempts = models.PositiveIntegerField(default=8)
    next_attempt_at = models.DateTimeField(default=timezone.now)
    claimed_until = models.DateTimeField(null=True, blank=True)
    claim_token = models.UUIDField(null=True, blank=True)
    last_error = models.TextField(blank=True, default="")
    last_status_code = models.PositiveIntegerField(null=True, blank=True)
    response = models.JSONField(null=True, blank=True)
    replay_of = models.ForeignKey(
        "self", null=True, blank=True, on_delete=models.PROTECT, related_name="replays"
    )
    created_at = models.DateTimeField(default=timezone.now)
    delivered_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        permissions = [("replay_message", "Can retry and replay integration messages")]
        indexes = [
            models.Index(
                fields=["next_attempt_at"],
                condition=Q(status="pending"),
                name="integrations_outbound_due",
            ),
            models.Index(fields=["subject_type", "subject_id"], name="integrations_outbound_subj"),
            GinIndex(fields=["also_for"], name="integrations_outbound_also"),
        ]

    def __str__(self) -> str:
        return f"{self.kind} {self.subject_id} ({self.status})"

    @property
    def kind_label(self) -> str:
        return registry.label_for(self.kind)


class DeliveryAttempt(models.Model):
    message = models.ForeignKey(
        OutboundMessage, on_delete=models.CASCADE, related_name="attempt_log"
    )
    number = models.PositiveIntegerField()
    task_id = models.CharField(max_length=64, blank=True, default="")
    started_at = models.DateTimeField(default=timezone.now)
    duration_ms = models.PositiveIntegerField(default=0)
    status_code = models.PositiveIntegerField(null=True, blank=True)
    error = models.TextField(blank=True, default="")
    response_body = models.TextField(blank=True, default="")

    class Meta:
        ordering = ["message_id", "number"]
        constraints = [
            models.UniqueConstraint(fields=["message", "number"], name="integrations_attempt_uniq")
        ]

    def __str__(self) -> str:
        return f"attempt {self.number} of message {self.message_id}: {self.status_code}"


class MessageAction(CanonicalModel):
    """A person's retry or replay of an inbound event or outbound message: who, why, what edit.

    Canonical (so history names the actor); the diff of an edited payload is kept verbatim.
    """

    class Action(models.TextChoices):
        RETRY = "retry", "Retry"
        REPLAY = "replay", "Replay"

    class Direction(models.TextChoices):
        INBOUND = "inbound", "Inbound event"
        OUTBOUND = "outbound", "Outbound message"

    action = models.CharField(max_length=8, choices=Action.choices)
    direction = models.CharField(max_length=8, choices=Direction.choices)
    original_id = models.BigIntegerField()
    result_id = models.BigIntegerField()
    reason = models.TextField()
    edited = models.BooleanField(default=False)
    payload_diff = models.TextField(blank=True, default="")
    actor = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="+",
    )

    class Meta(CanonicalModel.Meta):
        ordering = ["-created_at"]
        constraints = canonical_constraints(
            models.CheckConstraint(condition=~Q(reason=""), name="integrations_action_reason"),
        )

    def __str__(self) -> str:
        return f"{self.action} {self.direction} {self.original_id} → {self.result_id}"


class SyncCursor(models.Model):
    """A watermark for a scheduled sync (e.g. the WooCommerce order backfill poll)."""

    connection = models.ForeignKey(Connection, on_delete=models.CASCADE, related_name="cursors")
    name = models.CharField(max_length=64)
    watermark = models.DateTimeField(null=True, blank=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["connection", "name"], name="integrations_cursor_uniq")
        ]

    def __str__(self) -> str:
        return f"{self.connection.slug}:{self.name} @ {self.watermark}"


class SyncRun(models.Model):
    """One run of a scheduled sync: status, timestamps, counts (ops see runs in the UI)."""

    class Status(models.TextChoices):
        RUNNING = "running", "Running"
        SUCCEEDED = "succeeded", "Succeeded"
        FAILED = "failed", "Failed"

    connection = models.ForeignKey(Connection, on_delete=models.CASCADE, related_name="sync_runs")
    name = models.CharField(max_length=64)
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.RUNNING)
    started_at = models.DateTimeField(default=timezone.now)
    finished_at = models.DateTimeField(null=True, blank=True)
    counts = models.JSONField(default=dict, blank=True)
    error = models.TextField(blank=True, default="")

    class Meta:
        ordering = ["-started_at"]

    def __str__(self) -> str:
        return f"{self.connection.slug}:{self.name} {self.status}"
