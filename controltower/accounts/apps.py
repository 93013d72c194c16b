from __future__ import annotations

from typing import Any

from django.apps import AppConfig, apps
from django.db.models.signals import post_migrate


def _sync_roles(sender: AppConfig, **kwargs: Any) -> None:
    # post_migrate is sent once per app, after that app's permissions exist; act on the last one
    # so every permission a role names has been created.
    with_models = [config for config in apps.get_app_configs() if config.models_module is not None]
    if sender is not with_models[-1]:
        return
    from controltower.accounts.services import sync_roles

    sync_roles()


class AccountsConfig(AppConfig):
    name = "controltower.accounts"
    label = "accounts"

    def ready(self) -> None:
        post_migrate.connect(_sync_roles, dispatch_uid="ct_sync_roles")
