"""``/api/schema/`` (OpenAPI 3) and ``/api/docs/`` (Swagger UI) for signed-in people only."""

from __future__ import annotations

from typing import Any

import pytest
from django.contrib.auth.models import User
from django.test import Client

SCHEMA = "/api/schema/"
DOCS = "/api/docs/"


@pytest.fixture(autouse=True)
def _fast_password_hashing(settings: Any) -> None:
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]


def test_schema_is_openapi_3_listing_the_api(client: Client, ops_user: User) -> None:
    # given
    client.force_login(ops_user)
    # when
    response = client.get(SCHEMA, {"format": "json"})
    # then
    assert response.status_code == 200
    schema = response.json()
    assert schema["openapi"].startswith("3")
    assert schema["info"]["title"] == "Control Tower API"
    paths = schema["paths"]
    assert {"/api/v1/orders/", "/api/v1/orders/{id}/", "/api/v1/exceptions/"} <= set(paths)
    parameters = {p["name"] for p in paths["/api/v1/orders/"]["get"]["parameters"]}
    assert {"state", "channel", "correlation_id", "placed_after", "page"} <= parameters


def test_schema_default_format_is_yaml(client: Client, ops_user: User) -> None:
    # given
    client.force_login(ops_user)
    # when
    response = client.get(SCHEMA)
    # then
    assert response.status_code == 200
    assert response.content.startswith(b"openapi: 3")


def test_schema_anonymous_is_refused(client: Client, db: None) -> None:
    # given / when
    response = client.get(SCHEMA, {"format": "json"})
    # then
    assert response.status_code == 401
    assert response.json() == {"detail": "Authentication credentials were not provided."}


def test_schema_token_auth(client: Client, exec_viewer: User) -> None:
    # given
    from rest_framework.authtoken.models import Token

    token = Token.objects.create(user=exec_viewer)
    # when
    response = client.get(
        SCHEMA, {"format": "json"}, headers={"Authorization": f"Token {token.key}"}
    )
    # then
    assert response.status_code == 200


def test_docs_render_html_for_logged_in_user(client: Client, ops_user: User) -> None:
    # given
    client.force_login(ops_user)
    # when
    response = client.get(DOCS)
    # then
    assert response.status_code == 200
    assert response["Content-Type"].startswith("text/html")
    html = response.content.decode()
    assert "swagger-ui" in html
    assert "<script>" not in html  # the init script is a URL of its own (CSP: no inline script)
    script = client.get(DOCS, {"script": ""})
    assert script["Content-Type"].startswith("application/javascript")
    assert SCHEMA in script.content.decode()


def test_docs_anonymous_is_refused(client: Client, db: None) -> None:
    # given / when
    response = client.get(DOCS)
    # then
    assert response.status_code == 401
