from __future__ import annotations

from django.urls import path

from controltower.exceptions import views

app_name = "exceptions"

urlpatterns = [
    path("", views.exception_list, name="exception_list"),
    path("<int:pk>/", views.exception_detail, name="exception_detail"),
    path("<int:pk>/assign/", views.exception_act, {"action": "assign"}, name="exception_assign"),
    path("<int:pk>/resolve/", views.exception_act, {"action": "resolve"}, name="exception_resolve"),
    path("<int:pk>/ignore/", views.exception_act, {"action": "ignore"}, name="exception_ignore"),
]
