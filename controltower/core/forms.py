"""Form fields shared by every page filter form and API filterset.

PostgreSQL keeps ``timestamptz`` offsets within ±15:59; Python accepts up to ±23:59, so a
filter such as ``placed_after=2026-01-01T00:00:00+16:00`` parsed fine and then failed in the
database (500). These fields refuse such values with a clear message (400 over the API, the
form's error on a page) and hand the query an aware datetime in UTC.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from django import forms
from django.core.exceptions import ValidationError

MAX_OFFSET = dt.timedelta(hours=15, minutes=59)
OFFSET_MESSAGE = "Enter a date/time whose UTC offset is between -15:59 and +15:59 (got {offset})."
RANGE_MESSAGE = "Enter a date/time between 0001-01-02 and 9999-12-30."


def _format_offset(offset: dt.timedelta) -> str:
    sign = "-" if offset < dt.timedelta(0) else "+"
    minutes = abs(int(offset.total_seconds())) // 60
    return f"{sign}{minutes // 60:02d}:{minutes % 60:02d}"


def validate_db_datetime(value: dt.datetime | None) -> dt.datetime | None:
    """The value in UTC, or ``ValidationError`` if PostgreSQL could not store or compare it."""
    if value is None:
        return None
    offset = value.utcoffset()
    if offset is not None and abs(offset) > MAX_OFFSET:
        raise ValidationError(
            OFFSET_MESSAGE.format(offset=_format_offset(offset)), code="invalid_offset"
        )
    try:
        return value.astimezone(dt.UTC) if offset is not None else value
    except OverflowError as exc:
        raise ValidationError(RANGE_MESSAGE, code="out_of_range") from exc


class SafeDateTimeFieldMixin:
    def clean(self, value: Any) -> Any:
        return validate_db_datetime(super().clean(value))  # type: ignore[misc]


class SafeDateTimeField(SafeDateTimeFieldMixin, forms.DateTimeField):
    """``forms.DateTimeField`` for page filter forms, refusing what PostgreSQL cannot store."""
