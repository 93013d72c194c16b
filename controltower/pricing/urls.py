from __future__ import annotations

from django.urls import path

from controltower.pricing import views

app_name = "pricing"

urlpatterns = [
    path("exceptions/<int:pk>/push/", views.price_push, name="price_push"),
]
