"""The admins' mappings page: channel status mappings, GL account mappings, payment methods, stage
SLAs, the stock rules (allocation, freshness SLAs, drift tolerances) and the promotion policy
(rules and excluded SKUs), each listed with add / edit / delete, its recent history, and a
preview of what a change would affect before it is saved.

Admins only (the ``admin`` role or a superuser), and each action also needs the model's own
permission (``change_*``, ``add_*``, ``delete_*``), so a role trimmed in ``accounts.roles`` is
honoured here as in /admin/. Every write goes through the domain's service, which records the
person and their reason in history. The forms say in words what the database would refuse; a
constraint the database still raises (someone saved the same key a moment earlier) comes back as
the form's error, never a 500.

Plain POST forms work without JavaScript; htmx only makes the preview and delete swap in place
(the same URLs render a partial when ``request.htmx``).
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied
from django.db import IntegrityError, models
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.views.decorators.http import require_GET, require_http_methods, require_POST
from django.views.decorators.vary import vary_on_headers
from django_htmx.middleware import HtmxDetails

from controltower.accounts.roles import ADMIN, has_role
from controltower.catalog import services as catalog_services
from controltower.catalog.models import Channel, Location, PaymentMethod
from controltower.dashboards import mappings_forms as forms
from controltower.dashboards import mappings_preview as preview
from controltower.dashboards import pricing_preview, stock_preview
from controltower.finance import services as finance_services
from controltower.finance.models import GLAccount, GLMapping
from controltower.inventory import configuration as stock_configuration
from controltower.inventory.models import ChannelAllocationRule, DriftTolerance, StockFreshnessRule
from controltower.orders.models import ChannelStatusMapping, StageSLA
from controltower.orders.services import configuration as order_configuration
from controltower.pricing import services as pricing_services
from controltower.pricing.models import PromotionExclusion, PromotionRule

logger = logging.getLogger(__name__)

HISTORY_SHOWN = 10
# Bookkeeping every save touches: not what a person changed.
DIFF_EXCLUDED = ["updated_at", "created_at", "correlation_id", "source_updated_at"]


class HtmxHttpRequest(HttpRequest):
    htmx: HtmxDetails


@dataclass(frozen=True)
class Labels:
    """Codes for the foreign keys the tables and history show (both are small tables)."""

    channels: dict[int, str]
    accounts: dict[int, str]
    locations: dict[int, str]

    @classmethod
    def load(cls) -> Labels:
        return cls(
            channels=dict(Channel.objects.values_list("pk", "code")),
            accounts=dict(GLAccount.objects.values_list("pk", "code")),
            locations=dict(Location.objects.values_list("pk", "code")),
        )

    def channel(self, pk: int | None, *, blank: str = "all channels") -> str:
        return self.channels.get(pk, f"#{pk}") if pk else blank

    def location(self, pk: int | None, *, blank: str = "every location") -> str:
        return self.locations.get(pk, f"#{pk}") if pk else blank

    def value(self, field_name: str, value: Any) -> str:
        if field_name == "channel":
            return self.channel(value)
        if field_name == "location":
            return self.location(value)
        if field_name == "account":
            return self.accounts.get(value, f"#{value}")
        return "" if value is None else str(value)


@dataclass(frozen=True)
class Section:
    """One configuration table on the page: how to list, describe, save, delete and preview
    its rows."""

    kind: str
    title: str
    model: type[models.Model]
    form: type[forms.MappingForm]
    headers: tuple[str, ...]
    cells: Callable[[Any, Labels], list[str]]
    describe: Callable[[Any, Labels], str]  # a row or a history record, in one line
    save: Callable[..., Any]
    delete: Callable[..., None]
    preview: Callable[[Any, Any], preview.Preview]
    related: tuple[str, ...] = ()

    def perm(self, action: str) -> str:
        meta = self.model._meta
        return f"{meta.app_label}.{action}_{meta.model_name}"

    @property
    def anchor(self) -> str:
        return f"section-{self.kind}"


def _flag(on: bool) -> str:
    return "yes" if on else "no"


def _window(starts: Any, ends: Any) -> str:
    if starts is None and ends is None:
        return "any time"
    shown = [f"{m:%Y-%m-%d %H:%M}" if m else "open" for m in (starts, ends)]
    return f"{shown[0]} – {shown[1]}"


SECTIONS: dict[str, Section] = {
    section.kind: section
    for section in (
        Section(
            kind="status",
            title="Channel status mappings",
            model=ChannelStatusMapping,
            form=forms.StatusMappingForm,
            headers=("Channel", "Channel status", "Canonical state"),
            cells=lambda row, labels: [
                labels.channel(row.channel_id),
                row.channel_status,
                row.get_state_display(),
            ],
            describe=lambda row, labels: (
                f"{labels.channel(row.channel_id)}: '{row.channel_status}' → {row.state}"
            ),
            save=order_configuration.save_status_mapping,
            delete=order_configuration.delete_status_mapping,
            preview=preview.preview_status_mapping,
            related=("channel",),
        ),
        Section(
            kind="gl",
            title="GL account mappings",
            model=GLMapping,
            form=forms.GLMappingForm,
            headers=("Event", "Channel", "Tax code", "Payment method", "Account"),
            cells=lambda row, labels: [
                row.get_event_display(),
                labels.channel(row.channel_id),
                row.tax_code or "—",
                row.payment_method or "—",
                f"{row.account.code} {row.account.name}",
            ],
            describe=lambda row, labels: (
                f"{row.event} ({labels.channel(row.channel_id)}"
                + (f", tax {row.tax_code}" if row.tax_code else "")
                + (f", method {row.payment_method}" if row.payment_method else "")
                + f") → {labels.accounts.get(row.account_id, row.account_id)}"
            ),
            save=finance_services.save_gl_mapping,
            delete=finance_services.delete_gl_mapping,
            preview=preview.preview_gl_mapping,
            related=("channel", "account"),
        ),
        Section(
            kind="payment-methods",
            title="Payment methods",
            model=PaymentMethod,
            form=forms.PaymentMethodForm,
            headers=("Code", "Name", "Money taken", "Enabled"),
            cells=lambda row, labels: [
                row.code,
                row.name,
                row.get_capture_mode_display(),
                _flag(row.enabled),
            ],
            describe=lambda row, labels: (
                f"{row.code} ({row.capture_mode}{'' if row.enabled else ', disabled'})"
            ),
            save=catalog_services.save_payment_method,
            delete=catalog_services.delete_payment_method,
            preview=preview.preview_payment_method,
        ),
        Section(
            kind="slas",
            title="Stage SLAs",
            model=StageSLA,
            form=forms.StageSLAForm,
            headers=("Stage", "Minutes", "Enabled", "Description"),
            cells=lambda row, labels: [
                row.get_stage_display(),
                str(row.minutes),
                _flag(row.enabled),
                row.description or "—",
            ],
            describe=lambda row, labels: (
                f"{row.stage} within {row.minutes} min{'' if row.enabled else ' (off)'}"
            ),
            save=order_configuration.save_stage_sla,
            delete=order_configuration.delete_stage_sla,
            preview=preview.preview_stage_sla,
        ),
        Section(
            kind="allocation",
            title="Stock allocation",
            model=ChannelAllocationRule,
            form=forms.AllocationRuleForm,
            headers=("Channel", "Location", "Percent", "Safety stock", "Cap"),
            cells=lambda row, labels: [
                labels.channel(row.channel_id),
                labels.location(row.location_id),
                f"{row.percent}%",
                str(row.safety_stock),
                "—" if row.cap is None else str(row.cap),
            ],
            describe=lambda row, labels: (
                f"{labels.channel(row.channel_id)} sells {row.percent}% of "
                f"{labels.location(row.location_id)} (safety {row.safety_stock}"
                + (f", cap {row.cap}" if row.cap is not None else "")
                + ")"
            ),
            save=stock_configuration.save_allocation_rule,
            delete=stock_configuration.delete_allocation_rule,
            preview=stock_preview.preview_allocation_rule,
        ),
        Section(
            kind="freshness",
            title="Stock freshness SLAs",
            model=StockFreshnessRule,
            form=forms.FreshnessRuleForm,
            headers=("System", "Location", "Minutes"),
            cells=lambda row, labels: [
                row.get_reporting_system_display(),
                labels.location(row.location_id),
                str(row.max_age_minutes),
            ],
            describe=lambda row, labels: (
                f"{row.reporting_system} at {labels.location(row.location_id)} within "
                f"{row.max_age_minutes} min"
            ),
            save=stock_configuration.save_freshness_rule,
            delete=stock_configuration.delete_freshness_rule,
            preview=stock_preview.preview_freshness_rule,
        ),
        Section(
            kind="drift",
            title="Stock drift tolerances",
            model=DriftTolerance,
            form=forms.DriftToleranceForm,
            headers=("Location", "Units", "Percent"),
            cells=lambda row, labels: [
                labels.location(row.location_id),
                str(row.units),
                f"{row.percent}%",
            ],
            describe=lambda row, labels: (
                f"{labels.location(row.location_id)}: ±{row.units} units or {row.percent}%"
            ),
            save=stock_configuration.save_drift_tolerance,
            delete=stock_configuration.delete_drift_tolerance,
            preview=stock_preview.preview_drift_tolerance,
        ),
        Section(
            kind="promotions",
            title="Promotion policy",
            model=PromotionRule,
            form=forms.PromotionRuleForm,
            headers=("Channel", "Category", "Max discount", "Window", "Note"),
            cells=lambda row, labels: [
                labels.channel(row.channel_id),
                row.category or "all categories",
                f"{row.max_discount_percent}%",
                _window(row.starts_at, row.ends_at),
                row.note or "—",
            ],
            describe=lambda row, labels: (
                f"{labels.channel(row.channel_id)} / {row.category or 'all categories'}: at most "
                f"{row.max_discount_percent}% off ({_window(row.starts_at, row.ends_at)})"
            ),
            save=pricing_services.save_promotion_rule,
            delete=pricing_services.delete_promotion_rule,
            preview=pricing_preview.preview_promotion_rule,
            related=("channel",),
        ),
        Section(
            kind="promotion-exclusions",
            title="SKUs excluded from promotion",
            model=PromotionExclusion,
            form=forms.PromotionExclusionForm,
            headers=("SKU", "Channel", "Note"),
            cells=lambda row, labels: [
                row.sku.code,
                labels.channel(row.channel_id),
                row.note or "—",
            ],
            describe=lambda row, labels: (
                f"SKU #{row.sku_id} never on promotion on {labels.channel(row.channel_id)}"
            ),
            save=pricing_services.save_promotion_exclusion,
            delete=pricing_services.delete_promotion_exclusion,
            preview=pricing_preview.preview_promotion_exclusion,
            related=("sku", "channel"),
        ),
    )
}


# --- access -------------------------------------------------------------------------------------


def _is_admin(user: Any) -> bool:
    return bool(user.is_superuser or has_role(user, ADMIN))


def _section_for(request: HttpRequest, kind: str, action: str) -> Section:
    """The section, if the person is an admin holding the model's ``action`` permission."""
    if not _is_admin(request.user):
        raise PermissionDenied("the mappings page is for admins")
    section = SECTIONS.get(kind)
    if section is None:
        raise Http404(f"no mappings section {kind!r}")
    if not request.user.has_perm(section.perm(action)):
        raise PermissionDenied(f"you may not {action} {section.title.lower()}")
    return section


