"""A circuit breaker per endpoint, shared by every worker through Redis.

The outbox asks before each call and reports after it::

    decision = before_call(key)
    if not decision.allowed:
        ...  # put the message back for decision.retry_after_s; it keeps its attempts
    result = deliver(message)
    record_success(key) if result.ok else record_failure(key)

States:

- **closed**: every call is allowed. ``record_failure`` counts consecutive failures;
  at ``failure_threshold`` the breaker opens for ``cooldown_s``. ``record_success`` resets.
- **open**: calls are refused with ``retry_after_s`` until the cool-down has passed. The first
  ``before_call`` after that takes the *probe lease* and the breaker turns half-open.
- **half_open**: exactly one caller, across all processes, holds the probe. Others are refused
  (``retry_after_s`` is the lease's remaining time, at most ``half_open_retry_s``). A success
  closes the breaker; a failure re-opens it, with the cool-down doubled up to
  ``max_cooldown_s`` when ``backoff`` is on. A probe that never reports (its worker died) does not
  wedge the breaker: its lease ends after ``probe_timeout_s`` and the next caller probes.

Reports are not tied to the probe: a late failure from a call that started while the breaker
was closed counts as evidence too (re-opens a half-open breaker), and any success closes it.

State is one Redis hash, ``ct:<queue>:breaker:<key>`` (``state``, ``failures``, ``opened_at``,
``open_until``, ``cooldown``, ``probe_until``); every transition is one Lua script using the
Redis server's clock (``TIME``), so it is atomic and skew-free across machines. The hash is
deleted when the breaker closes and expires after ``STATE_TTL_S`` without a report, so a
forgotten breaker ends closed.

Why not ``pybreaker`` (which DESIGN suggests): its breaker wraps the protected call itself
(``breaker.call(fn)``) and raises when open, while the outbox needs a non-blocking "may I call
now, and if not, when?" answer and reports the outcome later, after recording the attempt.
Its Redis storage reads and writes ``state``, ``fail_counter`` and ``opened_at`` as separate
commands (no atomic transition), uses each worker's own clock, and lets every process that sees
the timeout elapse go half-open and probe at once: there is no single cross-process probe and
no probe lease. Three short Lua scripts give exactly the semantics above.

When Redis is unreachable the breaker fails open (allows, logs a warning): it protects the
remote system, it must not become the reason nothing is delivered.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Literal, cast

import redis
from django.conf import settings

logger = logging.getLogger(__name__)

BreakerState = Literal["closed", "open", "half_open"]

FAILURE_THRESHOLD = 5
COOLDOWN_S = 30.0
MAX_COOLDOWN_S = 300.0
PROBE_TIMEOUT_S = 60.0
HALF_OPEN_RETRY_S = 5.0
STATE_TTL_S = 86_400

_NOW_LUA = """
local t = redis.call('TIME')
local now = tonumber(t[1]) + tonumber(t[2]) / 1000000
"""

# ARGV: probe_timeout_s, half_open_retry_s, ttl_ms -> {allowed 0|1, state, retry_after_s}
BEFORE_CALL_LUA = (
    _NOW_LUA
    + """
local h = redis.call('HMGET', KEYS[1], 'state', 'open_until', 'probe_until')
local state = h[1]
if not state or state == 'closed' then
  return {1, 'closed', '0'}
end
local function take_probe()
  redis.call('HSET', KEYS[1], 'state', 'half_open',
             'probe_until', tostring(now + tonumber(ARGV[1])))
  redis.call('PEXPIRE', KEYS[1], ARGV[3])
  return {1, 'half_open', '0'}
end
if state == 'open' then
  local open_until = tonumber(h[2]) or 0
  if now < open_until then
    return {0, 'open', tostring(open_until - now)}
  end
  return take_probe()
end
local probe_until = tonumber(h[3]) or 0
if now >= probe_until then
  return take_probe()
