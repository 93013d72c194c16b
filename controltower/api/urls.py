"""``/api/v1/``: gathers each app's ``api/`` (the project is the composition root, so it may
mount the integrations' endpoints; the domain apps themselves never import integrations)."""

from __future__ import annotations

from django.urls import include, path

from controltower.api.trace import trace_view

urlpatterns = [
    path("", include("controltower.orders.api.urls")),
    path("", include("controltower.exceptions.api.urls")),
    path("", include("controltower.returns.api.urls")),
    path("", include("controltower.inventory.api.urls")),
    path("", include("controltower.pricing.api.urls")),
    path("", include("integrations.runtime.api.urls")),
    path("traces/<uuid:correlation_id>/", trace_view, name="trace"),
]
