"""The Celery app: Redis broker, late acks, reject on worker lost, prefetch 1 (see settings)."""

from __future__ import annotations

import os

from celery import Celery
from django.conf import settings

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "controltower.settings")

app = Celery("controltower")
app.config_from_object("django.conf:settings", namespace="CELERY")
# The runtime's tasks and every configured connector's (``CT_CONNECTORS``), read lazily.
app.autodiscover_tasks(lambda: ["integrations.runtime", *settings.CT_CONNECTORS])
