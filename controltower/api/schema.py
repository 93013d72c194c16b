"""The OpenAPI schema says every status code an endpoint really answers.

DRF answers errors the same way everywhere, so instead of repeating them on every view this
schema class adds them to each operation:

- ``401`` without credentials and ``403`` without the permission (every endpoint);
- ``404`` for an unknown id (an operation with a path parameter) or a page past the last;
- ``400 {"<field>": ["…"]}`` for an invalid filter, page or body (lists and POSTs);
- ``409 {"detail": "…"}`` when a POST action conflicts with the current state, ``415`` for
  a body that is not JSON.

A view's own ``@extend_schema(responses=...)`` still wins for the codes it names.
"""

from __future__ import annotations

from typing import Any

from drf_spectacular.openapi import AutoSchema as SpectacularAutoSchema
from drf_spectacular.utils import OpenApiResponse, inline_serializer
from rest_framework import serializers

ErrorSerializer = inline_serializer(
    "Error", {"detail": serializers.CharField(help_text="what went wrong, for a person")}
)
ValidationErrorSchema: dict[str, Any] = {
    "type": "object",
    "description": "the messages for each invalid field (or non_field_errors); a body that is "
    "not JSON at all gets one ``detail``",
    "properties": {"detail": {"type": "string"}},
    "additionalProperties": {"type": "array", "items": {"type": "string"}},
    "example": {"placed_after": ["Enter a valid date/time."]},
}

_ERRORS: dict[str, tuple[Any, str]] = {
    "400": (ValidationErrorSchema, "invalid input: the messages per field"),
    "401": (ErrorSerializer, "no or invalid credentials"),
    "403": (ErrorSerializer, "signed in without the permission this needs"),
    "404": (ErrorSerializer, "no such object (or page)"),
    "409": (ErrorSerializer, "the action conflicts with the current state"),
    "415": (ErrorSerializer, "the body is not JSON (Content-Type: application/json)"),
}


class AutoSchema(SpectacularAutoSchema):
    def _error_codes(self) -> list[str]:
        codes = ["401", "403"]
        has_path_params = "{" in self.path
        if self.method == "POST":
            codes += ["400", "409", "415"]
        elif self._is_list_view():
            codes += ["400", "404"]
        if has_path_params and "404" not in codes:
            codes.append("404")
        return codes

    def _get_response_bodies(self, direction: Any = "response") -> dict[str, Any]:
        responses = super()._get_response_bodies(direction)
        for code in self._error_codes():
            if code in responses:
                continue
            serializer, description = _ERRORS[code]
            responses[code] = self._get_response_for_code(
                OpenApiResponse(serializer, description=description), code, direction=direction
            )
        return responses
