from __future__ import annotations

import os

from django.core.wsgi import get_wsgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "controltower.settings")

application = get_wsgi_application()

# Signed webhooks take a lean route past the middleware (integrations/runtime/receive.py); every
# other request, and every webhook that is not the plain case, is Django's as usual.
from integrations.runtime.receive import with_fast_webhooks  # noqa: E402

application = with_fast_webhooks(application)
