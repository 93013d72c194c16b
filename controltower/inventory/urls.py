from __future__ import annotations

from django.urls import path

from controltower.inventory import views

app_name = "inventory"

urlpatterns = [
    path("", views.stock_list, name="stock_list"),
    path("<str:code>/", views.stock_detail, name="stock_detail"),
]
