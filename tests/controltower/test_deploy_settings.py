"""Production settings: ``check --deploy`` clean with the documented environment, credentials
on their own rotatable keys, a CSP without inline script, throttled logins."""

from __future__ import annotations

import io
import os
import re
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from cryptography.fernet import Fernet
from django.conf import settings
from django.contrib.auth.models import User
from django.core.management import call_command
from django.test import Client, override_settings

from integrations.runtime.crypto import CredentialsError, derived_key
from integrations.runtime.models import Connection
from tests.factories.integrations import woo_connection

ROOT = Path(__file__).resolve().parents[2]

# The production environment docs/deploy.md documents (with throwaway values).
PRODUCTION_ENV = {
    "CT_PRODUCTION": "true",
    "SECRET_KEY": "x7$Qp!v2Lm9#Rt4Wz8&Kc1^Nb6*Hd3(Fg5)Js0-Ua+Ye7=Io2Xq",
    "CT_CREDENTIALS_KEYS": Fernet.generate_key().decode(),
    "ALLOWED_HOSTS": "tower.example.com",
    "CSRF_TRUSTED_ORIGINS": "https://tower.example.com",
    "CT_SECURE_PROXY_SSL_HEADER": "X-Forwarded-Proto:https",
}


def _manage(*args: str, **env: str) -> subprocess.CompletedProcess[str]:
    environment = {
        key: value
        for key, value in os.environ.items()
        if not key.startswith(("CT_", "SECRET_KEY", "DEBUG", "ALLOWED_HOSTS"))
    }
    environment.update(env)
    return subprocess.run(
        [sys.executable, "manage.py", *args],
        cwd=ROOT,
        env=environment,
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_check_deploy_is_clean_with_the_documented_production_environment() -> None:
    # given / when
    result = _manage("check", "--deploy", "--fail-level", "WARNING", **PRODUCTION_ENV)
    # then
    assert result.returncode == 0, result.stdout + result.stderr
    assert "System check identified no issues" in result.stdout


def test_check_deploy_without_production_flags_names_what_is_missing() -> None:
    # given: the development defaults
    # when
    result = _manage("check", "--deploy", "--fail-level", "WARNING", SECRET_KEY="x" * 60)
    # then
    assert result.returncode != 0
    for warning in ("security.W004", "security.W008", "security.W012", "security.W016"):
        assert warning in result.stderr


def test_production_without_credentials_keys_refuses_to_start() -> None:
    # given
    env = {**PRODUCTION_ENV, "CT_CREDENTIALS_KEYS": ""}
    # when
    result = _manage("check", **env)
    # then
    assert result.returncode != 0
    assert "CT_CREDENTIALS_KEYS must be set in production" in result.stderr


def test_production_without_secret_key_refuses_to_start() -> None:
    # given
    env = {key: value for key, value in PRODUCTION_ENV.items() if key != "SECRET_KEY"}
    # when
    result = _manage("check", **env)
    # then
    assert result.returncode != 0
    assert "SECRET_KEY must be set in production" in result.stderr


def test_malformed_credentials_key_stops_start_up_naming_its_position() -> None:
    # given / when
    result = _manage("check", CT_CREDENTIALS_KEYS=f"{Fernet.generate_key().decode()},not-a-key")
    # then
    assert result.returncode != 0
    assert "CT_CREDENTIALS_KEYS: key 2 is not a Fernet key" in result.stderr


def test_malformed_proxy_header_names_the_variable() -> None:
    # given / when
    result = _manage("check", CT_SECURE_PROXY_SSL_HEADER="https")
    # then
    assert result.returncode != 0
    assert "CT_SECURE_PROXY_SSL_HEADER must look like 'X-Forwarded-Proto:https'" in result.stderr


# --- credentials keys ---------------------------------------------------------------------------

OLD_KEY = Fernet.generate_key().decode()
NEW_KEY = Fernet.generate_key().decode()
CREDENTIALS = {"webhook_secret": "s3cret", "consumer_key": "ck_1", "consumer_secret": "cs_1"}


@pytest.mark.django_db
def test_credentials_survive_a_secret_key_change() -> None:
    # given
    with override_settings(CT_CREDENTIALS_KEYS=[OLD_KEY]):
        connection = woo_connection()
    # when
    with override_settings(CT_CREDENTIALS_KEYS=[OLD_KEY], SECRET_KEY="another-secret-key" * 3):
        values = Connection.objects.get(pk=connection.pk).credentials
    # then
    assert values["webhook_secret"] == "test-webhook-secret"


@pytest.mark.django_db
def test_rotate_credentials_reencrypts_connections_and_history_with_the_newest_key() -> None:
    # given: credentials under the old key, then a new key put in front
    with override_settings(CT_CREDENTIALS_KEYS=[OLD_KEY]):
        connection = woo_connection()
        connection.set_credentials(CREDENTIALS)
        connection.save()
    out = io.StringIO()
    # when
    with override_settings(CT_CREDENTIALS_KEYS=[NEW_KEY, OLD_KEY]):
        call_command("rotate_credentials", stdout=out)
    # then: the old key can be dropped; current row and every history row open with the new one
    assert "Re-encrypted 1 connection(s)" in out.getvalue()
    with override_settings(CT_CREDENTIALS_KEYS=[NEW_KEY]):
        assert Connection.objects.get(pk=connection.pk).credentials == CREDENTIALS
        for row in connection.history.exclude(credentials_encrypted=""):
            assert Fernet(NEW_KEY).decrypt(row.credentials_encrypted.encode())
    latest = connection.history.first()
    assert latest.history_change_reason == "credentials re-encrypted with the newest key"
    assert latest.history_user.username == "system.runtime"


@pytest.mark.django_db
def test_rotate_credentials_moves_secret_key_derived_credentials_onto_real_keys() -> None:
    # given: an install that ran without CT_CREDENTIALS_KEYS
    with override_settings(CT_CREDENTIALS_KEYS=[]):
        connection = woo_connection()
    out = io.StringIO()
    # when
    with override_settings(CT_CREDENTIALS_KEYS=[NEW_KEY]):
        call_command("rotate_credentials", "--from-secret-key", stdout=out)
        values = Connection.objects.get(pk=connection.pk).credentials
    # then
    assert values["consumer_key"] == "ck_t"
    assert derived_key(settings.SECRET_KEY) not in settings.CT_CREDENTIALS_KEYS


@pytest.mark.django_db
def test_rotate_credentials_without_the_old_key_changes_nothing_and_says_why() -> None:
    # given
    with override_settings(CT_CREDENTIALS_KEYS=[OLD_KEY]):
        connection = woo_connection()
    before = Connection.objects.get(pk=connection.pk).credentials_encrypted
    # when
    with override_settings(CT_CREDENTIALS_KEYS=[NEW_KEY]), pytest.raises(Exception) as error:
        call_command("rotate_credentials")
    # then
    assert "credentials cannot be decrypted with the configured keys: nothing was changed" in str(
        error.value
    )
    assert Connection.objects.get(pk=connection.pk).credentials_encrypted == before
    with override_settings(CT_CREDENTIALS_KEYS=[NEW_KEY]), pytest.raises(CredentialsError):
        Connection.objects.get(pk=connection.pk).credentials  # noqa: B018


# --- CSP: no inline script ------------------------------------------------------------------


def test_templates_have_no_inline_script_or_event_handler() -> None:
    # given
    templates = list((ROOT / "templates").rglob("*.html"))
    # when
    offending = [
        str(path.relative_to(ROOT))
        for path in templates
        if re.search(r"<script(?![^>]*\bsrc=)[^>]*>", path.read_text())
        or re.search(r"\son[a-z]+\s*=", path.read_text())
        or re.search(r"\sstyle\s*=|<style", path.read_text())
    ]
    # then
    assert templates and offending == []


@pytest.mark.django_db
def test_pages_carry_a_csp_without_unsafe_inline(client: Client) -> None:
    # given / when
    response = client.get("/accounts/login/")
    # then
    policy = response["Content-Security-Policy"]
    assert "script-src 'self'" in policy
    assert "frame-ancestors 'none'" in policy
    assert "unsafe-inline" not in policy and "unsafe-eval" not in policy


# --- login throttling ---------------------------------------------------------------------------


@pytest.fixture
def _fast_password_hashing(settings: Any) -> None:
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]


