"""The shared token bucket, against the real Redis from settings (no database)."""

from __future__ import annotations

import threading
import time
import uuid
from collections.abc import Iterator

import pytest
import redis
from redis.backoff import NoBackoff
from redis.retry import Retry

from integrations.runtime.ratelimit import acquire, bucket_key
from integrations.runtime.redis_store import redis_client


@pytest.fixture
def key() -> Iterator[str]:
    name = f"test-{uuid.uuid4().hex}"
    yield name
    redis_client().delete(bucket_key(name))


def test_acquire_grants_up_to_burst_then_reports_wait(key: str) -> None:
    # given a bucket of 5 tokens refilling at 2/s
    rate, burst = 2.0, 5

    # when six calls arrive at once
    waits = [acquire(key, rate_per_s=rate, burst=burst) for _ in range(burst + 1)]

    # then the first five are granted and the sixth waits about 1/rate
    assert waits[:burst] == [0.0] * burst
    assert 0.45 <= waits[burst] <= 1 / rate


def test_acquire_default_burst_is_the_rate(key: str) -> None:
    # given a rate of 3/s and no explicit burst
    # when four calls arrive at once
    waits = [acquire(key, rate_per_s=3) for _ in range(4)]

    # then three are granted
    assert [w == 0.0 for w in waits] == [True, True, True, False]


def test_acquire_refused_call_takes_nothing(key: str) -> None:
    # given an empty bucket
    rate = 20.0
    assert acquire(key, rate_per_s=rate, burst=1) == 0.0

    # when it is asked repeatedly
    waits = [acquire(key, rate_per_s=rate, burst=1) for _ in range(3)]

    # then every answer is a positive wait no longer than one token's time
    assert all(0 < w <= 1 / rate for w in waits)


def test_acquire_refills_over_time(key: str) -> None:
    # given a drained bucket at 20/s, burst 2
    rate = 20.0
    assert acquire(key, rate_per_s=rate, burst=2) == 0.0
    assert acquire(key, rate_per_s=rate, burst=2) == 0.0
    wait = acquire(key, rate_per_s=rate, burst=2)
    assert wait > 0

    # when the caller waits what it was told
    time.sleep(wait + 0.01)

    # then one token is there, and only one
    assert acquire(key, rate_per_s=rate, burst=2) == 0.0
    assert acquire(key, rate_per_s=rate, burst=2) > 0

    # and a long idle fills the bucket to the burst, not beyond
    time.sleep(0.3)
    waits = [acquire(key, rate_per_s=rate, burst=2) for _ in range(3)]
    assert waits[0] == 0.0 and waits[1] == 0.0 and waits[2] > 0


def test_acquire_idle_bucket_expires(key: str) -> None:
    # given a bucket that was used
    acquire(key, rate_per_s=50, burst=1)

    # when it is read back
    ttl_ms = redis_client().pttl(bucket_key(key))

    # then it expires soon after it would be full again
    assert 0 < ttl_ms <= 1_100


def test_acquire_concurrent_callers_never_over_grant(key: str) -> None:
    # given 8 workers asking 400 times in about a second against 100/s with a burst of 10
    rate, burst = 100.0, 10
    granted: list[int] = []
    lock = threading.Lock()
    start = threading.Barrier(8)

    def worker() -> None:
        start.wait()
        mine = 0
        for _ in range(50):
            if acquire(key, rate_per_s=rate, burst=burst) == 0.0:
                mine += 1
            time.sleep(0.02)
        with lock:
            granted.append(mine)

    threads = [threading.Thread(target=worker) for _ in range(8)]

    # when they run
    began = time.monotonic()
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    elapsed = time.monotonic() - began

    # then the grants stay within rate × elapsed + burst, and come close to it
    ceiling = rate * elapsed + burst
    assert sum(granted) <= ceiling + 1
    assert sum(granted) >= 0.7 * ceiling


def test_acquire_fails_open_when_redis_is_down(key: str) -> None:
    # given a client for a Redis that is not there
    down = redis.Redis(host="127.0.0.1", port=1, retry=Retry(NoBackoff(), 0))

    # when a call asks for a token
    wait = acquire(key, rate_per_s=1, client=down)

    # then it is granted rather than stalled
    assert wait == 0.0


def test_acquire_rejects_a_non_positive_rate(key: str) -> None:
    # given / when / then
    with pytest.raises(ValueError, match="rate_per_s must be positive"):
        acquire(key, rate_per_s=0)
