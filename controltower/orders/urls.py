from __future__ import annotations

from django.urls import path

from controltower.orders import views

app_name = "orders"

urlpatterns = [
    path("", views.order_list, name="order_list"),
    path("<int:pk>/", views.order_detail, name="order_detail"),
    path("<int:pk>/cancel/", views.order_cancel, name="order_cancel"),
]
