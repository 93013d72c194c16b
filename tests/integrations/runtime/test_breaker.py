"""The shared circuit breaker, against the real Redis from settings (no database)."""

from __future__ import annotations

import threading
import time
import uuid
from collections.abc import Iterator

import pytest
import redis
from redis.backoff import NoBackoff
from redis.retry import Retry

from integrations.runtime import breaker
from integrations.runtime.breaker import BreakerDecision, CircuitBreaker
from integrations.runtime.redis_store import redis_client

COOLDOWN_S = 0.2


@pytest.fixture
def key() -> Iterator[str]:
    name = f"test-{uuid.uuid4().hex}"
    yield name
    breaker.reset(name)


@pytest.fixture
def cb() -> CircuitBreaker:
    return CircuitBreaker(
        failure_threshold=3, cooldown_s=COOLDOWN_S, max_cooldown_s=1.0, probe_timeout_s=0.3
    )


def _open(cb: CircuitBreaker, key: str) -> None:
    for _ in range(cb.failure_threshold):
        cb.record_failure(key)


def _half_open(cb: CircuitBreaker, key: str) -> BreakerDecision:
    _open(cb, key)
    time.sleep(COOLDOWN_S + 0.02)
    return cb.before_call(key)


def test_breaker_closed_allows_calls(cb: CircuitBreaker, key: str) -> None:
    # given a breaker never used
    # when a caller asks
    decision = cb.before_call(key)

    # then the call is allowed
    assert decision == BreakerDecision(allowed=True, state="closed", retry_after_s=0.0)
    assert cb.state(key)["state"] == "closed"


def test_breaker_opens_after_threshold(cb: CircuitBreaker, key: str) -> None:
    # given two failures: still closed
    assert cb.record_failure(key) == "closed"
    assert cb.record_failure(key) == "closed"
    assert cb.before_call(key).allowed

    # when the third arrives
    new_state = cb.record_failure(key)

    # then the breaker is open
    assert new_state == "open"
    state = cb.state(key)
    assert state["state"] == "open"
    assert state["consecutive_failures"] == 3
    assert state["opened_at"] is not None
    assert 0 < state["retry_after_s"] <= COOLDOWN_S


def test_breaker_open_refuses_with_retry_after(cb: CircuitBreaker, key: str) -> None:
    # given an open breaker
    _open(cb, key)

    # when a caller asks
    decision = cb.before_call(key)

    # then it is refused and told to come back when the cool-down ends
    assert not decision.allowed
    assert decision.state == "open"
    assert 0 < decision.retry_after_s <= COOLDOWN_S


def test_breaker_lets_exactly_one_probe_through(cb: CircuitBreaker, key: str) -> None:
    # given an open breaker whose cool-down has passed
    _open(cb, key)
    time.sleep(COOLDOWN_S + 0.02)
    decisions: list[BreakerDecision] = []
    lock = threading.Lock()
    start = threading.Barrier(10)

    def caller() -> None:
        start.wait()
        decision = cb.before_call(key)
        with lock:
            decisions.append(decision)

    threads = [threading.Thread(target=caller) for _ in range(10)]

    # when 10 callers ask at once
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    # then exactly one probes and the others wait
    allowed = [d for d in decisions if d.allowed]
    refused = [d for d in decisions if not d.allowed]
    assert len(allowed) == 1 and allowed[0].state == "half_open"
    assert len(refused) == 9
    assert all(d.state == "half_open" and d.retry_after_s > 0 for d in refused)


def test_breaker_closes_on_probe_success(cb: CircuitBreaker, key: str) -> None:
    # given a half-open breaker with its probe out
    assert _half_open(cb, key).allowed

    # when the probe succeeds
    previous = cb.record_success(key)

    # then the breaker is closed and calls flow again
    assert previous == "half_open"
    assert cb.state(key)["state"] == "closed"
    assert cb.state(key)["consecutive_failures"] == 0
    assert cb.before_call(key).allowed


