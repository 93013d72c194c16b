from __future__ import annotations

from rest_framework import serializers

from controltower.api.fields import ReasonField
from integrations.runtime.models import (
    DeliveryAttempt,
    InboundEvent,
    MessageAction,
    OutboundMessage,
)


class InboundEventSerializer(serializers.ModelSerializer):
    connection = serializers.SlugRelatedField(slug_field="slug", read_only=True)

    class Meta:
        model = InboundEvent
        fields = [
            "id",
            "connection",
            "correlation_id",
            "topic",
            "resource",
            "resource_id",
            "delivery_id",
            "source_modified_at",
            "status",
            "error",
            "attempts",
            "replay_of",
            "received_at",
            "processed_at",
            "headers",
            "body",
        ]
        read_only_fields = fields


class DeliveryAttemptSerializer(serializers.ModelSerializer):
    class Meta:
        model = DeliveryAttempt
        fields = ["number", "started_at", "duration_ms", "status_code", "error", "response_body"]
        read_only_fields = fields


class OutboundMessageSerializer(serializers.ModelSerializer):
    connection = serializers.SlugRelatedField(slug_field="slug", read_only=True)
    attempt_log = DeliveryAttemptSerializer(many=True, read_only=True)

    class Meta:
        model = OutboundMessage
        fields = [
            "id",
            "connection",
            "correlation_id",
            "kind",
            "idempotency_key",
            "subject_type",
            "subject_id",
            "status",
            "attempts",
            "max_attempts",
            "next_attempt_at",
            "last_error",
            "last_status_code",
            "response",
            "replay_of",
            "created_at",
            "delivered_at",
            "payload",
            "attempt_log",
        ]
        read_only_fields = fields


class MessageActionSerializer(serializers.ModelSerializer):
    actor = serializers.SlugRelatedField(slug_field="username", read_only=True)

    class Meta:
        model = MessageAction
        fields = [
            "id",
            "action",
            "direction",
            "original_id",
            "result_id",
            "reason",
            "edited",
            "payload_diff",
            "actor",
            "correlation_id",
            "created_at",
        ]
        read_only_fields = fields


class RetrySerializer(serializers.Serializer):
    reason = ReasonField()


class ReplaySerializer(serializers.Serializer):
    reason = ReasonField()
    payload = serializers.JSONField(
        required=False,
        allow_null=True,
        help_text="optional edited payload (a JSON object); omitted: replay as it was",
    )
