"""Integration messages in the browser: inspect one, retry it, or replay it (edited or not)."""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from django.contrib import messages
from django.contrib.auth.decorators import login_required, permission_required
from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.views.decorators.http import require_GET, require_POST

from controltower.exceptions.models import OpsException
from integrations.runtime import actions, registry
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


@dataclass(frozen=True)
class _Kind:
    """What differs between an outbound message's page and an inbound event's."""

    model: type[Any]
    direction: str
    template: str
    detail_url: str
    original: Callable[[Any], Any]  # the payload as JSON, to tell an edit from "as it was"
    initial: Callable[[Any], str]  # what the payload box shows


OUTBOUND = _Kind(
    model=OutboundMessage,
    direction=MessageAction.Direction.OUTBOUND,
    template="integrations/message_detail.html",
    detail_url="integrations:message_detail",
    original=lambda message: message.payload,
    initial=lambda message: _pretty(message.payload),
)
INBOUND = _Kind(
    model=InboundEvent,
    direction=MessageAction.Direction.INBOUND,
    template="integrations/event_detail.html",
    detail_url="integrations:event_detail",
    original=_event_json,
    initial=lambda event: (
        _pretty(parsed) if (parsed := _event_json(event)) is not None else event.body
    ),
)


def _page(request: HttpRequest, kind: _Kind, obj: Any, *, action: str = "") -> dict[str, Any]:
    """The page's context; with ``action``, the posted form bound to the request."""
    context = _context(obj, kind.direction)
    if kind is OUTBOUND:
        context["attempts"] = obj.attempt_log.all()
        # A delivered create is never replayed as a create: say so before anyone tries.
        replay_kind, context["replay_refusal"] = actions.replay_offer(obj)
        if replay_kind != obj.kind:
            context["replay_as"] = registry.label_for(replay_kind)
    data = request.POST if action else None
    context["retry_form"] = RetryForm(data if action == "retry" else None)
    context["replay_form"] = ReplayForm(
        data if action == "replay" else None,
        original=kind.original(obj),
        initial={"payload": kind.initial(obj)},
    )
    return context


def _detail(request: HttpRequest, kind: _Kind, pk: int) -> HttpResponse:
    obj = get_object_or_404(kind.model.objects.select_related("connection"), pk=pk)
    context = _page(request, kind, obj)
    return render(request, kind.template, context)


def _act(request: HttpRequest, kind: _Kind, pk: int, action: str) -> HttpResponse:
    obj = get_object_or_404(kind.model.objects.select_related("connection"), pk=pk)
    context = _page(request, kind, obj, action=action)
    form = context[f"{action}_form"]
    if not form.is_valid():
        return render(request, kind.template, context, status=400)
    try:
        if action == "retry":
            actions.retry_message(obj, reason=form.cleaned_data["reason"])
            messages.success(request, "Queued again.")
            return redirect(kind.detail_url, pk=obj.pk)
        result = actions.replay_message(
            obj, reason=form.cleaned_data["reason"], payload=form.cleaned_data["payload"]
        )
    except actions.MessageActionError as exc:
        form.add_error(None, str(exc))
        return render(request, kind.template, context, status=409)
    noun = "message" if kind is OUTBOUND else "event"
    messages.success(request, f"Replayed as {noun} {result.pk}.")
    return redirect(kind.detail_url, pk=result.pk)


@require_GET
@login_required
@permission_required("integrations.view_outboundmessage", raise_exception=True)
def message_detail(request: HttpRequest, pk: int) -> HttpResponse:
    return _detail(request, OUTBOUND, pk)


@require_GET
@login_required
@permission_required("integrations.view_inboundevent", raise_exception=True)
def event_detail(request: HttpRequest, pk: int) -> HttpResponse:
    return _detail(request, INBOUND, pk)


@require_POST
@login_required
@permission_required("integrations.replay_message", raise_exception=True)
def message_act(request: HttpRequest, pk: int, action: str) -> HttpResponse:
    return _act(request, OUTBOUND, pk, action)


@require_POST
@login_required
@permission_required("integrations.replay_message", raise_exception=True)
def event_act(request: HttpRequest, pk: int, action: str) -> HttpResponse:
    return _act(request, INBOUND, pk, action)
