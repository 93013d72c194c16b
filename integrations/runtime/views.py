"""Integration messages in the browser: inspect one, retry it, or replay it (edited or not)."""

from __future__ import annotations

import json
from typing import Any

from django.contrib import messages
from django.contrib.auth.decorators import login_required, permission_required
from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from controltower.exceptions.models import OpsException
from integrations.runtime import services
from integrations.runtime.forms import ReplayForm, RetryForm
from integrations.runtime.models import InboundEvent, MessageAction, OutboundMessage


def _pretty(value: Any) -> str:
    return json.dumps(value, indent=2, sort_keys=True, ensure_ascii=False)


def _event_json(event: InboundEvent) -> Any:
    try:
        return json.loads(event.body)
    except ValueError:
        return None


def _context(obj: InboundEvent | OutboundMessage, direction: str) -> dict[str, Any]:
    subject_type = f"integrations.{obj._meta.model_name}"
    return {
        "obj": obj,
        "direction": direction,
        "exceptions": OpsException.objects.filter(
            subject_type=subject_type, subject_id=str(obj.pk)
        ),
        "actions": MessageAction.objects.filter(direction=direction, original_id=obj.pk)
        .select_related("actor")
        .order_by("-created_at"),
        "replays": obj.replays.order_by("-pk"),
    }


@require_GET
@login_required
@permission_required("integrations.view_outboundmessage", raise_exception=True)
def message_detail(request: HttpRequest, pk: int) -> HttpResponse:
    message = get_object_or_404(OutboundMessage.objects.select_related("connection"), pk=pk)
    context = _context(message, MessageAction.Direction.OUTBOUND)
    context["attempts"] = message.attempt_log.all()
    context["retry_form"] = RetryForm()
    context["replay_form"] = ReplayForm(initial={"payload": _pretty(message.payload)})
    return render(request, "integrations/message_detail.html", context)


@require_GET
@login_required
@permission_required("integrations.view_inboundevent", raise_exception=True)
def event_detail(request: HttpRequest, pk: int) -> HttpResponse:
    event = get_object_or_404(InboundEvent.objects.select_related("connection"), pk=pk)
    context = _context(event, MessageAction.Direction.INBOUND)
    parsed = _event_json(event)
    context["retry_form"] = RetryForm()
    context["replay_form"] = ReplayForm(
        initial={"payload": _pretty(parsed) if parsed is not None else event.body}
    )
    return render(request, "integrations/event_detail.html", context)


@require_POST
@login_required
@permission_required("integrations.replay_message", raise_exception=True)
def message_act(request: HttpRequest, pk: int, action: str) -> HttpResponse:
    message = get_object_or_404(OutboundMessage.objects.select_related("connection"), pk=pk)
    context = _context(message, MessageAction.Direction.OUTBOUND)
    context["attempts"] = message.attempt_log.all()
    context["retry_form"] = RetryForm(request.POST if action == "retry" else None)
    context["replay_form"] = ReplayForm(
        request.POST if action == "replay" else None,
        original=message.payload,
        initial={"payload": _pretty(message.payload)},
    )
    form = context[f"{action}_form"]
    if not form.is_valid():
        return render(request, "integrations/message_detail.html", context, status=400)
    try:
        if action == "retry":
            services.retry_outbound_message(message, reason=form.cleaned_data["reason"])
            messages.success(request, "Queued again with a fresh set of attempts.")
            return redirect("integrations:message_detail", pk=message.pk)
        replay = services.replay_outbound_message(
            message, reason=form.cleaned_data["reason"], payload=form.cleaned_data["payload"]
        )
    except services.MessageActionError as exc:
        form.add_error(None, str(exc))
        return render(request, "integrations/message_detail.html", context, status=409)
    messages.success(request, f"Replayed as message {replay.pk}.")
    return redirect("integrations:message_detail", pk=replay.pk)


@require_http_methods(["POST"])
@login_required
@permission_required("integrations.replay_message", raise_exception=True)
def event_act(request: HttpRequest, pk: int, action: str) -> HttpResponse:
    event = get_object_or_404(InboundEvent.objects.select_related("connection"), pk=pk)
    context = _context(event, MessageAction.Direction.INBOUND)
    parsed = _event_json(event)
    context["retry_form"] = RetryForm(request.POST if action == "retry" else None)
    context["replay_form"] = ReplayForm(
        request.POST if action == "replay" else None,
        original=parsed,
        initial={"payload": _pretty(parsed) if parsed is not None else event.body},
    )
    form = context[f"{action}_form"]
    if not form.is_valid():
        return render(request, "integrations/event_detail.html", context, status=400)
    try:
        if action == "retry":
            services.retry_inbound_event(event, reason=form.cleaned_data["reason"])
            messages.success(request, "Queued for processing again.")
            return redirect("integrations:event_detail", pk=event.pk)
        replay = services.replay_inbound_event(
            event, reason=form.cleaned_data["reason"], body=form.cleaned_data["payload"]
        )
    except services.MessageActionError as exc:
        form.add_error(None, str(exc))
        return render(request, "integrations/event_detail.html", context, status=409)
    messages.success(request, f"Replayed as event {replay.pk}.")
    return redirect("integrations:event_detail", pk=replay.pk)
