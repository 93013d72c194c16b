"""Credentials at rest: Fernet-encrypted with keys from the environment, rotation-friendly.

``CT_CREDENTIALS_KEYS`` holds comma-separated Fernet keys, newest first (MultiFernet encrypts
with the first and decrypts with any). Without it a key is derived from ``SECRET_KEY``, so a
development install works out of the box and production sets its own keys.
"""

from __future__ import annotations

import base64
import hashlib
import json
from typing import Any

from cryptography.fernet import Fernet, InvalidToken, MultiFernet
from django.conf import settings


class CredentialsError(ValueError):
    pass


def _fernet() -> MultiFernet:
    keys = list(settings.CT_CREDENTIALS_KEYS)
    if not keys:
        digest = hashlib.sha256(f"ct-credentials:{settings.SECRET_KEY}".encode()).digest()
        keys = [base64.urlsafe_b64encode(digest).decode()]
    return MultiFernet([Fernet(key) for key in keys])


def encrypt_credentials(values: dict[str, Any]) -> str:
    return _fernet().encrypt(json.dumps(values, sort_keys=True).encode()).decode()


def decrypt_credentials(token: str) -> dict[str, Any]:
    if not token:
        return {}
    try:
        return json.loads(_fernet().decrypt(token.encode()))
    except InvalidToken as exc:
        raise CredentialsError("credentials cannot be decrypted with the configured keys") from exc
