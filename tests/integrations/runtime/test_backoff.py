"""Backoff with full jitter: within its bounds, growing, capped, and actually random."""

from __future__ import annotations

import pytest

from integrations.runtime.outbox import backoff_seconds
from integrations.runtime.registry import MessagePolicy

POLICY = MessagePolicy(backoff_base_s=1.0, backoff_cap_s=60.0)


@pytest.mark.parametrize(("attempt", "ceiling"), [(1, 1.0), (2, 2.0), (3, 4.0), (6, 32.0)])
def test_backoff_seconds_stays_between_base_and_exponential_ceiling(
    attempt: int, ceiling: float
) -> None:
    # when
    delays = [backoff_seconds(attempt, POLICY) for _ in range(500)]
    # then
    assert min(delays) >= 1.0
    assert max(delays) <= ceiling


def test_backoff_seconds_is_capped() -> None:
    # when
    delays = [backoff_seconds(30, POLICY) for _ in range(500)]
    # then
    assert max(delays) <= 60.0
    assert max(delays) > 30.0  # the cap, not the first attempts' ceiling, bounds it


def test_backoff_seconds_is_jittered() -> None:
    # when
    delays = {round(backoff_seconds(5, POLICY), 6) for _ in range(50)}
    # then: workers retrying together do not retry in lockstep
    assert len(delays) > 40


def test_backoff_seconds_first_attempt_waits_the_base() -> None:
    # given
    policy = MessagePolicy(backoff_base_s=2.5, backoff_cap_s=300.0)
    # then
    assert backoff_seconds(1, policy) == 2.5
