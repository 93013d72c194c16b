from __future__ import annotations

from rest_framework import serializers

from controltower.exceptions.models import OpsException


class ExceptionSerializer(serializers.ModelSerializer):
    owner = serializers.SlugRelatedField(
        slug_field="username",
        read_only=True,
        allow_null=True,
        help_text="the username of the person who owns it; null while unassigned",
    )

    class Meta:
        model = OpsException
        fields = [
            "id",
            "correlation_id",
            "type",
            "severity",
            "state",
            "title",
            "detail",
            "currency",
            "money_at_risk_amount",
            "owner",
            "subject_type",
            "subject_id",
            "context",
            "opened_at",
            "closed_at",
            "resolution_reason",
            "updated_at",
        ]
        read_only_fields = fields