# --- reads --------------------------------------------------------------------------------------


def _rows(section: Section) -> list[Any]:
    rows = section.model._default_manager.all()
    return list(rows.select_related(*section.related) if section.related else rows)


def _changes(section: Section, labels: Labels) -> list[dict[str, Any]]:
    """The section's latest history records, each with who, when, why and what changed (a
    diff against the row's previous record, found in one more query, not one per record)."""
    history = section.model.history  # type: ignore[attr-defined]
    records = list(
        history.select_related("history_user").order_by("-history_date", "-history_id")[
            :HISTORY_SHOWN
        ]
    )
    earlier: dict[int, list[Any]] = {}
    for record in history.filter(id__in={r.id for r in records}).order_by(
        "history_date", "history_id"
    ):
        earlier.setdefault(record.id, []).append(record)
    changes = []
    for record in records:
        versions = earlier[record.id]
        index = next(i for i, v in enumerate(versions) if v.history_id == record.history_id)
        what: list[str] = []
        if record.history_type == "~" and index > 0:
            diff = record.diff_against(versions[index - 1], excluded_fields=DIFF_EXCLUDED)
            what = [
                f"{c.field}: {labels.value(c.field, c.old) or '∅'} → "
                f"{labels.value(c.field, c.new) or '∅'}"
                for c in diff.changes
            ]
        changes.append(
            {
                "record": record,
                "verb": {"+": "created", "-": "deleted"}.get(record.history_type, "changed"),
                "row": section.describe(record, labels),
                "what": what,
            }
        )
    return changes


