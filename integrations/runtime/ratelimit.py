"""A token bucket per connection, shared by every worker through Redis.

``acquire(key, rate_per_s=...)`` takes one token and answers at once: ``0.0`` means "call now",
anything else is the number of seconds until a token will be there. It never sleeps; the caller
decides whether to wait or to put the message back with ``next_attempt_at = now + wait``.

The bucket is one Redis hash, ``ct:<queue>:bucket:<key>`` (``tokens``, ``ts``), updated by one Lua
script, so the refill-and-take is atomic across processes and machines, and it uses the Redis
server's clock (``TIME``), so workers with skewed clocks still share one rate. The hash expires
once the bucket would be full again, an idle bucket costs nothing, and a missing bucket is full.

Why not the ``limits`` package (which DESIGN suggests): it offers fixed, moving and
sliding-window counters, not a token bucket. A window cannot express "rate r with a burst of b"
as one atomic check (two limits are two round trips, not one decision); moving windows keep a
timestamp per request (memory grows with the limit); rates must be integers per period; and
"when may I retry" needs a second, non-atomic ``get_window_stats`` call. One short Lua script
does exactly what the outbox needs.

When Redis is unreachable the limiter fails open (grants, logs a warning): the receiving system's
429s are still honoured by the retry policy, and a delivery must not stall on a lost limiter.
"""

from __future__ import annotations

import logging
from typing import Any

import redis
from django.conf import settings

logger = logging.getLogger(__name__)

# KEYS[1] = bucket hash; ARGV[1] = rate (tokens/s), ARGV[2] = capacity (burst).
# Returns the wait in seconds as a string ("0" when granted): Lua numbers become integers on
# their way out of a script, so fractions travel as text.
ACQUIRE_LUA = """
local t = redis.call('TIME')
local now = tonumber(t[1]) + tonumber(t[2]) / 1000000
local rate = tonumber(ARGV[1])
local capacity = tonumber(ARGV[2])
local state = redis.call('HMGET', KEYS[1], 'tokens', 'ts')
local tokens = tonumber(state[1])
local ts = tonumber(state[2])
if tokens == nil or ts == nil then
  tokens = capacity
  ts = now
end
local elapsed = now - ts
if elapsed < 0 then elapsed = 0 end
tokens = math.min(capacity, tokens + elapsed * rate)
if tokens < 1 then
  return tostring((1 - tokens) / rate)
end
tokens = tokens - 1
redis.call('HSET', KEYS[1], 'tokens', tostring(tokens), 'ts', tostring(now))
redis.call('PEXPIRE', KEYS[1], math.ceil((capacity - tokens) / rate * 1000) + 1000)
return '0'
"""


def bucket_key(key: str) -> str:
    return f"ct:{settings.CELERY_TASK_DEFAULT_QUEUE}:bucket:{key}"


def acquire(
    key: str, *, rate_per_s: float, burst: float | None = None, client: Any = None
) -> float:
    """Take one token from the bucket ``key``: 0.0 when granted, else seconds until one is free.

    The bucket refills at ``rate_per_s`` up to ``burst`` tokens (default ``max(1, rate_per_s)``).
    A refused call takes nothing, so callers may simply ask again after the returned wait.
    """
    if rate_per_s <= 0:
        raise ValueError(f"rate_per_s must be positive, not {rate_per_s}")
    capacity = float(burst) if burst is not None else max(1.0, float(rate_per_s))
    if capacity < 1:
        raise ValueError(f"burst must be at least 1, not {burst}")
    if client is None:
        from integrations.runtime.redis_store import redis_client

        client = redis_client()
    try:
        script = client.register_script(ACQUIRE_LUA)
        wait = float(script(keys=[bucket_key(key)], args=[repr(float(rate_per_s)), repr(capacity)]))
    except redis.RedisError:
        logger.warning("rate limit %s: redis unavailable; granting the call", key)
        return 0.0
    return max(wait, 0.0)
