from __future__ import annotations

from rest_framework.routers import SimpleRouter

from controltower.exceptions.api.views import ExceptionViewSet

router = SimpleRouter()
router.register("exceptions", ExceptionViewSet, basename="exception")
urlpatterns = router.urls
