"""Fixtures of the message-action tests (autouse ones apply to this folder only)."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from integrations.runtime import breaker
from tests.factories.catalog import SKUFactory
from tests.factories.integrations import erp_connection, woo_connection
from tests.integrations.runtime.actions.support import ENDPOINT


@pytest.fixture(autouse=True)
def _fast_password_hashing(settings: Any) -> None:
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]


@pytest.fixture(autouse=True)
def _closed_breaker() -> Iterator[None]:
    breaker.reset(ENDPOINT)
    yield
    breaker.reset(ENDPOINT)


@pytest.fixture
def connections(db: None) -> None:
    woo_connection()
    erp_connection(base_url="http://127.0.0.1:9")
    SKUFactory(code="NW-TEE-001-BLK-M")
    SKUFactory(code="NW-CAP-002-NAV-OS")


@pytest.fixture(autouse=True)
def no_commit_callbacks(django_capture_on_commit_callbacks: Any) -> Iterator[list[Any]]:
    """Keep kicks from leaving the test (no worker, no Redis traffic)."""
    with django_capture_on_commit_callbacks(execute=False) as callbacks:
        yield callbacks
