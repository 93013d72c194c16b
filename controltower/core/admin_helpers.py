"""Admin bases for canonical models: what only a service may change is read-only, everywhere.

A canonical row's state, money, currency and source identity change only through its app's
services (the state machine, the stale-update guard, the events and the outbox live there).
``CanonicalAdmin`` derives those fields from the model itself, by one set of rules, so that no
admin has to list them and a new model is covered the day it is registered:

- source identity: ``source_system``, ``external_id``, ``correlation_id``, ``source_updated_at``,
  and identities in other systems (``*_reference``, ``*_registered_at``: ``erp_reference``);
- state: fields named ``state`` or ``status`` that have choices, and ``state_changed_at``;
- money: ``amount``, ``*_amount`` and every ``AmountField`` (``DecimalField(20, 4)``);
  ``currency`` / ``*_currency``; quantities that carry money or stock meaning (``quantity``,
  ``quantity_*``, ``on_hand``).

They are read-only on change forms, refused in ``list_editable`` (a system check, ``ct.E001``),
read-only in inlines (``CanonicalInline``; any other inline of a canonical model is ``ct.E002``),
and history "revert" (which would write a whole old row back) is refused.

Two kinds of canonical model:

- **transactional** rows (orders, payments, shipments, refunds, invoices, journal entries,
  exceptions, stock positions, …) are created only by services: the admin cannot add or delete
  them (``service_only = True``, the default). What an admin may do to them is an *admin action*
  that calls the service (e.g. "Cancel selected orders"); the middleware has bound the admin as
  the actor, so history and events name the person.
- **master data and configuration** (channels, locations, products, SKUs, status mappings,
  allocation rules, GL accounts and mappings, fiscal periods) stay addable
  (``service_only = False``): the design makes them admin-editable, and the catalog services
  upsert the same rows by natural key, so a row made here is the one the sync later updates. On
  their *add* form the money fields and the currency are editable (there is no value to protect
  yet); identity and state are read-only there too. Fields that match a rule but are
  configuration, not the row's own state (``ChannelStatusMapping.state`` names the state a
  channel status maps to), are listed in ``configuration_fields``.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any

from django import forms
from django.contrib import admin, messages
from django.contrib.admin.helpers import ActionForm
from django.core import checks
from django.core.exceptions import PermissionDenied
from django.db import models
from django.db.models import QuerySet
from django.http import HttpRequest, HttpResponse
from simple_history.admin import SimpleHistoryAdmin

from controltower.core.models import CanonicalModel

CANONICAL_READONLY = ("correlation_id", "created_at", "updated_at")

IDENTITY_NAMES = frozenset({"source_system", "external_id", "correlation_id", "source_updated_at"})
IDENTITY_SUFFIXES = ("_reference", "_registered_at")
STATE_NAMES = frozenset({"state", "status"})
STATE_COMPANIONS = frozenset({"state_changed_at"})
MONEY_NAMES = frozenset({"amount", "currency", "quantity", "on_hand"})
MONEY_SUFFIXES = ("_amount", "_currency")
MONEY_PREFIXES = ("quantity_",)


def _is_amount_field(field: models.Field[Any, Any]) -> bool:
    """An ``AmountField`` (``controltower.core.money``): a DecimalField of 20 digits, 4 places."""
    return (
        isinstance(field, models.DecimalField)
        and field.max_digits == 20
        and field.decimal_places == 4
    )


def identity_fields(model: type[models.Model]) -> tuple[str, ...]:
    return tuple(
        f.name
        for f in model._meta.concrete_fields
        if f.name in IDENTITY_NAMES or f.name.endswith(IDENTITY_SUFFIXES)
    )


def state_fields(model: type[models.Model]) -> tuple[str, ...]:
    return tuple(
        f.name
        for f in model._meta.concrete_fields
        if (f.name in STATE_NAMES and f.choices) or f.name in STATE_COMPANIONS
    )


def money_fields(model: type[models.Model]) -> tuple[str, ...]:
    return tuple(
        f.name
        for f in model._meta.concrete_fields
        if f.name in MONEY_NAMES
        or f.name.endswith(MONEY_SUFFIXES)
        or f.name.startswith(MONEY_PREFIXES)
        or _is_amount_field(f)
    )


def protected_fields(
    model: type[models.Model], *, configuration: Iterable[str] = ()
) -> tuple[str, ...]:
    """Every field of ``model`` that only a service may change (see the module docstring)."""
    exempt = set(configuration)
    names = (*identity_fields(model), *state_fields(model), *money_fields(model))
    return tuple(dict.fromkeys(n for n in names if n not in exempt))


def is_canonical(model: type[models.Model]) -> bool:
    return issubclass(model, CanonicalModel)


class ReasonActionForm(ActionForm):
    """The changelist's action bar with a reason: services record why, and some require it."""

    reason = forms.CharField(
        required=False,
        max_length=200,
        label="Reason",
        help_text="Recorded in history with your name.",
    )


