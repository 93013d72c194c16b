"""``/hooks/<kind>/<slug>/``: every system kind's webhooks arrive at the one receive path."""

from __future__ import annotations

from django.urls import path

from integrations.runtime.receive import receive_webhook

app_name = "webhooks"

urlpatterns = [
    path("<slug:kind>/<slug:slug>/", receive_webhook, name="receive"),
]
