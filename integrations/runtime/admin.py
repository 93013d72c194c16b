from __future__ import annotations

from typing import Any

from django import forms
from django.contrib import admin
from django.http import HttpRequest
from simple_history.admin import SimpleHistoryAdmin

from integrations.runtime.models import Connection, DeliveryAttempt, InboundEvent, OutboundMessage


class ConnectionForm(forms.ModelForm):
    """Credentials are write-only: entered as JSON, stored encrypted, never shown back."""

    new_credentials = forms.JSONField(
        required=False,
        help_text='JSON, e.g. {"webhook_secret": "…"}; leave empty to keep the current ones.',
    )

    class Meta:
        model = Connection
        fields = [
            "slug",
            "name",
            "kind",
            "base_url",
            "channel",
            "enabled",
            "rate_limit_per_s",
            "timeout_s",
        ]

    def save(self, commit: bool = True) -> Connection:
        connection = super().save(commit=False)
        values = self.cleaned_data.get("new_credentials")
        if values:
            connection.set_credentials(values)
        if commit:
            connection.save()
        return connection


@admin.register(Connection)
class ConnectionAdmin(SimpleHistoryAdmin):
    form = ConnectionForm
    list_display = ("slug", "name", "kind", "base_url", "enabled")
    history_list_display = ("enabled", "base_url")


class ReadOnlyAdmin(admin.ModelAdmin):
    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False


@admin.register(InboundEvent)
class InboundEventAdmin(ReadOnlyAdmin):
    list_display = ("received_at", "connection", "topic", "resource_id", "status", "attempts")
    list_filter = ("status", "connection", "topic")
    search_fields = ("resource_id", "delivery_id", "correlation_id")


@admin.register(OutboundMessage)
class OutboundMessageAdmin(ReadOnlyAdmin):
    list_display = ("created_at", "connection", "kind", "subject_id", "status", "attempts")
    list_filter = ("status", "connection", "kind")
    search_fields = ("idempotency_key", "correlation_id")


@admin.register(DeliveryAttempt)
class DeliveryAttemptAdmin(ReadOnlyAdmin):
    list_display = ("started_at", "message", "number", "status_code", "duration_ms")
