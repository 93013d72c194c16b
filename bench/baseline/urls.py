from __future__ import annotations

from django.urls import path

from bench.baseline.views import filler, naive_webhook, ping

app_name = "bench_baseline"

urlpatterns = [
    path("naive-webhook/", naive_webhook, name="naive_webhook"),
    path("ping/", ping, name="ping"),
    path("filler/", filler, name="filler"),
]