def _section_context(section: Section, labels: Labels) -> dict[str, Any]:
    return {
        "section": section,
        "rows": [
            {"pk": row.pk, "cells": section.cells(row, labels), "text": str(row)}
            for row in _rows(section)
        ],
        "add_form": section.form(auto_id=f"id_{section.kind}_%s"),
        "changes": _changes(section, labels),
    }


# --- pages -------------------------------------------------------------------------------------


@require_GET
@login_required
def mapping_list(request: HttpRequest) -> HttpResponse:
    """Every section the admin may change, on one page."""
    if not _is_admin(request.user):
        raise PermissionDenied("the mappings page is for admins")
    labels = Labels.load()
    sections = [
        _section_context(section, labels)
        for section in SECTIONS.values()
        if request.user.has_perm(section.perm("change"))
    ]
    if not sections:
        raise PermissionDenied("you may not change any mappings")
    return render(request, "mappings/mapping_list.html", {"sections": sections})


def _render_form(
    request: HttpRequest,
    section: Section,
    form: forms.MappingForm,
    *,
    obj: Any = None,
    result: preview.Preview | None = None,
    status: int = 200,
    partial: bool = False,
) -> HttpResponse:
    if obj is not None:
        preview_url = reverse("mappings:mapping_preview", args=[section.kind, obj.pk])
    else:
        preview_url = reverse("mappings:mapping_preview_new", args=[section.kind])
    context = {
        "section": section,
        "form": form,
        "obj": obj,
        "preview": result,
        "preview_url": preview_url,
    }
    template = "mappings/mapping_form.html" + ("#preview" if partial else "")
    return render(request, template, context, status=status)


