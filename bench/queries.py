"""SQL statements per order, counted in-process: ``python -m bench.queries N --first-id ID``.

Run with the environment of a bench database (``DATABASE_URL``, ``REDIS_URL``, the run's
``CT_CELERY_QUEUE``) whose ERP Connection points at a running ERP simulator, and with no worker
on the run's queue (this process drains everything itself). ``bench.e2e`` runs it after its
ladder. It

1. sends one order through everything first, not counted (in production a process's caches,
   such as the receiver's connection and secret, are warm);
2. sends N fresh signed ``order.created`` webhooks (ids ``ID+1`` … ``ID+N``) through
   ``controltower.wsgi.application``, called with a WSGI environ as gunicorn's sync worker calls
   it (the production path: the lean webhook route);
3. drains the inbox, then the outbox (one ERP call per order), with the functions the drain tasks
   call (``integrations/runtime/tasks.py``: claim a batch, handle each item inside
   ``kick.deferred()`` and ``live.batched()``, acting as ``system.runtime``);

counting every SQL statement on Django's connection with ``connection.execute_wrapper``, per
phase (receive, inbox, outbox). The lean receive path binds its INSERT on a bare psycopg cursor,
which no execute wrapper sees, unless queries are being logged; the counter turns logging on
(``force_debug_cursor``), so that INSERT goes through Django's cursor and is counted — it is the
same one statement. Whether anything is left to drain is read on a connection of its own, not
counted.

The batches are as large as ``CT_INBOX_BATCH`` / ``CT_OUTBOX_BATCH`` allow, as in a drain that
finds a backlog; a drain woken for one order at a time pays its claim and its pushes per order,
so under a trickle the count per order is higher.

It prints one line: ``RESULT {"posted": [...], "acked": [...], "counts": {phase: n}}``, which
:func:`counted_queries` (the parent's side) reads.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Callable
from typing import Any

from bench.common import HOOK_PATH, ROOT, Bench, psql, signed_webhook

WAITING_SQL = {
    "inbox": "SELECT count(*) FROM integrations_inboundevent "
    "WHERE status IN ('pending', 'processing')",
    "outbox": "SELECT count(*) FROM integrations_outboundmessage "
    "WHERE status IN ('pending', 'in_flight')",
}


def wsgi_post(application: Any, order_id: int) -> int:
    """Deliver one signed webhook to the WSGI application as gunicorn would; its status."""
    import io
    import wsgiref.util

    body, headers = signed_webhook(order_id)
    environ: dict[str, Any] = {
        "REQUEST_METHOD": "POST",
        "PATH_INFO": HOOK_PATH,
        "SERVER_PORT": "8000",
        "HTTP_HOST": "127.0.0.1:8000",
        "REMOTE_ADDR": "127.0.0.1",
        "wsgi.input": io.BytesIO(body),
        "wsgi.multithread": False,  # gunicorn's sync workers
        "wsgi.multiprocess": True,
    }
    wsgiref.util.setup_testing_defaults(environ)
    for name, value in headers:
        key = name.upper().replace("-", "_")
        environ[key if key in ("CONTENT_TYPE", "CONTENT_LENGTH") else f"HTTP_{key}"] = value
    status: list[str] = []
    answer = application(environ, lambda line, _headers, _exc=None: status.append(line))
    try:
        b"".join(answer)
    finally:
        getattr(answer, "close", lambda: None)()
    return int(status[0].split()[0])


def drain_in_process(kind: str) -> None:
    """Drain the inbox or the outbox with the drain tasks themselves, run in this process
    (``integrations/runtime/tasks.py``: claims, batch loads, the batch memo, deferred kicks and
    pushes), until nothing waits; whether anything waits is read on a connection of its own."""
    from integrations.runtime import tasks

    task = {"inbox": tasks.drain_inbox, "outbox": tasks.drain_outbox}[kind]
    deadline = time.monotonic() + 120
    while psql(os.environ["DATABASE_URL"], WAITING_SQL[kind])[0][0]:
        if time.monotonic() > deadline:
            raise RuntimeError(f"the {kind} did not drain in-process within 120 s")
        if not task.run():
            time.sleep(0.2)  # a retry scheduled for later, or the slot's lease still lapsing


def count_queries(count: int, first_id: int) -> dict[str, Any]:
    """Receive ``count`` webhooks in-process and drain them to the ERP, counting statements."""
    import django

    django.setup()
    from django.db import connection

    from controltower.wsgi import application

    # One order first, not counted (see the module docstring).
    warm = 200 <= wsgi_post(application, first_id) < 300
    drain_in_process("inbox")
    drain_in_process("outbox")
    ids = list(range(first_id + 1, first_id + 1 + count))
    counts: Counter[str] = Counter()

    def counter(phase: str) -> Any:
        def wrapper(execute: Any, sql: str, params: Any, many: bool, context: Any) -> Any:
            counts[phase] += 1
            return execute(sql, params, many, context)

        return connection.execute_wrapper(wrapper)

    connection.force_debug_cursor = True  # the lean INSERT through Django's cursor (see above)
    with counter("receive"):
        acked = [i for i in ids if 200 <= wsgi_post(application, i) < 300]
    with counter("inbox"):
        drain_in_process("inbox")
    with counter("outbox"):
        drain_in_process("outbox")
    return {
        "posted": [first_id, *ids],
        "acked": [first_id, *acked] if warm else acked,
        "counts": dict(counts),
    }


def counted_queries(
    bench: Bench, count: int, first_id: int, log: Callable[[str], None]
) -> dict[str, Any]:
    """Run this module in a child with the bench's environment; its result with ``per_order``
    added ({} when ``count`` is 0). Its stderr goes to ``count-queries.log``."""
    if count <= 0:
        return {}
    logfile = bench.work / "count-queries.log"
    argv = [sys.executable, "-m", "bench.queries", str(count), "--first-id", str(first_id)]
    with logfile.open("w") as err:
        child = subprocess.run(
            argv, cwd=ROOT, env=bench.env, stdout=subprocess.PIPE, stderr=err, text=True
        )
    lines = [line for line in child.stdout.splitlines() if line.startswith("RESULT ")]
    if child.returncode != 0 or not lines:
        raise RuntimeError(f"counting queries failed:\n{logfile.read_text()[-3000:]}")
    result = json.loads(lines[-1].removeprefix("RESULT "))
    counts = result["counts"]
    total = sum(counts.values())
    result["per_order"] = total / count
    log(
        f"queries: {total} statements for {count} orders in-process "
        f"(receive {counts.get('receive', 0)}, inbox {counts.get('inbox', 0)}, "
        f"outbox {counts.get('outbox', 0)}) = {result['per_order']:.1f} per order"
    )
    return result


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="SQL statements per order (see module doc).")
    parser.add_argument("count", type=int, help="orders to count")
    parser.add_argument("--first-id", type=int, required=True, help="the warm-up's order id")
    args = parser.parse_args(argv)
    print("RESULT " + json.dumps(count_queries(args.count, args.first_id)), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
