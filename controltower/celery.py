"""The Celery app: Redis broker, late acks, reject on worker lost, prefetch 1 (see settings).

It also carries one fix for kombu's Redis transport
(:func:`_closed_channel_raises_connection_error`), without which a Redis restart under load ends
the worker (``docs/runtime.md``, "Failure modes").
"""

from __future__ import annotations

import functools
import logging
import os
from typing import Any

import kombu
from celery import Celery
from django.conf import settings
from kombu.transport import redis as kombu_redis

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "controltower.settings")

logger = logging.getLogger(__name__)


def _closed_channel_raises_connection_error() -> None:
    """Make a channel of a closed broker connection fail with a *connection* error.

    The fault (kombu 5.7.0, celery 5.7.0, redis-py 8.1.0; 5 of 7 Redis kills under load in the
    attack, 1 of 3 runs of the end-to-end test here): when the broker connection drops, celery's
    consumer (``Consumer.on_connection_error_after_connected``) calls ``Connection.collect()`` and
    then ``Connection.close()``. ``collect()`` closes the default channel, swallowing connection
    errors, and then sets ``transport.client = None``. When that first channel close fails
    part-way against the dead server — after it dropped its connection pools, before it was
    marked closed — the channel stays open and stays the connection's default channel.
    ``close()`` closes it again; the channel restores the unacked messages of the tasks still
    running (late acks), needs a new connection pool for that, and builds it from
    ``self.connection.client.hostname`` (``kombu/transport/redis.py`` ``_connparams``):
    ``AttributeError: 'NoneType' object has no attribute 'hostname'``. An ``AttributeError`` is not
    a connection error, so neither ``maybe_close_channel`` nor ``ignore_errors`` catch it; celery
    reports ``Unrecoverable error`` and stops the worker, and its embedded or sibling beat with it.

    The fix: a channel whose connection is gone raises ``redis.ConnectionError`` when it is asked
    for a connection pool, which is what it is — the broker connection is closed. Every caller
    already treats that as "broker gone": the close is ignored, an ack is logged as not sent
    (the message comes back after the visibility timeout; our tasks are only wake-ups and
    re-running them is harmless, ``docs/runtime.md``), and the consumer reconnects with
    ``broker_connection_retry``. No transport option or setting avoids the path:
    ``retry_on_timeout``/``health_check_interval``/``socket_keepalive`` change how a *live*
    connection is checked, not how a dead one is closed, and there is no released kombu with a
    fix to pin. Applied only to the kombu line it was written and tested against (``pyproject``
    pins it; ``tests/integrations/test_broker_restart.py`` proves it on real processes).
    """
    if kombu.VERSION[:2] != (5, 7):
        logger.warning("kombu %s: the 5.7 closed-channel fix is not applied", kombu.__version__)
        return
    channel = kombu_redis.Channel
    original = channel._connparams
    if getattr(original, "_ct_fixed", False):
        return

    @functools.wraps(original)
    def _connparams(self: Any, *args: Any, **kwargs: Any) -> dict[str, Any]:
        if self.connection is None or self.connection.client is None:
            logger.info("broker connection closed: a channel of it was asked for a connection")
            raise kombu_redis.redis.ConnectionError("this channel's broker connection is closed")
        return original(self, *args, **kwargs)

    _connparams._ct_fixed = True  # type: ignore[attr-defined]
    channel._connparams = _connparams


_closed_channel_raises_connection_error()

app = Celery("controltower")
app.config_from_object("django.conf:settings", namespace="CELERY")
# The runtime's tasks and every configured connector's (``CT_CONNECTORS``), read lazily.
app.autodiscover_tasks(
    lambda: ["integrations.runtime", "controltower.orders", *settings.CT_CONNECTORS]
)