def _save(request: HttpRequest, section: Section, form: forms.MappingForm, obj: Any) -> Any:
    """Save through the domain service; on a constraint the database raises, the form's error
    (and 400) instead of a 500."""
    if not form.is_valid():
        return _render_form(request, section, form, obj=obj, status=400)
    try:
        saved = section.save(form.instance, actor=request.user, reason=form.change_reason)
    except IntegrityError as exc:
        logger.info("mappings: %s refused by the database: %s", section.kind, exc)
        form.revalidate()
        return _render_form(request, section, form, obj=obj, status=400)
    messages.success(request, f"Saved: {saved}.")
    for warning in form.warnings:
        messages.warning(request, f"Saved, but {warning}.")
    return redirect(reverse("mappings:mapping_list") + f"#{section.anchor}")


@require_http_methods(["GET", "POST"])
@login_required
def mapping_add(request: HttpRequest, kind: str) -> HttpResponse:
    section = _section_for(request, kind, "add")
    if request.method == "GET":
        return _render_form(request, section, section.form())
    return _save(request, section, section.form(request.POST), None)


@require_http_methods(["GET", "POST"])
@login_required
def mapping_edit(request: HttpRequest, kind: str, pk: int) -> HttpResponse:
    section = _section_for(request, kind, "change")
    obj = get_object_or_404(section.model, pk=pk)
    if request.method == "GET":
        return _render_form(request, section, section.form(instance=obj), obj=obj)
    return _save(request, section, section.form(request.POST, instance=obj), obj)


@require_POST
@login_required
@vary_on_headers("HX-Request")
def mapping_preview(request: HtmxHttpRequest, kind: str, pk: int | None = None) -> HttpResponse:
    """What saving the submitted values would affect; nothing is saved. htmx swaps the preview
    region in place (200 even for an invalid form, so its errors are shown); without JS the
    form page comes back with the preview under it."""
    section = _section_for(request, kind, "change" if pk is not None else "add")
    original = get_object_or_404(section.model, pk=pk) if pk is not None else None
    # The form builds the proposed row on its own copy: the original stays as it is now.
    current = get_object_or_404(section.model, pk=pk) if pk is not None else None
    form = section.form(request.POST, instance=current)
    valid = form.is_valid()
    result = section.preview(form.instance, original) if valid else None
    status = 200 if valid or request.htmx else 400
    return _render_form(
        request, section, form, obj=original, result=result, status=status, partial=request.htmx
    )


@require_POST
@login_required
@vary_on_headers("HX-Request")
def mapping_delete(request: HtmxHttpRequest, kind: str, pk: int) -> HttpResponse:
    section = _section_for(request, kind, "delete")
    obj = get_object_or_404(section.model, pk=pk)
    form = forms.DeleteForm(request.POST)
    form.is_valid()  # the reason is optional; an over-long one is cut by the service
    text = str(obj)
    section.delete(obj, actor=request.user, reason=form.change_reason)
    if request.htmx:
        context = _section_context(section, Labels.load())
        return render(request, "mappings/mapping_list.html#section", context)
    messages.success(request, f"Deleted: {text}.")
    return redirect(reverse("mappings:mapping_list") + f"#{section.anchor}")
