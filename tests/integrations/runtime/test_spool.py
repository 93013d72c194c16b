"""The webhook spool: a verified delivery the database cannot take is fsynced to local disk and
answered 2xx, then replayed into the inbox in order, once, when the database is back."""

from __future__ import annotations

import fcntl
import os
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from django.db import DataError, OperationalError
from django.http.request import HttpHeaders
from django.test import Client

from integrations.runtime import receive, registry, spool
from integrations.runtime.models import InboundEvent
from integrations.runtime.tasks import drain_spool
from tests.factories.integrations import WOO_SECRET, woo_connection
from tests.factories.woocommerce import body_of, webhook_headers, woo_order

URL = "/hooks/woocommerce/woo-web/"
T0 = datetime(2026, 11, 22, 10, 0, tzinfo=UTC)
JSON = "application/json"


@pytest.fixture(autouse=True)
def spool_dir(settings: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    """Each test its own spool directory; replays run when the test says (no thread)."""
    settings.CT_SPOOL_DIR = str(tmp_path / "spool")
    monkeypatch.setattr(spool, "_start_replayer", lambda: None)
    spool._forget_own()
    receive.forget_connections()
    yield tmp_path / "spool"
    spool._forget_own()
    receive.forget_connections()


def _order_body(order_id: int, minutes: int = 0) -> bytes:
    return body_of(woo_order(order_id, modified=T0 + timedelta(minutes=minutes)))


def _accept(body: bytes, order_id: int) -> registry.Accept:
    """What the WooCommerce receiver makes of a signed delivery of ``body``."""
    request = registry.WebhookRequest(
        body=body, headers=HttpHeaders(_meta(webhook_headers(body))), content_type=JSON
    )
    secret = {"webhook_secret": WOO_SECRET}
    outcome = registry.WEBHOOKS["woocommerce"](request, _connection(credentials=secret))
    assert isinstance(outcome, registry.Accept) and outcome.resource_id == str(order_id)
    return outcome


def _meta(headers: dict[str, str]) -> dict[str, str]:
    return {"HTTP_" + name.upper().replace("-", "_"): value for name, value in headers.items()}


def _connection(
    pk: int = 1, credentials: dict[str, str] | None = None
) -> registry.WebhookConnection:
    return registry.WebhookConnection(
        pk=pk, slug="woo-web", name="Web", kind="woocommerce", credentials=credentials or {}
    )


def _post(client: Client, body: bytes) -> Any:
    return client.post(
        URL, data=body, content_type="application/json", headers=webhook_headers(body)
    )


class _Unreachable:
    @staticmethod
    def filter(**_: Any) -> Any:
        raise OperationalError("connection refused")


def _database_down(monkeypatch: pytest.MonkeyPatch) -> None:
    """Every read of a Connection and every inbox insert fails as with PostgreSQL stopped."""

    def refuse(*args: Any, **kwargs: Any) -> None:
        raise OperationalError("connection refused")

    monkeypatch.setattr("integrations.runtime.inbox.store_accepted", refuse)
    monkeypatch.setattr(receive.Connection, "objects", _Unreachable)


# --- the file ------------------------------------------------------------------------------------
def test_append_fsyncs_the_record_before_returning(monkeypatch: pytest.MonkeyPatch) -> None:
    # given
    synced: list[int] = []
    real_fsync = os.fsync
    monkeypatch.setattr(spool.os, "fsync", lambda fd: (synced.append(fd), real_fsync(fd)))
    body = _order_body(1001)

    # when
    kept = spool.append("woocommerce", _connection(), body, _accept(body, 1001))

    # then
    assert kept is True
    records, used, damaged = spool.read_records(spool.own_path().read_bytes())
    assert [r.body for r in records] == [body]
    assert records[0].accepted == _accept(body, 1001)
    assert used == spool.own_path().stat().st_size and not damaged
    assert spool._fd in synced  # the record itself, not only the directory


def test_read_records_stops_at_a_torn_tail() -> None:
    # given two records, the second cut short as a writer killed mid-write leaves it
    first, second = _order_body(1), _order_body(2)
    data = b"".join(
        spool.Record("woocommerce", 1, "woo-web", b, _accept(b, i), 0.0).encode()
        for i, b in ((1, first), (2, second))
    )

    # when
    records, used, damaged = spool.read_records(data[:-7])

    # then
    assert [r.body for r in records] == [first]
    assert damaged is False
    assert used < len(data) - 7


def test_read_records_tells_damage_from_a_torn_tail() -> None:
    # given a complete record whose payload no longer matches its checksum
    body = _order_body(1)
    data = bytearray(
        spool.Record("woocommerce", 1, "woo-web", body, _accept(body, 1), 0.0).encode()
    )
    data[-3] ^= 0xFF

    # when
    records, used, damaged = spool.read_records(bytes(data))

    # then
    assert records == [] and used == 0 and damaged is True


def test_append_refuses_beyond_the_cap(settings: Any) -> None:
    # given
    body = _order_body(1001)
    one = spool.Record("woocommerce", 1, "woo-web", body, _accept(body, 1001), 0.0).encode()
    settings.CT_SPOOL_MAX_BYTES = len(one) + len(one) // 2

    # when
    first = spool.append("woocommerce", _connection(), body, _accept(body, 1001))
    second = spool.append("woocommerce", _connection(), body, _accept(body, 1001))

    # then
    assert (first, second) == (True, False)
    assert len(spool.read_records(spool.own_path().read_bytes())[0]) == 1


# --- replay --------------------------------------------------------------------------------------
@pytest.mark.django_db
def test_replay_stores_records_in_order_and_removes_the_file(
    django_capture_on_commit_callbacks: Any,
) -> None:
    # given
    connection = woo_connection()
    bodies = [_order_body(2000 + i) for i in range(5)]
    for i, body in enumerate(bodies):
        spool.append("woocommerce", _connection(connection.pk), body, _accept(body, 2000 + i))

    # when
    with django_capture_on_commit_callbacks(execute=False):
        totals = spool.replay()

    # then
    assert totals == {"files": 1, "records": 5, "stored": 5, "duplicate": 0}
    stored = list(InboundEvent.objects.order_by("pk").values_list("resource_id", flat=True))
    assert stored == [str(2000 + i) for i in range(5)]
    assert not spool.own_path().exists()
    assert spool.pending() is False


@pytest.mark.django_db
def test_replay_stores_a_delivery_spooled_twice_and_delivered_later_once(
    client: Client, django_capture_on_commit_callbacks: Any
) -> None:
    # given the same delivery spooled twice, and sent again once the database is back
    connection = woo_connection()
    body = _order_body(3001)
    accepted = _accept(body, 3001)
    with django_capture_on_commit_callbacks(execute=False):
        spool.append("woocommerce", _connection(connection.pk), body, accepted)
        spool.append("woocommerce", _connection(connection.pk), body, accepted)
        spool.replay()

        # when
        again = _post(client, body)

    # then
    assert again.status_code == 200 and again.json() == {"status": "duplicate"}
    assert InboundEvent.objects.filter(resource_id="3001").count() == 1


@pytest.mark.django_db
def test_replay_keeps_the_file_while_the_database_is_unreachable(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # given
    body = _order_body(4001)
    spool.append("woocommerce", _connection(), body, _accept(body, 4001))
    _database_down(monkeypatch)

    # when / then
    with pytest.raises(OperationalError):
        spool.replay()
    assert spool.pending() is True


@pytest.mark.django_db
def test_replay_drops_a_torn_tail_and_keeps_damage_aside(
    django_capture_on_commit_callbacks: Any, spool_dir: Path
) -> None:
    # given a dead process's file: one good record, then a damaged one
    connection = woo_connection()
    good, bad = _order_body(5001), _order_body(5002)
    data = spool.Record("woocommerce", connection.pk, "woo-web", good, _accept(good, 5001), 0.0)
    damaged = bytearray(
        spool.Record("woocommerce", connection.pk, "woo-web", bad, _accept(bad, 5002), 0.0).encode()
    )
    damaged[-2] ^= 0xFF
    spool_dir.mkdir(parents=True)
    (spool_dir / "gone-host-1.spool").write_bytes(data.encode() + bytes(damaged))

    # when
    with django_capture_on_commit_callbacks(execute=False):
        totals = spool.replay()

    # then
    assert totals["stored"] == 1
    assert InboundEvent.objects.filter(resource_id="5001").count() == 1
    assert not (spool_dir / "gone-host-1.spool").exists()
    kept = list(spool_dir.glob("gone-host-1.spool.damaged-*"))
    assert len(kept) == 1 and kept[0].read_bytes() == bytes(damaged)


@pytest.mark.django_db
def test_replay_skips_a_file_another_process_holds(spool_dir: Path) -> None:
    # given
    body = _order_body(6001)
    spool.append("woocommerce", _connection(), body, _accept(body, 6001))
    holder = os.open(spool.own_path(), os.O_RDONLY)
    fcntl.flock(holder, fcntl.LOCK_EX)

    # when
    try:
        totals = spool.replay()
    finally:
        os.close(holder)

    # then
    assert totals["files"] == 0
    assert spool.pending() is True


@pytest.mark.django_db
def test_drain_spool_task_replays_the_files_of_this_host(
    django_capture_on_commit_callbacks: Any, spool_dir: Path
) -> None:
    # given a file a process that died left behind
    connection = woo_connection()
    body = _order_body(6101)
    record = spool.Record("woocommerce", connection.pk, "woo-web", body, _accept(body, 6101), 0.0)
    spool_dir.mkdir(parents=True)
    (spool_dir / "web-1-4242.spool").write_bytes(record.encode())

    # when
    with django_capture_on_commit_callbacks(execute=False):
        result = drain_spool()

    # then
    assert result == {"files": 1, "records": 1, "stored": 1, "duplicate": 0}
    assert InboundEvent.objects.filter(resource_id="6101").count() == 1
    assert spool.spool_files() == []


def test_drain_spool_task_with_nothing_spooled_lists_one_directory() -> None:
    # given no spool directory at all / when / then
    assert drain_spool() == {"files": 0}


# --- the receive path ----------------------------------------------------------------------------
@pytest.mark.django_db(transaction=True)
def test_receive_webhook_spools_when_the_database_is_unreachable(
    client: Client, monkeypatch: pytest.MonkeyPatch
) -> None:
    # given the connection was read moments ago, then the database went away
    woo_connection()
    assert _post(client, _order_body(7000)).status_code == 200
    _database_down(monkeypatch)
    body = _order_body(7001)

    # when
    response = _post(client, body)

    # then
    assert response.status_code == 202
    assert response.json() == {"status": "spooled"}
    assert [r.body for r in spool.read_records(spool.own_path().read_bytes())[0]] == [body]

    # and when the database is back, the delivery reaches the inbox once
    monkeypatch.undo()
    spool.replay()
    assert InboundEvent.objects.filter(resource_id="7001").count() == 1


@pytest.mark.django_db(transaction=True)
def test_receive_webhook_spools_after_the_connection_cache_expired(
    client: Client, monkeypatch: pytest.MonkeyPatch
) -> None:
    # given credentials read 10 s ago (past the 5 s cache) and a database that cannot be read
    woo_connection()
    assert _post(client, _order_body(7100)).status_code == 200
    key = ("woo-web", "woocommerce")
    expires_at, cached = receive._connections[key]
    receive._connections[key] = (expires_at - 10, cached)
    _database_down(monkeypatch)

    # when
    response = _post(client, _order_body(7101))

    # then
    assert response.status_code == 202 and response.json() == {"status": "spooled"}


@pytest.mark.django_db(transaction=True)
def test_receive_webhook_answers_503_when_the_credentials_are_too_old(
    client: Client, monkeypatch: pytest.MonkeyPatch, settings: Any
) -> None:
    # given
    woo_connection()
    assert _post(client, _order_body(7200)).status_code == 200
    settings.CT_SPOOL_CREDENTIALS_S = 0
    _database_down(monkeypatch)

    # when
    response = _post(client, _order_body(7201))

    # then
    assert response.status_code == 503
    assert response.json() == {"detail": "temporarily unavailable, please retry"}
    assert spool.pending() is False


@pytest.mark.django_db(transaction=True)
def test_receive_webhook_answers_503_when_the_spool_is_full(
    client: Client, monkeypatch: pytest.MonkeyPatch, settings: Any
) -> None:
    # given
    woo_connection()
    assert _post(client, _order_body(7300)).status_code == 200
    settings.CT_SPOOL_MAX_BYTES = 100
    _database_down(monkeypatch)

    # when
    response = _post(client, _order_body(7301))

    # then
    assert response.status_code == 503
    assert response.json() == {"detail": "temporarily unavailable, please retry"}


@pytest.mark.django_db(transaction=True)
def test_receive_webhook_does_not_spool_a_forged_delivery(
    client: Client, monkeypatch: pytest.MonkeyPatch
) -> None:
    # given
    woo_connection()
    assert _post(client, _order_body(7400)).status_code == 200
    _database_down(monkeypatch)
    body = _order_body(7401)

    # when
    response = client.post(
        URL,
        data=body,
        content_type="application/json",
        headers=webhook_headers(body, secret="not-the-secret"),
    )

    # then
    assert response.status_code == 503
    assert spool.pending() is False


@pytest.mark.django_db(transaction=True)
def test_receive_webhook_does_not_spool_other_database_errors(
    client: Client, monkeypatch: pytest.MonkeyPatch
) -> None:
    # given
    woo_connection()
    assert _post(client, _order_body(7500)).status_code == 200

    def bad_value(*args: Any, **kwargs: Any) -> None:
        raise DataError("invalid byte sequence")

    monkeypatch.setattr("integrations.runtime.inbox.store_accepted", bad_value)

    # when
    response = _post(client, _order_body(7501))

    # then
    assert response.status_code == 503
    assert spool.pending() is False


@pytest.mark.django_db(transaction=True)
def test_receive_webhook_success_picks_up_spool_files_others_left(
    client: Client, monkeypatch: pytest.MonkeyPatch, spool_dir: Path
) -> None:
    # given a spool file a dead process left, and a process that never spooled
    woo_connection()
    spool_dir.mkdir(parents=True)
    (spool_dir / "web-1-4242.spool").write_bytes(b"")
    started: list[bool] = []
    monkeypatch.setattr(spool, "_start_replayer", lambda: started.append(True))
    monkeypatch.setattr(spool, "_next_look", 0.0)

    # when
    response = _post(client, _order_body(7600))

    # then
    assert response.status_code == 200 and response.json() == {"status": "accepted"}
    assert started == [True]
