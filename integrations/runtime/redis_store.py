"""The runtime's one Redis client: drain slots, circuit breakers and rate buckets live here.

One client per process (redis-py pools its connections), built lazily from ``REDIS_URL`` so that
importing the runtime never touches the network.
"""

from __future__ import annotations

from functools import cache

import redis
from django.conf import settings


@cache
def redis_client() -> redis.Redis:
    return redis.Redis.from_url(settings.REDIS_URL)
