"""The Celery app: Redis broker, late acks, reject on worker lost, prefetch 1 (see settings)."""

from __future__ import annotations

import os

from celery import Celery

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "controltower.settings")

app = Celery("controltower")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks(["integrations.runtime", "integrations.woocommerce", "integrations.erp"])
