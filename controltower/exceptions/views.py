"""The work queue in the browser: list, open, assign, resolve, ignore (each with a reason)."""

from __future__ import annotations

from django.conf import settings
from django.contrib import messages
from django.contrib.auth.decorators import login_required, permission_required
from django.core.paginator import Paginator
from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import NoReverseMatch, reverse
from django.views.decorators.http import require_GET, require_POST
from django.views.decorators.vary import vary_on_headers
from django_htmx.middleware import HtmxDetails

from controltower.exceptions import services
from controltower.exceptions.choices import ACTIVE_STATES
from controltower.exceptions.forms import ExceptionFilterForm, ReasonForm
from controltower.exceptions.models import OpsException

PAGE_SIZE = 50


class HtmxHttpRequest(HttpRequest):
    htmx: HtmxDetails


@require_GET
@login_required
@permission_required("exceptions.view_opsexception", raise_exception=True)
@vary_on_headers("HX-Request")
def exception_list(request: HtmxHttpRequest) -> HttpResponse:
    form = ExceptionFilterForm(request.GET)
    template = "exceptions/exception_list.html"
    if request.htmx:
        template += "#exceptions-table"
    if not form.is_valid():
        return render(request, template, {"form": form, "page": None}, status=400)
    items = OpsException.objects.select_related("owner")
    state = form.cleaned_data["state"]
    if not state:
        items = items.filter(state__in=ACTIVE_STATES)
    elif state != "all":
        items = items.filter(state=state)
    if form.cleaned_data["type"]:
        items = items.filter(type=form.cleaned_data["type"])
    page = Paginator(items, PAGE_SIZE).get_page(form.cleaned_data.get("page") or 1)
    context = {"form": form, "page": page, "poll_s": settings.CT_LIVE_POLL_S}
    return render(request, template, context)


def _subject_link(exception: OpsException) -> str:
    """Where the thing behind the exception can be inspected (and replayed, for messages)."""
    routes = {
        "integrations.outboundmessage": "integrations:message_detail",
        "integrations.inboundevent": "integrations:event_detail",
        "orders.order": "orders:order_detail",
    }
    name = routes.get(exception.subject_type)
    if not name or not exception.subject_id:
        return ""
    try:
        return reverse(name, kwargs={"pk": int(exception.subject_id)})
    except (NoReverseMatch, ValueError):
        return ""


@require_GET
@login_required
@permission_required("exceptions.view_opsexception", raise_exception=True)
def exception_detail(request: HttpRequest, pk: int) -> HttpResponse:
    exception = get_object_or_404(OpsException.objects.select_related("owner"), pk=pk)
    return render_detail(request, exception, ReasonForm())


def render_detail(
    request: HttpRequest,
    exception: OpsException,
    form: ReasonForm,
    status: int = 200,
    *,
    refusal: str = "",
) -> HttpResponse:
    """The detail page; ``refusal`` tells why an action was refused (a 403 or 409)."""
    history = exception.history.select_related("history_user").order_by("-history_date")[:50]
    context = {
        "exception": exception,
        "form": form,
        "history": history,
        "subject_link": _subject_link(exception),
        "refusal": refusal,
        "may_act": services.may_act_on(request.user, exception),
        "may_retry_posting": (
            services.is_finance_exception(exception)
            and request.user.has_perm(services.FINANCE_ACT_PERMISSION)
        ),
    }
    return render(request, "exceptions/exception_detail.html", context, status=status)


@require_POST
@login_required
@permission_required("exceptions.view_opsexception", raise_exception=True)
def exception_act(request: HttpRequest, pk: int, action: str) -> HttpResponse:
    """Ops act on any exception; finance on posting exceptions only (403 with the reason)."""
    exception = get_object_or_404(OpsException, pk=pk)
    if not services.may_act_on(request.user, exception):
        refusal = services.refusal_for(request.user, exception)
        return render_detail(request, exception, ReasonForm(), status=403, refusal=refusal)
    try:
        if action == "assign":
            services.assign_exception(exception, owner=request.user)
            messages.success(request, "Assigned to you.")
        else:
            form = ReasonForm(request.POST)
            if not form.is_valid():
                return render_detail(request, exception, form, status=400)
            act = {"resolve": services.resolve_exception, "ignore": services.ignore_exception}
            act[action](exception, reason=form.cleaned_data["reason"])
            messages.success(
                request, f"Exception {'resolved' if action == 'resolve' else 'ignored'}."
            )
    except services.ExceptionActionError as exc:
        form = ReasonForm(request.POST)
        form.add_error(None, str(exc))
        return render_detail(request, exception, form, status=409)
    return redirect("exceptions:exception_detail", pk=exception.pk)
