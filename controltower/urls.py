from __future__ import annotations

from django.conf import settings
from django.contrib import admin
from django.urls import include, path
from drf_spectacular.views import SpectacularAPIView, SpectacularSwaggerSplitView

urlpatterns = [
    path("", include("controltower.dashboards.urls")),
    path("accounts/", include("controltower.accounts.urls")),
    path("orders/", include("controltower.orders.urls")),
    path("exceptions/", include("controltower.exceptions.urls")),
    path("mappings/", include("controltower.dashboards.mappings_urls")),
    path("finance/", include("controltower.finance.urls")),
    path("fulfilment/", include("controltower.fulfilment.urls")),
    path("stock/", include("controltower.inventory.urls")),
    path("pricing/", include("controltower.pricing.urls")),
    path("integrations/", include("integrations.runtime.urls")),
    path("api/v1/", include("controltower.api.urls")),
    path("api/schema/", SpectacularAPIView.as_view(), name="api-schema"),
    path("api/docs/", SpectacularSwaggerSplitView.as_view(url_name="api-schema"), name="api-docs"),
    path("hooks/", include("integrations.runtime.webhook_urls")),
    path("admin/", admin.site.urls),
]

if settings.CT_BENCH_BASELINE:
    urlpatterns.append(path("bench/", include("bench.baseline.urls")))

handler404 = "controltower.api.views.not_found"
