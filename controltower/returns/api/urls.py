from __future__ import annotations

from rest_framework.routers import SimpleRouter

from controltower.returns.api.views import RefundViewSet

router = SimpleRouter()
router.register("refunds", RefundViewSet, basename="refund")
urlpatterns = router.urls
