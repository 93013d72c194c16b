"""The filterset base and filter backend every API list uses.

Dates and datetimes go through :mod:`controltower.core.forms`, so a value PostgreSQL cannot
compare answers ``400 {"<field>": ["…"]}`` instead of a database error; a filterset declared
with ``filterset_fields`` gets the same fields through ``FILTER_DEFAULTS``.
"""

from __future__ import annotations

import django_filters
from django.db import models
from django_filters.fields import IsoDateTimeField
from django_filters.rest_framework import DjangoFilterBackend

from controltower.core.forms import SafeDateTimeFieldMixin


class SafeIsoDateTimeField(SafeDateTimeFieldMixin, IsoDateTimeField):
    pass


class DateTimeFilter(django_filters.IsoDateTimeFilter):
    """An ISO 8601 datetime filter whose offset and range PostgreSQL accepts."""

    field_class = SafeIsoDateTimeField


class FilterSet(django_filters.FilterSet):
    FILTER_DEFAULTS = {
        **django_filters.FilterSet.FILTER_DEFAULTS,
        models.DateTimeField: {"filter_class": DateTimeFilter},
    }


class FilterBackend(DjangoFilterBackend):
    filterset_base = FilterSet
