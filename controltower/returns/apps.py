from __future__ import annotations

from django.apps import AppConfig


class ReturnsConfig(AppConfig):
    name = "controltower.returns"
    label = "returns"