def reason_of(request: HttpRequest) -> str:
    return (request.POST.get("reason") or "").strip()


def run_service_action(
    model_admin: admin.ModelAdmin[Any],
    request: HttpRequest,
    queryset: QuerySet[Any],
    call: Callable[[Any], Any],
    *,
    done: str,
    refused: tuple[type[Exception], ...],
) -> None:
    """Call a service for each selected row; tell the admin what was done and, for each row the
    service refused, its refusal (the service's own message)."""
    count = 0
    for obj in queryset.order_by("pk"):
        try:
            call(obj)
        except refused as exc:
            model_admin.message_user(request, f"{obj}: {exc}", messages.ERROR)
        else:
            count += 1
    if count:
        model_admin.message_user(request, f"{done}: {count}.", messages.SUCCESS)


class _ProtectedFieldsMixin:
    """Shared by the model admin and the inline: the read-only set derived from the model."""

    model: type[models.Model]
    service_only: bool = True
    configuration_fields: tuple[str, ...] = ()

    def get_protected_fields(self, obj: Any = None) -> tuple[str, ...]:
        protected = protected_fields(self.model, configuration=self.configuration_fields)
        if obj is None and not self.service_only:
            initial = set(money_fields(self.model))
            protected = tuple(n for n in protected if n not in initial)
        return protected

    def get_readonly_fields(self, request: HttpRequest, obj: Any = None) -> tuple[str, ...]:
        declared = super().get_readonly_fields(request, obj)  # type: ignore[misc]
        own = tuple(n for n in CANONICAL_READONLY if hasattr(self.model, n))
        return tuple(dict.fromkeys((*declared, *own, *self.get_protected_fields(obj))))

    def has_add_permission(self, request: HttpRequest, *args: Any) -> bool:
        if self.service_only:
            return False
        return super().has_add_permission(request, *args)  # type: ignore[misc]

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        if self.service_only:
            return False
        return super().has_delete_permission(request, obj)  # type: ignore[misc]


class CanonicalAdmin(_ProtectedFieldsMixin, SimpleHistoryAdmin):
    """The admin for a canonical model. Subclass it, add actions that call services."""

    action_form = ReasonActionForm

    def __init__(self, model: type[models.Model], admin_site: admin.AdminSite) -> None:
        super().__init__(model, admin_site)
        # A protected column in list_editable is refused by check ct.E001; never render it.
        protected = set(protected_fields(model, configuration=self.configuration_fields))
        self.list_editable = tuple(n for n in self.list_editable if n not in protected)

    def check(self, **kwargs: Any) -> list[checks.CheckMessage]:
        errors = list(super().check(**kwargs))
        protected = set(protected_fields(self.model, configuration=self.configuration_fields))
        for name in type(self).list_editable:
            if name in protected:
                errors.append(
                    checks.Error(
                        f"list_editable contains {name!r}, which only a service may change.",
                        obj=type(self),
                        id="ct.E001",
                    )
                )
        for inline in self.inlines:
            if is_canonical(inline.model) and not issubclass(inline, CanonicalInline):
                errors.append(
                    checks.Error(
                        f"inline {inline.__name__} of canonical {inline.model._meta.label} "
                        "must be a CanonicalInline.",
                        obj=type(self),
                        id="ct.E002",
                    )
                )
        return errors

    def has_change_history_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        """History is read, never reverted: a revert writes a whole old row (state, amounts)
        back without the service."""
        return False

    def history_form_view(
        self,
        request: HttpRequest,
        object_id: str,
        version_id: str,
        extra_context: dict[str, Any] | None = None,
    ) -> HttpResponse:
        if request.method == "POST":
            raise PermissionDenied("reverting a canonical row is not allowed")
        return super().history_form_view(request, object_id, version_id, extra_context)


class CanonicalInline(_ProtectedFieldsMixin, admin.TabularInline):  # type: ignore[type-arg]
    """An inline of a canonical model: protected fields read-only; rows of transactional
    models are neither added nor deleted here."""

    extra = 0


def register_canonical(
    *model_classes: type[models.Model],
    service_only: bool = True,
    configuration_fields: tuple[str, ...] = (),
    **options: Any,
) -> None:
    """Register models with a generated ``CanonicalAdmin`` (no actions of their own)."""
    for model in model_classes:
        if admin.site.is_registered(model):
            continue
        names = [f.name for f in model._meta.fields if not f.is_relation][:8]
        attrs = {
            "list_display": tuple(options.get("list_display", names)),
            "search_fields": tuple(
                n for n in ("code", "number", "name", "external_id", "title") if n in names
            ),
            "service_only": service_only,
            "configuration_fields": configuration_fields,
        }
        admin.site.register(model, type(f"{model.__name__}Admin", (CanonicalAdmin,), attrs))
