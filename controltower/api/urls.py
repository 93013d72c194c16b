"""``/api/v1/``: gathers each app's ``api/urls.py``."""

from __future__ import annotations

from django.urls import include, path

urlpatterns = [
    path("", include("controltower.orders.api.urls")),
    path("", include("controltower.exceptions.api.urls")),
]
