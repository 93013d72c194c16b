"""``manage.py rotate_credentials``: re-encrypt every connection's credentials with the newest
key of ``CT_CREDENTIALS_KEYS`` (and the ciphertext kept in their history), so older keys can
then be dropped. ``--from-secret-key`` also accepts the development key derived from
``SECRET_KEY``, to move an install that ran without ``CT_CREDENTIALS_KEYS`` onto real keys."""

from __future__ import annotations

import logging
from typing import Any

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.db import transaction

from controltower.core.context import acting_as
from integrations.runtime.crypto import CredentialsError, derived_key, rotate_token
from integrations.runtime.models import Connection

logger = logging.getLogger(__name__)

REASON = "credentials re-encrypted with the newest key"


class Command(BaseCommand):
    help = "Re-encrypt every connection's credentials with the newest CT_CREDENTIALS_KEYS key."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument(
            "--from-secret-key",
            action="store_true",
            help="also decrypt with the key derived from SECRET_KEY (installs that ran without "
            "CT_CREDENTIALS_KEYS)",
        )

    def handle(self, *args: Any, from_secret_key: bool = False, **options: Any) -> None:
        if not settings.CT_CREDENTIALS_KEYS:
            raise CommandError("CT_CREDENTIALS_KEYS is not set: there is no key to rotate to")
        extra = [derived_key(settings.SECRET_KEY)] if from_secret_key else []
        current = history = 0
        try:
            with transaction.atomic(), acting_as("system.runtime"):
                for connection in Connection.objects.select_for_update().order_by("pk"):
                    if not connection.credentials_encrypted:
                        continue
                    connection.credentials_encrypted = rotate_token(
                        connection.credentials_encrypted, extra_keys=extra
                    )
                    connection._change_reason = REASON  # type: ignore[attr-defined]
                    connection.save(update_fields=["credentials_encrypted", "updated_at"])
                    current += 1
                # history keeps ciphertext too: re-encrypt it in place (same values, newest key)
                for row in Connection.history.exclude(credentials_encrypted="").order_by("pk"):
                    row.credentials_encrypted = rotate_token(
                        row.credentials_encrypted, extra_keys=extra
                    )
                    row.save(update_fields=["credentials_encrypted"])
                    history += 1
        except CredentialsError as exc:
            raise CommandError(
                f"{exc}: nothing was changed. Keep every key still in use in "
                "CT_CREDENTIALS_KEYS (newest first), or pass --from-secret-key."
            ) from exc
        logger.info("credentials rotated", extra={"connections": current, "history": history})
        self.stdout.write(
            f"Re-encrypted {current} connection(s) and {history} history row(s) "
            "with the newest key."
        )
