"""Connections: credentials are encrypted at rest, write-only in the admin, never logged."""

from __future__ import annotations

import logging

import pytest
from django.test import Client

from integrations.runtime.crypto import decrypt_credentials
from integrations.runtime.models import Connection
from tests.factories.integrations import erp_connection

SECRET = "s3cr3t-erp-token-value"


@pytest.mark.django_db
def test_connection_credentials_are_encrypted_at_rest() -> None:
    # given / when
    connection = erp_connection(base_url="http://erp.example")
    connection.set_credentials({"token": SECRET})
    connection.save()
    # then
    stored = Connection.objects.values_list("credentials_encrypted", flat=True).get()
    assert SECRET not in stored
    assert decrypt_credentials(stored) == {"token": SECRET}
    assert all(SECRET not in (h.credentials_encrypted or "") for h in connection.history.all())


@pytest.mark.django_db
def test_admin_sets_credentials_without_ever_showing_them(
    client: Client, admin_user, caplog
) -> None:
    # given
    connection = erp_connection(base_url="http://erp.example")
    client.force_login(admin_user)
    url = f"/admin/integrations/connection/{connection.pk}/change/"
    # when: an admin enters new credentials
    with caplog.at_level(logging.DEBUG):
        response = client.post(
            url,
            {
                "slug": "erp-main",
                "name": "ERP",
                "kind": "erp",
                "base_url": "http://erp.example",
                "enabled": "on",
                "rate_limit_per_s": "20",
                "timeout_s": "5",
                "new_credentials": f'{{"token": "{SECRET}"}}',
            },
        )
    # then: stored encrypted, never rendered back, never logged
    assert response.status_code == 302, response.content[:500]
    connection.refresh_from_db()
    assert connection.credentials == {"token": SECRET}
    page = client.get(url).content.decode()
    assert SECRET not in page
    assert SECRET not in caplog.text


@pytest.mark.django_db
def test_admin_connection_page_is_for_admins_only(client: Client, ops_user) -> None:
    # given
    connection = erp_connection(base_url="http://erp.example")
    client.force_login(ops_user)
    # when
    response = client.get(f"/admin/integrations/connection/{connection.pk}/change/")
    # then
    assert response.status_code == 302
    assert "/admin/login/" in response["Location"]
