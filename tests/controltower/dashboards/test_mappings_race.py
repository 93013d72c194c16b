"""Two admins saving the same key at once: the form cannot see the other's uncommitted row, so
the database's unique constraint decides, and the loser is told in the form's words (400), not
shown a 500. Real PostgreSQL, a second connection in a thread, and no sleeps: the other admin
commits only once our INSERT is seen waiting on its row lock."""

from __future__ import annotations

import threading
import time
from typing import Any

import pytest
from django.contrib.auth.models import User
from django.db import connection, transaction
from django.test import Client

from controltower.orders.models import ChannelStatusMapping
from tests.controltower.dashboards.mappings_fixtures import channel, status_mapping


@pytest.fixture(autouse=True)
def _fast_password_hashing(settings: Any) -> None:
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]


def _wait_for_a_blocked_backend(timeout: float = 10.0) -> bool:
    """True once some backend waits for a lock (pg_locks is live, not a snapshot)."""
    deadline = time.monotonic() + timeout
    with connection.cursor() as cursor:
        while time.monotonic() < deadline:
            cursor.execute("SELECT count(*) FROM pg_locks WHERE NOT granted")
            if cursor.fetchone()[0]:
                return True
            time.sleep(0.02)
    return False


@pytest.mark.django_db(transaction=True)
def test_status_mapping_saved_meanwhile_by_another_admin_is_a_form_error(
    client: Client, admin_user: User
) -> None:
    # given: another admin has inserted woo-web's 'processing' and not committed yet
    web = channel("woo-web")
    client.force_login(admin_user)
    inserted, saw_us_wait = threading.Event(), []

    def other_admin() -> None:
        try:
            with transaction.atomic():
                status_mapping(web, "processing", "accepted")
                inserted.set()
                saw_us_wait.append(_wait_for_a_blocked_backend())
        finally:
            connection.close()

    thread = threading.Thread(target=other_admin)
    thread.start()
    assert inserted.wait(10)
    # when: our save passes the form's check, then waits on their row, then hits the constraint
    response = client.post(
        "/mappings/status/new/",
        {"channel": web.pk, "channel_status": "processing", "state": "on_hold"},
    )
    thread.join(10)
    # then
    assert saw_us_wait == [True]  # the database, not the form, refused it
    assert response.status_code == 400
    form = response.context["form"]
    assert form.errors == {
        "channel_status": ["woo-web's status 'processing' is already mapped to accepted"]
    }
    assert list(ChannelStatusMapping.objects.values_list("state", flat=True)) == ["accepted"]
