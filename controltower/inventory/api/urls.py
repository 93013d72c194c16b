from __future__ import annotations

from django.urls import path

from controltower.inventory.api.views import availability

urlpatterns = [path("availability/", availability, name="availability")]
