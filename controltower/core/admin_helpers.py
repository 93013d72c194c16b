"""Register canonical models with history-aware admin classes in one call per app."""

from __future__ import annotations

from django.contrib import admin
from django.db import models
from simple_history.admin import SimpleHistoryAdmin

CANONICAL_READONLY = ("correlation_id", "created_at", "updated_at")


def register_canonical(*model_classes: type[models.Model], **options: object) -> None:
    for model in model_classes:
        if admin.site.is_registered(model):
            continue
        names = [f.name for f in model._meta.fields if not f.is_relation][:8]
        attrs = {
            "list_display": tuple(options.get("list_display", names)),
            "readonly_fields": CANONICAL_READONLY,
            "search_fields": tuple(
                n for n in ("code", "number", "name", "external_id", "title") if n in names
            ),
        }
        admin.site.register(model, type(f"{model.__name__}Admin", (SimpleHistoryAdmin,), attrs))
