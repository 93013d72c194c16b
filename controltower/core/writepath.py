"""One write path: the domain's rows change only inside its services.

Every public function of a domain app's ``services.py`` is a :func:`domain_service`. A process
actor — a connector's sync (``sync.<kind>``), the integration runtime, the reconciler — that
saves or deletes a row of a domain app outside one is refused with :class:`WritePathViolation`
(a ``pre_save`` / ``pre_delete`` guard on every model of those apps), so an adapter cannot
change a canonical row around the services, even by mistake. People's requests are governed by
the pages and the admin (read-only fields, actions that call the services); the demo seeder and
tests' factories build fixtures directly.
"""

from __future__ import annotations

import contextlib
import contextvars
import functools
from collections.abc import Callable, Iterator
from typing import Any

from django.apps import apps
from django.db.models.signals import pre_delete, pre_save

from controltower.core.context import current_actor

# The apps whose rows only their services write (labels, so core imports none of them).
GUARDED_APPS = frozenset(
    {
        "catalog",
        "inventory",
        "orders",
        "payments",
        "fulfilment",
        "returns",
        "finance",
        "exceptions",
        "pricing",
    }
)
PROCESS_ACTORS = ("sync.", "system.runtime", "system.reconciler")

_depth: contextvars.ContextVar[int] = contextvars.ContextVar("ct_service_depth", default=0)


class WritePathViolation(RuntimeError):
    """A process changed a domain row outside the domain's services."""


@contextlib.contextmanager
def service_scope() -> Iterator[None]:
    token = _depth.set(_depth.get() + 1)
    try:
        yield
    finally:
        _depth.reset(token)


def domain_service[F: Callable[..., Any]](func: F) -> F:
    """Mark a function as a service of its app: rows it (and what it calls) writes are allowed."""

    @functools.wraps(func)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        with service_scope():
            return func(*args, **kwargs)

    return wrapper  # type: ignore[return-value]


def in_service() -> bool:
    return _depth.get() > 0


def _is_process(actor: Any) -> bool:
    username = getattr(actor, "username", "") or ""
    return username.startswith(PROCESS_ACTORS)


def _refuse(verb: str, sender: type, instance: Any, raw: bool = False) -> None:
    if raw or in_service():
        return
    actor = current_actor()
    if actor is None or not _is_process(actor):
        return
    raise WritePathViolation(
        f"{actor.username} tried to {verb} {sender._meta.label} {instance.pk or '(new)'} "
        f"outside the {sender._meta.app_label} services"
    )


def check_write(model: type, instance: Any) -> None:
    """The guard, for writes that send no ``pre_save`` (rows inserted in bulk)."""
    if model._meta.app_label in GUARDED_APPS:
        _refuse("change", model, instance)


def _guard_save(sender: type, instance: Any, raw: bool = False, **_: Any) -> None:
    _refuse("change", sender, instance, raw)


def _guard_delete(sender: type, instance: Any, **_: Any) -> None:
    _refuse("delete", sender, instance)


def install() -> None:
    """Guard every model of the guarded apps (historical models included)."""
    for model in apps.get_models():
        if model._meta.app_label in GUARDED_APPS:
            uid = f"writepath-{model._meta.label_lower}"
            pre_save.connect(_guard_save, sender=model, weak=False, dispatch_uid=uid + "-save")
            pre_delete.connect(
                _guard_delete, sender=model, weak=False, dispatch_uid=uid + "-delete"
            )
