"""The ops action on a price-policy exception: push the ERP price to the store (a reason is
required and kept). Refusals come back on the exception's page with the reason, never a 500."""

from __future__ import annotations

from django.contrib import messages
from django.contrib.auth.decorators import login_required, permission_required
from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect
from django.views.decorators.http import require_POST

from controltower.exceptions.forms import ReasonForm
from controltower.exceptions.models import OpsException
from controltower.exceptions.views import render_detail
from controltower.pricing.services import PricePushError, request_price_push

PUSH_PERMISSION = "pricing.add_pricepush"


@require_POST
@login_required
@permission_required("exceptions.view_opsexception", raise_exception=True)
def price_push(request: HttpRequest, pk: int) -> HttpResponse:
    exception = get_object_or_404(OpsException, pk=pk)
    if not request.user.has_perm(PUSH_PERMISSION):
        refusal = "Only ops may push the ERP price to the store. You can still read it."
        return render_detail(request, exception, ReasonForm(), status=403, refusal=refusal)
    form = ReasonForm(request.POST)
    if not form.is_valid():
        return render_detail(request, exception, form, status=400)
    try:
        push = request_price_push(exception, actor=request.user, reason=form.cleaned_data["reason"])
    except PricePushError as exc:
        form.add_error(None, str(exc))
        return render_detail(request, exception, form, status=409)
    messages.success(
        request,
        f"The ERP price {push.regular_price_amount:.2f} {push.currency} is on its way to the "
        "store; this exception closes when the next sync shows it.",
    )
    return redirect("exceptions:exception_detail", pk=exception.pk)
