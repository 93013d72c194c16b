"""Who or what is acting, and for which business transaction.

A contextvar holds the current actor (a person, or an inactive service user such as
``sync.woocommerce``) and the current correlation id. Middleware sets them for requests, the
task decorator for Celery tasks; services read them to stamp history rows and events.
"""

from __future__ import annotations

import contextlib
import contextvars
from collections.abc import Iterator
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from django.contrib.auth.models import AbstractBaseUser

_actor: contextvars.ContextVar[AbstractBaseUser | None] = contextvars.ContextVar(
    "ct_actor", default=None
)
_correlation_id: contextvars.ContextVar[str | None] = contextvars.ContextVar(
    "ct_correlation_id", default=None
)

SERVICE_USERS = {
    "sync.woocommerce": "WooCommerce sync",
    "sync.erp": "ERP sync",
    "sync.pos": "POS sync",
    "sync.wms": "WMS sync",
    "sync.payments": "Payment gateway sync",
    "sync.finance": "Finance ledger sync",
    "system.runtime": "Integration runtime",
    "system.reconciler": "Reconciler",
    "system.sla": "Stuck-order sweep",
    "system.inventory": "Inventory checks",
    "system.pricing": "Price policy checks",
    "system.demo": "Demo seeder",
}


def current_actor() -> AbstractBaseUser | None:
    return _actor.get()


def current_correlation_id() -> str | None:
    return _correlation_id.get()


def service_user(username: str) -> AbstractBaseUser:
    """The inactive service user that names a process in history (created on first use)."""
    from django.contrib.auth import get_user_model

    from controltower.core import memo

    if username not in SERVICE_USERS:
        raise ValueError(f"unknown service user {username!r}")
    key = ("service-user", username)
    held = memo.recall(key)
    if held is not None:
        return held
    user, created = get_user_model().objects.get_or_create(
        username=username,
        defaults={"is_active": False, "first_name": SERVICE_USERS[username]},
    )
    if not created:  # a row made now may yet be rolled back: remember only what existed
        memo.keep(key, user)
    return user


@contextlib.contextmanager
def acting_as(actor: AbstractBaseUser | str | None) -> Iterator[AbstractBaseUser | None]:
    user = service_user(actor) if isinstance(actor, str) else actor
    token = _actor.set(user)
    try:
        yield user
    finally:
        _actor.reset(token)


@contextlib.contextmanager
def correlated(correlation_id: Any) -> Iterator[str | None]:
    value = str(correlation_id) if correlation_id else None
    token = _correlation_id.set(value)
    try:
        yield value
    finally:
        _correlation_id.reset(token)
