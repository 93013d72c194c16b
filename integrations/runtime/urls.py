from __future__ import annotations

from django.urls import path

from integrations.runtime import views

app_name = "integrations"

urlpatterns = [
    path("messages/<int:pk>/", views.message_detail, name="message_detail"),
    path("messages/<int:pk>/retry/", views.message_act, {"action": "retry"}, name="message_retry"),
    path(
        "messages/<int:pk>/replay/", views.message_act, {"action": "replay"}, name="message_replay"
    ),
    path("events/<int:pk>/", views.event_detail, name="event_detail"),
    path("events/<int:pk>/retry/", views.event_act, {"action": "retry"}, name="event_retry"),
    path("events/<int:pk>/replay/", views.event_act, {"action": "replay"}, name="event_replay"),
]