end
return {0, 'half_open', tostring(math.min(probe_until - now, tonumber(ARGV[2])))}
"""
)

# ARGV: failure_threshold, cooldown_s, max_cooldown_s, backoff 0|1, ttl_ms
#   -> {state, consecutive_failures, retry_after_s}
RECORD_FAILURE_LUA = (
    _NOW_LUA
    + """
local h = redis.call('HMGET', KEYS[1], 'state', 'failures', 'cooldown', 'open_until')
local state = h[1] or 'closed'
local failures = (tonumber(h[2]) or 0) + 1
local base = tonumber(ARGV[2])
local function open(cooldown)
  redis.call('HSET', KEYS[1], 'state', 'open', 'failures', failures,
             'opened_at', tostring(now), 'open_until', tostring(now + cooldown),
             'cooldown', tostring(cooldown))
  redis.call('HDEL', KEYS[1], 'probe_until')
  redis.call('PEXPIRE', KEYS[1], ARGV[5])
  return {'open', failures, tostring(cooldown)}
end
if state == 'half_open' then
  local cooldown = base
  if ARGV[4] == '1' then
    cooldown = math.min(tonumber(ARGV[3]), math.max(tonumber(h[3]) or base, base) * 2)
  end
  return open(cooldown)
end
if state == 'open' then
  redis.call('HSET', KEYS[1], 'failures', failures)
  redis.call('PEXPIRE', KEYS[1], ARGV[5])
  local retry = (tonumber(h[4]) or now) - now
  if retry < 0 then retry = 0 end
  return {'open', failures, tostring(retry)}
end
if failures >= tonumber(ARGV[1]) then
  return open(base)
end
redis.call('HSET', KEYS[1], 'state', 'closed', 'failures', failures)
redis.call('PEXPIRE', KEYS[1], ARGV[5])
return {'closed', failures, '0'}
"""
)

# -> the state before closing
RECORD_SUCCESS_LUA = """
local state = redis.call('HGET', KEYS[1], 'state')
if not state then
  return 'closed'
end
redis.call('DEL', KEYS[1])
return state
"""

# -> {state, failures, opened_at, retry_after_s, cooldown, probe_lease_s}
STATE_LUA = (
    _NOW_LUA
    + """
local h = redis.call('HMGET', KEYS[1], 'state', 'failures', 'opened_at', 'open_until',
                     'cooldown', 'probe_until')
local state = h[1] or 'closed'
local retry = 0
if state == 'open' then
  retry = math.max(0, (tonumber(h[4]) or now) - now)
end
local lease = 0
if state == 'half_open' then
  lease = math.max(0, (tonumber(h[6]) or now) - now)
