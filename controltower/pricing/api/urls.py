from __future__ import annotations

from rest_framework.routers import SimpleRouter

from controltower.pricing.api.views import PricePushViewSet

router = SimpleRouter()
router.register("price-pushes", PricePushViewSet, basename="price-push")
urlpatterns = router.urls