@pytest.mark.usefixtures("_fast_password_hashing")
def test_login_after_too_many_bad_passwords_is_refused_with_a_clear_message(
    client: Client, ops_user: User
) -> None:
    # given: N-1 bad passwords for one username from one address are told they did not match
    for _ in range(settings.AXES_FAILURE_LIMIT - 1):
        bad = client.post("/accounts/login/", {"username": "olivia.ops", "password": "nope"})
        assert bad.status_code == 200
        assert "didn&#x27;t match" in bad.content.decode() or "didn't match" in bad.content.decode()
    # when: the N-th bad password (which locks), then the N+1-th with the right password
    locked = client.post("/accounts/login/", {"username": "olivia.ops", "password": "nope"})
    right = client.post("/accounts/login/", {"username": "olivia.ops", "password": "pw-olivia.ops"})
    # then
    for response in (locked, right):
        assert response.status_code == 429
        assert "Too many failed logins for this username from your address" in (
            response.content.decode()
        )
        assert response["Retry-After"] == "900"
    assert "_auth_user_id" not in client.session


@pytest.mark.usefixtures("_fast_password_hashing")
def test_login_throttle_is_per_username(client: Client, ops_user: User, admin_user: User) -> None:
    # given
    for _ in range(settings.AXES_FAILURE_LIMIT):
        client.post("/accounts/login/", {"username": "olivia.ops", "password": "nope"})
    # when
    response = client.post(
        "/accounts/login/", {"username": "adam.admin", "password": "pw-adam.admin"}
    )
    # then
    assert response.status_code == 302
