"""The receiver a user would otherwise write: parse the JSON, one ORM insert, answer 200.

It deliberately does less than ours: no signature check, no dedupe, no raw body, no kick. It is
the yardstick `make bench-ingest` measures our receiver against, on the same server in the same
run.
"""

from __future__ import annotations

import json

from django.http import HttpRequest, HttpResponse, JsonResponse
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_POST

from bench.baseline.models import NaiveWebhook


@csrf_exempt
@require_POST
def naive_webhook(request: HttpRequest) -> JsonResponse:
    payload = json.loads(request.body)
    NaiveWebhook.objects.create(topic=request.headers.get("X-WC-Webhook-Topic", ""), body=payload)
    return JsonResponse({"status": "ok"})


def ping(request: HttpRequest) -> HttpResponse:
    """A trivial view: what the server and the load generator manage with no work at all."""
    return HttpResponse(b"ok", content_type="text/plain")


def filler(request: HttpRequest) -> HttpResponse:
    """What the load generator sends once its share is spent; 204 tells it apart, uncounted."""
    return HttpResponse(b"", status=204)
