from __future__ import annotations

from django.urls import path

from controltower.fulfilment import views

app_name = "fulfilment"

urlpatterns = [
    path("orders/<int:pk>/cancel-backorders/", views.cancel_backorders, name="cancel_backorders"),
]