end
return {state, h[2] or '0', h[3] or '', tostring(retry), h[5] or '', tostring(lease)}
"""
)


@dataclass(frozen=True, slots=True)
class BreakerDecision:
    allowed: bool
    state: BreakerState
    retry_after_s: float = 0.0


def breaker_key(key: str) -> str:
    return f"ct:{settings.CELERY_TASK_DEFAULT_QUEUE}:breaker:{key}"


def _text(value: Any) -> str:
    return value.decode() if isinstance(value, bytes) else str(value)


def _client(client: Any) -> Any:
    if client is not None:
        return client
    from integrations.runtime.redis_store import redis_client

    return redis_client()


def _run(client: Any, source: str, key: str, *args: Any) -> Any:
    script = _client(client).register_script(source)
    return script(keys=[breaker_key(key)], args=[str(arg) for arg in args])


def before_call(
    key: str,
    *,
    probe_timeout_s: float = PROBE_TIMEOUT_S,
    half_open_retry_s: float = HALF_OPEN_RETRY_S,
    client: Any = None,
) -> BreakerDecision:
    """May the caller call ``key`` now? When half-open, only the one probe holder may."""
    try:
        allowed, name, retry = _run(
            client,
            BEFORE_CALL_LUA,
            key,
            repr(float(probe_timeout_s)),
            repr(float(half_open_retry_s)),
            STATE_TTL_S * 1000,
        )
    except redis.RedisError:
        logger.warning("breaker %s: redis unavailable; allowing the call", key)
        return BreakerDecision(allowed=True, state="closed")
    decision = BreakerDecision(
        allowed=bool(int(allowed)),
        state=cast(BreakerState, _text(name)),
        retry_after_s=float(_text(retry)),
    )
    if decision.allowed and decision.state == "half_open":
        logger.info("breaker %s: half-open, probing", key)
    return decision


def record_success(key: str, *, client: Any = None) -> BreakerState:
    """Close the breaker and reset its failures; returns the state it was in."""
    try:
        previous = cast(BreakerState, _text(_run(client, RECORD_SUCCESS_LUA, key)))
    except redis.RedisError:
        logger.warning("breaker %s: redis unavailable; success not recorded", key)
        return "closed"
    if previous != "closed":
        logger.info("breaker %s: %s -> closed", key, previous)
    return previous


def record_failure(
    key: str,
    *,
    failure_threshold: int = FAILURE_THRESHOLD,
    cooldown_s: float = COOLDOWN_S,
    max_cooldown_s: float = MAX_COOLDOWN_S,
    backoff: bool = True,
    client: Any = None,
) -> BreakerState:
    """Count a failure; open at the threshold, re-open after a failed probe. Returns the state."""
    try:
        name, failures, retry = _run(
            client,
            RECORD_FAILURE_LUA,
            key,
            int(failure_threshold),
            repr(float(cooldown_s)),
            repr(float(max(max_cooldown_s, cooldown_s))),
            1 if backoff else 0,
            STATE_TTL_S * 1000,
        )
    except redis.RedisError:
        logger.warning("breaker %s: redis unavailable; failure not recorded", key)
        return "closed"
    new_state = cast(BreakerState, _text(name))
    if new_state == "open":
        logger.warning(
            "breaker %s: open after %s consecutive failure(s); retry in %.1fs",
            key,
            int(failures),
            float(_text(retry)),
        )
    return new_state


def state(key: str, *, client: Any = None) -> dict[str, Any]:
    """The breaker as it stands, for dashboards and logs (read-only)."""
    raw = _run(client, STATE_LUA, key)
    name, failures, opened_at, retry, cooldown, lease = (_text(value) for value in raw)
    return {
        "state": name,
        "consecutive_failures": int(float(failures)),
        "opened_at": datetime.fromtimestamp(float(opened_at), tz=UTC) if opened_at else None,
        "retry_after_s": float(retry),
        "cooldown_s": float(cooldown) if cooldown else None,
        "probe_lease_s": float(lease),
    }


def reset(key: str, *, client: Any = None) -> None:
    """Forget the breaker (an operator's "close it now")."""
    _client(client).delete(breaker_key(key))


@dataclass(frozen=True, slots=True)
class CircuitBreaker:
    """The functions above with one endpoint's settings bound, e.g. built from a Connection."""

    failure_threshold: int = FAILURE_THRESHOLD
    cooldown_s: float = COOLDOWN_S
    max_cooldown_s: float = MAX_COOLDOWN_S
    backoff: bool = True
    probe_timeout_s: float = PROBE_TIMEOUT_S
    half_open_retry_s: float = HALF_OPEN_RETRY_S
    client: Any = None

    def before_call(self, key: str) -> BreakerDecision:
        return before_call(
            key,
            probe_timeout_s=self.probe_timeout_s,
            half_open_retry_s=self.half_open_retry_s,
            client=self.client,
        )

    def record_success(self, key: str) -> BreakerState:
        return record_success(key, client=self.client)

    def record_failure(self, key: str) -> BreakerState:
        return record_failure(
            key,
            failure_threshold=self.failure_threshold,
            cooldown_s=self.cooldown_s,
            max_cooldown_s=self.max_cooldown_s,
            backoff=self.backoff,
            client=self.client,
        )

    def state(self, key: str) -> dict[str, Any]:
        return state(key, client=self.client)

    def reset(self, key: str) -> None:
        reset(key, client=self.client)
