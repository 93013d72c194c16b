"""Domain errors → ``{"detail": ...}`` with 400 or 409."""

from __future__ import annotations

from rest_framework.exceptions import APIException


class Conflict(APIException):
    status_code = 409
    default_detail = "The request conflicts with the current state."
    default_code = "conflict"
