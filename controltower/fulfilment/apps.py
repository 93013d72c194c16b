from __future__ import annotations

from django.apps import AppConfig


class FulfilmentConfig(AppConfig):
    name = "controltower.fulfilment"
    label = "fulfilment"
