from __future__ import annotations

from django.urls import path
from rest_framework.routers import SimpleRouter

from integrations.runtime.api import views

router = SimpleRouter()
router.register("inbound-events", views.InboundEventViewSet, basename="inboundevent")
router.register("outbound-messages", views.OutboundMessageViewSet, basename="outboundmessage")
router.register("message-actions", views.MessageActionViewSet, basename="messageaction")

urlpatterns = [
    *router.urls,
    path("exceptions/<int:pk>/retry/", views.exception_retry, name="exception-retry"),
    path("exceptions/<int:pk>/replay/", views.exception_replay, name="exception-replay"),
    path("backlog/", views.backlog_view, name="backlog"),
]
