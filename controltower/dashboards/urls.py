from __future__ import annotations

from django.urls import path

from controltower.dashboards import views

app_name = "dashboards"

urlpatterns = [
    path("", views.home, name="home"),
    path("kpis/", views.kpi_dashboard, name="kpis"),
]
