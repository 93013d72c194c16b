from __future__ import annotations

from django.urls import path

from controltower.dashboards import views

app_name = "dashboards"

urlpatterns = [path("", views.home, name="home")]