def test_breaker_reopens_on_probe_failure_with_doubled_cooldown(
    cb: CircuitBreaker, key: str
) -> None:
    # given a half-open breaker with its probe out
    assert _half_open(cb, key).allowed

    # when the probe fails
    new_state = cb.record_failure(key)

    # then the breaker is open again, for twice the cool-down
    assert new_state == "open"
    decision = cb.before_call(key)
    assert not decision.allowed and decision.state == "open"
    assert 0 < decision.retry_after_s <= 2 * COOLDOWN_S
    assert cb.state(key)["cooldown_s"] == pytest.approx(2 * COOLDOWN_S)


def test_breaker_doubled_cooldown_is_capped(key: str) -> None:
    # given a breaker with a cap just above its cool-down
    capped = CircuitBreaker(failure_threshold=1, cooldown_s=0.1, max_cooldown_s=0.15)
    capped.record_failure(key)
    time.sleep(0.12)
    assert capped.before_call(key).allowed

    # when the probe fails
    capped.record_failure(key)

    # then the cool-down is the cap
    assert capped.state(key)["cooldown_s"] == pytest.approx(0.15)


def test_breaker_reopens_without_doubling_when_backoff_is_off(key: str) -> None:
    # given a breaker without backoff, half-open
    flat = CircuitBreaker(failure_threshold=1, cooldown_s=0.1, backoff=False)
    flat.record_failure(key)
    time.sleep(0.12)
    assert flat.before_call(key).allowed

    # when the probe fails
    flat.record_failure(key)

    # then the cool-down is unchanged
    assert flat.state(key)["cooldown_s"] == pytest.approx(0.1)


def test_breaker_expired_probe_lease_lets_a_new_probe_through(cb: CircuitBreaker, key: str) -> None:
    # given a probe that never reports back
    assert _half_open(cb, key).allowed
    assert not cb.before_call(key).allowed

    # when its lease runs out
    time.sleep(cb.probe_timeout_s + 0.02)

    # then the next caller probes, and only that one
    decision = cb.before_call(key)
    assert decision.allowed and decision.state == "half_open"
    assert not cb.before_call(key).allowed


def test_breaker_success_resets_failure_count(cb: CircuitBreaker, key: str) -> None:
    # given failures just below the threshold
    cb.record_failure(key)
    cb.record_failure(key)

    # when a call succeeds
    cb.record_success(key)

    # then the count starts again: two more failures do not open it
    assert cb.state(key)["consecutive_failures"] == 0
    cb.record_failure(key)
    assert cb.record_failure(key) == "closed"
    assert cb.before_call(key).allowed


def test_breaker_failure_while_open_does_not_extend_cooldown(cb: CircuitBreaker, key: str) -> None:
    # given an open breaker
    _open(cb, key)
    first = cb.state(key)

    # when a late failure from an earlier call arrives
    time.sleep(0.05)
    cb.record_failure(key)

    # then it is counted, but the breaker still opens up on time
    later = cb.state(key)
    assert later["consecutive_failures"] == first["consecutive_failures"] + 1
    assert later["opened_at"] == first["opened_at"]
    assert later["retry_after_s"] < first["retry_after_s"]


def test_breaker_state_is_keyed_under_the_run_queue(key: str) -> None:
    # given a failure recorded with the module functions
    breaker.record_failure(key, failure_threshold=5)

    # when the Redis key is read
    ttl = redis_client().ttl(breaker.breaker_key(key))

    # then it lives under ct:<queue>:breaker: and expires when forgotten
    assert breaker.breaker_key(key).endswith(f":breaker:{key}")
    assert 0 < ttl <= breaker.STATE_TTL_S


def test_breaker_fails_open_when_redis_is_down(key: str) -> None:
    # given a client for a Redis that is not there
    down = redis.Redis(host="127.0.0.1", port=1, retry=Retry(NoBackoff(), 0))

    # when a caller asks and reports
    decision = breaker.before_call(key, client=down)
    reported = breaker.record_failure(key, client=down)

    # then the call is allowed rather than stalled
    assert decision.allowed and decision.state == "closed"
    assert reported == "closed"
