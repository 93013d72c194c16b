"""Schemathesis over the whole OpenAPI schema, in process (WSGI), as an admin token.

Every operation gets a small, derandomized set of generated requests (valid and invalid). The
run fails on any 5xx and on any response that the schema does not describe (status code,
content type, body shape). Bounded so that it runs in well under two minutes on two cores.
"""

from __future__ import annotations

import json
from decimal import Decimal
from typing import Any

import pytest
import schemathesis
from django.contrib.auth.models import User
from django.core.signals import request_finished, request_started
from django.db import close_old_connections
from drf_spectacular.generators import SchemaGenerator
from drf_spectacular.renderers import OpenApiJsonRenderer
from hypothesis import HealthCheck, settings
from rest_framework.authtoken.models import Token
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_headers_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from controltower.exceptions.choices import ExceptionType, Severity
from controltower.exceptions.services import open_exception
from controltower.wsgi import application


@pytest.fixture(autouse=True)
def _keep_test_connection() -> Any:
    """The WSGI handler closes "old" connections around each request; inside the test's
    transaction that would close it (Django's own test client disconnects the same handler)."""
    request_started.disconnect(close_old_connections)
    request_finished.disconnect(close_old_connections)
    yield
    request_started.connect(close_old_connections)
    request_finished.connect(close_old_connections)


@pytest.fixture
def admin_token(admin_user: User) -> str:
    return Token.objects.create(user=admin_user).key


def _app_schema() -> Any:
    """The schema ``/api/schema/`` serves, rendered in process and bound to the WSGI app (the
    served view needs a signed-in user, and collection runs before the test database exists)."""
    generator = SchemaGenerator()
    rendered = OpenApiJsonRenderer().render(generator.get_schema(request=None, public=True))
    loaded = schemathesis.openapi.from_dict(json.loads(rendered))
    loaded.app = application
    return loaded


schema = _app_schema()

# No 5xx, and every response is one the schema documents: its status code, content type,
# headers and body. (Whether a request schemathesis thinks valid is accepted is not checked:
# a filter's empty value means "no filter", and an unknown username is a 400 by design.)
CHECKS = [
    not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_headers_conformance,
    response_schema_conformance,
]


@pytest.fixture(autouse=True)
def _some_data(db: None) -> None:
    # a little data, so detail and action endpoints answer more than 404
    open_exception(
        type=ExceptionType.DEAD_LETTER,
        dedupe_key="schemathesis:1",
        title="Dead letter: schemathesis",
        severity=Severity.HIGH,
        money_at_risk=Decimal("10.00"),
    )


@pytest.mark.django_db
@schema.parametrize()
@settings(
    max_examples=6,
    derandomize=True,
    deadline=None,
    database=None,
    suppress_health_check=list(HealthCheck),
)
def test_api_conforms_to_its_schema(case: Any, admin_token: str) -> None:
    # given: a generated request, sent with the admin's token
    # when / then: no server error, and the response is one the schema describes
    case.call_and_validate(headers={"Authorization": f"Token {admin_token}"}, checks=CHECKS)
