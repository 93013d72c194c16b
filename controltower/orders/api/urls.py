from __future__ import annotations

from rest_framework.routers import SimpleRouter

from controltower.orders.api.views import OrderViewSet

router = SimpleRouter()
router.register("orders", OrderViewSet, basename="order")
urlpatterns = router.urls
