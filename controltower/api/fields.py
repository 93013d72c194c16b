"""Serializer fields whose OpenAPI description matches what they accept."""

from __future__ import annotations

from typing import Any

from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

REASON_MAX_LENGTH = 2000


@extend_schema_field(
    {
        "type": "string",
        "minLength": 1,
        "maxLength": REASON_MAX_LENGTH,
        "pattern": r"\S",
        "description": "why, for the record: at least one non-blank character",
    }
)
class ReasonField(serializers.CharField):
    """A required reason for the audit trail; surrounding whitespace is trimmed."""

    def __init__(self, **kwargs: Any) -> None:
        kwargs.setdefault("max_length", REASON_MAX_LENGTH)
        kwargs.setdefault("allow_blank", False)
        kwargs.setdefault("trim_whitespace", True)
        super().__init__(**kwargs)
