"""The work queue in the admin: exceptions are opened by the code that finds a condition and
closed through ``controltower.exceptions.services``; the admin reads them and acts on them with
the actions "Assign to me", "Resolve" and "Ignore" (a reason is required to close)."""

from __future__ import annotations

from collections.abc import Callable

from django.contrib import admin, messages
from django.db.models import QuerySet
from django.http import HttpRequest

from controltower.core.admin_helpers import CanonicalAdmin, reason_of, run_service_action
from controltower.exceptions.models import OpsException
from controltower.exceptions.services import (
    ExceptionActionError,
    assign_exception,
    ignore_exception,
    resolve_exception,
)


@admin.register(OpsException)
class OpsExceptionAdmin(CanonicalAdmin):
    list_display = ("title", "type", "severity", "state", "money_at_risk_amount", "opened_at")
    list_filter = ("state", "type", "severity")
    search_fields = ("title", "dedupe_key", "subject_id")
    # The lifecycle the services keep (beyond the generic state/money/identity rules).
    readonly_fields = ("dedupe_key", "owner", "opened_at", "closed_at", "resolution_reason")
    actions = ("assign_to_me", "resolve_exceptions", "ignore_exceptions")

    def _close(
        self,
        request: HttpRequest,
        queryset: QuerySet[OpsException],
        service: Callable[..., OpsException],
        done: str,
    ) -> None:
        reason = reason_of(request)
        if not reason:
            self.message_user(request, "Give a reason to close exceptions.", messages.ERROR)
            return
        run_service_action(
            self,
            request,
            queryset,
            lambda exc: service(exc, reason=reason),
            done=done,
            refused=(ExceptionActionError,),
        )

    @admin.action(description="Assign selected exceptions to me", permissions=["change"])
    def assign_to_me(self, request: HttpRequest, queryset: QuerySet[OpsException]) -> None:
        run_service_action(
            self,
            request,
            queryset,
            lambda exc: assign_exception(exc, owner=request.user),
            done="Exceptions assigned to you",
            refused=(ExceptionActionError,),
        )

    @admin.action(description="Resolve selected exceptions", permissions=["change"])
    def resolve_exceptions(self, request: HttpRequest, queryset: QuerySet[OpsException]) -> None:
        self._close(request, queryset, resolve_exception, "Exceptions resolved")

    @admin.action(description="Ignore selected exceptions", permissions=["change"])
    def ignore_exceptions(self, request: HttpRequest, queryset: QuerySet[OpsException]) -> None:
        self._close(request, queryset, ignore_exception, "Exceptions ignored")
