"""WSGI entry point (gunicorn): pages, API and webhooks; static files when CT_SERVE_STATIC."""

from __future__ import annotations

import os

from django.core.wsgi import get_wsgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "controltower.settings")

application = get_wsgi_application()

from django.conf import settings  # noqa: E402

if settings.CT_SERVE_STATIC:
    from django.contrib.staticfiles.handlers import StaticFilesHandler

    application = StaticFilesHandler(application)  # type: ignore[assignment]

# Webhooks take the lean route past the middleware (integrations/runtime/receive.py); every
# other request is Django's as usual.
from integrations.runtime.receive import with_fast_webhooks  # noqa: E402

application = with_fast_webhooks(application)

# A checkout's availability read with its API token, likewise (controltower/inventory/api/fast.py).
from controltower.inventory.api.fast import with_fast_availability  # noqa: E402

application = with_fast_availability(application)
