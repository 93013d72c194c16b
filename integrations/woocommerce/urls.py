from __future__ import annotations

from django.urls import path

from integrations.woocommerce.webhooks import receive_webhook

app_name = "woocommerce"

urlpatterns = [
    path("<slug:slug>/", receive_webhook, name="webhook_receive"),
]
