from __future__ import annotations

from typing import Any

from django import forms
from django.contrib import admin
from django.db.models import QuerySet
from django.http import HttpRequest

from controltower.core.admin_helpers import (
    CanonicalAdmin,
    ReasonActionForm,
    reason_of,
    run_service_action,
)
from integrations.runtime.actions import MessageActionError, replay_message, retry_message
from integrations.runtime.models import (
    Connection,
    DeliveryAttempt,
    InboundEvent,
    MessageAction,
    OutboundMessage,
)


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
class ConnectionAdmin(CanonicalAdmin):
    """Connections are configuration: addable and editable; identity fields are read-only."""

    service_only = False
    form = ConnectionForm
    list_display = ("slug", "name", "kind", "base_url", "enabled")
    history_list_display = ("enabled", "base_url")


class ReadOnlyAdmin(admin.ModelAdmin):
    """Runtime rows are written by the runtime: every field is read-only, nothing is added or
    deleted here."""

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False


class MessageActionsAdmin(ReadOnlyAdmin):
    """Retry and replay are admin actions that call the runtime's operator services (which
    record the person and the reason); they need ``integrations.replay_message``."""

    action_form = ReasonActionForm
    actions = ("retry_selected", "replay_selected")

    def has_replay_permission(self, request: HttpRequest) -> bool:
        return request.user.has_perm("integrations.replay_message")

    @admin.action(description="Retry selected", permissions=["replay"])
    def retry_selected(self, request: HttpRequest, queryset: QuerySet[Any]) -> None:
        reason = reason_of(request)
        run_service_action(
            self,
            request,
            queryset,
            lambda obj: retry_message(obj, reason=reason),
            done="Retried",
            refused=(MessageActionError,),
        )

    @admin.action(description="Replay selected (as they were)", permissions=["replay"])
    def replay_selected(self, request: HttpRequest, queryset: QuerySet[Any]) -> None:
        reason = reason_of(request)
        run_service_action(
            self,
            request,
            queryset,
            lambda obj: replay_message(obj, reason=reason),
            done="Replayed",
            refused=(MessageActionError,),
        )


@admin.register(InboundEvent)
class InboundEventAdmin(MessageActionsAdmin):
    list_display = ("received_at", "connection", "topic", "resource_id", "status", "attempts")
    list_filter = ("status", "connection", "topic")
    search_fields = ("resource_id", "delivery_id", "correlation_id")


@admin.register(OutboundMessage)
class OutboundMessageAdmin(MessageActionsAdmin):
    list_display = ("created_at", "connection", "kind", "subject_id", "status", "attempts")
    list_filter = ("status", "connection", "kind")
    search_fields = ("idempotency_key", "correlation_id")


@admin.register(DeliveryAttempt)
class DeliveryAttemptAdmin(ReadOnlyAdmin):
    list_display = ("started_at", "message", "number", "status_code", "duration_ms")


@admin.register(MessageAction)
class MessageActionAdmin(CanonicalAdmin):
    """The record of a person's retry or replay, written by the runtime's operator services."""

    list_display = ("created_at", "action", "direction", "original_id", "actor", "reason")
    list_filter = ("action", "direction")

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False
