from __future__ import annotations

from django.apps import AppConfig


class ExceptionsConfig(AppConfig):
    name = "controltower.exceptions"
    label = "exceptions"
