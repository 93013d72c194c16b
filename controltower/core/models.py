"""The bases every canonical record is built from: identity, source, time and history."""

from __future__ import annotations

import contextlib
import threading
import uuid
from collections.abc import Iterator
from typing import Any

from django.conf import settings
from django.db import models
from django.db.models import Case, Q, Value, When
from django.utils import timezone
from simple_history.models import HistoricalRecords

from controltower.core.context import current_actor
from controltower.core.writepath import check_write


def history_user(instance: models.Model | None = None, request: Any = None, **_: Any) -> Any:
    """simple-history hook: the request's user, else the contextvar actor (person or service)."""
    user = getattr(request, "user", None)
    if user is not None and user.is_authenticated:
        return user
    return current_actor()


class CorrelatedMixin(models.Model):
    """One id per business transaction: an order and everything that follows from it."""

    correlation_id = models.UUIDField(default=uuid.uuid4, db_index=True, editable=False)

    class Meta:
        abstract = True


class SourcedMixin(models.Model):
    """Where the record came from, under which id, and the source's own modification time."""

    source_system = models.CharField(max_length=64, default="controltower")
    external_id = models.CharField(max_length=191, blank=True, default="")
    source_updated_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        abstract = True

    def is_stale(self, source_updated_at: Any) -> bool:
        """True when an update stamped ``source_updated_at`` is older than what we hold."""
        return (
            self.source_updated_at is not None
            and source_updated_at is not None
            and source_updated_at < self.source_updated_at
        )


class TimestampedMixin(models.Model):
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        abstract = True


class CanonicalModel(CorrelatedMixin, SourcedMixin, TimestampedMixin):
    """Every business record: correlation id, (source, external id) identity, full history."""

    history = HistoricalRecords(inherit=True, get_user=history_user)

    class Meta:
        abstract = True
        constraints = [
            models.UniqueConstraint(
                fields=["source_system", "external_id"],
                condition=~Q(external_id=""),
                name="%(app_label)s_%(class)s_source_uniq",
            )
        ]


def canonical_constraints(*extra: models.BaseConstraint) -> list[models.BaseConstraint]:
    """The base constraints plus a model's own (Meta.constraints replaces, so extend it)."""
    return [*CanonicalModel._meta.constraints, *extra]


def bulk_create[M: models.Model](model: type[M], rows: list[M], *, reason: str) -> list[M]:
    """Insert canonical rows and their history rows: two statements however many rows, the
    history stamped with ``reason`` and the acting person or service, as ``save()`` would."""
    from simple_history.utils import bulk_create_with_history

    if not rows:
        return rows
    for row in rows:
        check_write(model, row)  # what pre_save would have checked
    actor = current_actor()
    return bulk_create_with_history(
        rows,
        model,
        default_user=actor if actor is not None and actor.pk else None,
        default_change_reason=reason[:100],
    )


def update_rows(model: type[models.Model], rows: list[Any], fields: list[str]) -> None:
    """One ``UPDATE`` for many rows, each getting its in-memory values of ``fields``: a field
    with one value for all rows is set plainly, one whose values differ by ``CASE`` on the key.
    (Django's ``bulk_update`` writes a ``CASE`` for every field, which costs its compiler and
    PostgreSQL rows × fields comparisons.)"""
    if not rows:
        return
    values: dict[str, Any] = {}
    for name in fields:
        field = model._meta.get_field(name)
        held = [getattr(row, field.attname) for row in rows]
        if all(value == held[0] for value in held):
            values[field.attname] = held[0]
        else:
            values[field.attname] = Case(
                *[
                    When(pk=row.pk, then=Value(value, output_field=field))
                    for row, value in zip(rows, held, strict=True)
                ],
                output_field=field,
            )
    model._default_manager.filter(pk__in=[row.pk for row in rows]).update(**values)


def bulk_update[M: models.Model](model: type[M], rows: list[M], fields: list[str]) -> None:
    """Update canonical rows and write their history rows: two statements however many rows;
    each history row keeps its row's :func:`stamp` reason and the acting person or service.
    ``updated_at`` is set here (a bulk update does not run ``auto_now``)."""
    from simple_history.utils import get_history_manager_for_model

    if not rows:
        return
    now = timezone.now()
    for row in rows:
        check_write(model, row)  # what pre_save would have checked
        row.updated_at = now  # type: ignore[attr-defined]
    update_rows(model, rows, [*fields, "updated_at"])
    actor = current_actor()
    get_history_manager_for_model(model).bulk_history_create(
        rows, update=True, default_user=actor if actor is not None and actor.pk else None
    )


def stamp(instance: models.Model, reason: str) -> models.Model:
    """Attach the change reason that simple-history writes on the next save."""
    instance._change_reason = reason  # type: ignore[attr-defined]
    return instance


_deferred = threading.local()


@contextlib.contextmanager
def deferred_records() -> Iterator[None]:
    """Hold the event rows :meth:`EventRecord.record` makes inside the block and insert them at
    its end, one statement per model, in the caller's transaction (a worker's unit of work: an
    inbound event, a delivery). Use it only inside an ``atomic`` block whose writes commit or roll
    back together: a row recorded in an inner savepoint that is rolled back and caught is still
    written. An exception discards the rows with the transaction. Nested: the outer block writes."""
    if getattr(_deferred, "rows", None) is not None:
        yield
        return
    _deferred.rows = []
    try:
        yield
        rows, _deferred.rows = _deferred.rows, None
        by_model: dict[type[models.Model], list[models.Model]] = {}
        for row in rows:
            by_model.setdefault(type(row), []).append(row)
        for model, batch in by_model.items():
            model.objects.bulk_create(batch)  # type: ignore[attr-defined]
    finally:
        _deferred.rows = None


class EventRecord(models.Model):
    """The shape of every typed business-step row (``OrderEvent``, ``RefundEvent``, …): what
    happened (a ``type`` the subclass declares with its choices), its parameters, who did it and
    when, under the transaction's correlation id. The trace page reads these.

    Rows are made with :meth:`record`: at once, or at the end of :func:`deferred_records`."""

    correlation_id = models.UUIDField(db_index=True)
    parameters = models.JSONField(default=dict, blank=True)
    actor = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField(default=timezone.now, db_index=True)

    class Meta:
        abstract = True
        ordering = ["created_at", "id"]

    @classmethod
    def record(cls, **fields: Any) -> EventRecord:
        actor = current_actor()
        row = cls(actor=actor if actor is not None and actor.pk else None, **fields)
        rows = getattr(_deferred, "rows", None)
        if rows is None:
            row.save(force_insert=True)
        else:
            check_write(cls, row)  # what pre_save would have checked
            rows.append(row)
        return row
