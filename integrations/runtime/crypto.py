"""Credentials at rest: Fernet-encrypted with their own keys, rotation-friendly.

``CT_CREDENTIALS_KEYS`` holds comma-separated Fernet keys, newest first: MultiFernet encrypts
with the first and decrypts with any, so a key is rotated by putting a new one in front,
running ``manage.py rotate_credentials`` (every connection, and its history, re-encrypted with
the newest key) and then dropping the old one. The keys are independent of ``SECRET_KEY``, so
changing ``SECRET_KEY`` (sessions, CSRF, password reset) never makes a credential unreadable.

Unset: in production (``CT_PRODUCTION=true``) settings refuse to start; in development and
the demo a key is derived from ``SECRET_KEY`` so an install works out of the box (and
``rotate_credentials --from-secret-key`` moves such credentials onto real keys).
"""

from __future__ import annotations

import base64
import hashlib
import json
from typing import Any

from cryptography.fernet import Fernet, InvalidToken, MultiFernet
from django.conf import settings
from django.core.exceptions import ImproperlyConfigured


class CredentialsError(ValueError):
    pass


def derived_key(secret_key: str) -> str:
    """The development key: derived from ``SECRET_KEY`` (never used in production)."""
    digest = hashlib.sha256(f"ct-credentials:{secret_key}".encode()).digest()
    return base64.urlsafe_b64encode(digest).decode()


def validate_keys(keys: list[str], *, name: str = "CT_CREDENTIALS_KEYS") -> list[Fernet]:
    fernets = []
    for position, key in enumerate(keys, start=1):
        try:
            fernets.append(Fernet(key))
        except (ValueError, TypeError) as exc:
            raise ImproperlyConfigured(
                f"{name}: key {position} is not a Fernet key (32 url-safe base64-encoded "
                "bytes; make one with `python -c 'from cryptography.fernet import Fernet; "
                "print(Fernet.generate_key().decode())'`)"
            ) from exc
    return fernets


def configured_keys() -> list[str]:
    keys = list(settings.CT_CREDENTIALS_KEYS)
    if keys:
        return keys
    if getattr(settings, "CT_PRODUCTION", False):
        raise ImproperlyConfigured("CT_CREDENTIALS_KEYS must be set in production")
    return [derived_key(settings.SECRET_KEY)]


def fernet(*, extra_keys: list[str] | None = None) -> MultiFernet:
    """The configured keys (newest first), plus ``extra_keys`` accepted for decryption only."""
    return MultiFernet(validate_keys(configured_keys() + list(extra_keys or [])))


def encrypt_credentials(values: dict[str, Any]) -> str:
    return fernet().encrypt(json.dumps(values, sort_keys=True).encode()).decode()


def decrypt_credentials(token: str) -> dict[str, Any]:
    if not token:
        return {}
    try:
        return json.loads(fernet().decrypt(token.encode()))
    except InvalidToken as exc:
        raise CredentialsError("credentials cannot be decrypted with the configured keys") from exc


def rotate_token(token: str, *, extra_keys: list[str] | None = None) -> str:
    """``token`` re-encrypted with the newest key (``CredentialsError`` if no key opens it)."""
    if not token:
        return token
    try:
        return fernet(extra_keys=extra_keys).rotate(token.encode()).decode()
    except InvalidToken as exc:
        raise CredentialsError("credentials cannot be decrypted with the configured keys") from exc
