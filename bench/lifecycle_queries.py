"""SQL statements per order on the whole order-to-cash path, counted in-process, per handler.

``python -m bench.lifecycle_queries N`` (``DATABASE_URL`` / ``REDIS_URL`` of a server, as
``make bench-e2e``) creates a bench database seeded as the lifecycle mode seeds it
(``bench/lifecycle.py``), starts the four simulators and then, in one child process with the
bench's environment:

1. serves the simulators' signed webhooks on a one-thread HTTP server that hands each request
   to ``controltower.wsgi.application`` (the production receive path, one persistent database
   connection as a gunicorn sync worker keeps);
2. sends one order through everything first, not counted (caches warm, as in production);
3. offers N orders as the lifecycle bench does (the gateway's checkout, then the store's signed
   ``order.created``) and works them to *posted* with the drain tasks themselves, run in this
   process: ``integrations.drain_inbox``, ``integrations.drain_outbox`` and
   ``ledger.post_batches``, in turns, until every order is posted and nothing waits.

Every statement on every Django connection of the child is counted (``execute_wrapper``
installed on each connection as it is made) under the label of what ran it: ``receive:<kind>``,
``inbox:claim``, ``inbox:<kind>:<topic>`` (one event's transaction, including marking it
processed), ``inbox:<kind>:batch``, ``outbox:claim``, ``outbox:<message kind>:call`` (the HTTP
call's own reads), ``outbox:record:<message kinds>`` (recording the answers and the on-delivered
hooks), ``ledger:post_batches``. Not counted: the periodic sweeper and the stuck-order sweep
(beat's, per tick not per order), and whatever reads which orders are done (psycopg of its own).

Batching depends on timing (how many events one claim finds), so the claims' share varies a
little from run to run; the handlers' counts do not. Drains run only when something waits
for them, as a kick would start them; each drain slot is taken with the token its kick left (no
worker consumes the kicks here). Prints a table (with the CPU the thread spent under each label,
its own, per order), then ``RESULT {"orders": N, "per_order": x, "labels": {label: [statements,
calls, cpu_s]}}``; ``--sql FILE`` writes each label's statements of one call there
(``SAMPLE_CALL``), to read which ones a handler repeats. ``BENCH_PROFILE=FILE`` writes a cProfile
of the counted part there, for ``pstats``.
"""

from __future__ import annotations

import argparse
import contextlib
import functools
import http.server
import io
import json
import os
import subprocess
import sys
import threading
import time
import wsgiref.util
from collections import Counter
from collections.abc import Callable, Iterator
from typing import Any

from bench.common import CHANNEL, ROOT, SOURCE_SYSTEM, Bench, make_log, psql, run_bench, woo_order

log = make_log("lifecycle-queries")

ERP_TOKEN = "bench-erp-token"
ERP_SLUG = "erp-bench"
WAITING_SQL = (
    "SELECT (SELECT count(*) FROM integrations_inboundevent"
    " WHERE status IN ('pending', 'processing'))"
    " + (SELECT count(*) FROM integrations_outboundmessage"
    " WHERE status IN ('pending', 'in_flight'))"
    " + (SELECT count(*) FROM finance_journalentry WHERE state IN ('draft', 'sent'))"
)
CLAIMABLE_SQL = {
    "inbox": "SELECT count(*) FROM integrations_inboundevent WHERE status = 'pending'"
    " AND (claimed_until IS NULL OR claimed_until <= now())",
    "outbox": "SELECT count(*) FROM integrations_outboundmessage WHERE status = 'pending'"
    " AND next_attempt_at <= now()",
    "ledger": "SELECT count(*) FROM finance_journalentry WHERE state = 'draft'",
}
SAMPLE_CALL = 1  # the statements of one call per label, kept for reading (--sql)
POSTED_SQL = (
    "SELECT count(*) FROM orders_order WHERE source_system = %s "
    "AND external_id = ANY(%s) AND posted_at IS NOT NULL"
)


def shorten(sql: str) -> str:
    """A statement without its column list: what it reads or writes, and where."""
    head, found, rest = sql.partition(" FROM ")
    if head.startswith("SELECT") and found:
        return f"SELECT … FROM {rest[:300]}"
    return sql[:160]


# --- counting, per label -------------------------------------------------------------------------
class Counting:
    """Statements and calls per label; the label is the innermost :meth:`under` of the thread."""

    def __init__(self) -> None:
        self.statements: Counter[str] = Counter()
        self.calls: Counter[str] = Counter()
        self.cpu: Counter[str] = Counter()  # CPU seconds of the thread under each label, its own
        self.on = False
        self.samples: dict[str, list[str]] = {}  # one call's statements per label
        self._local = threading.local()
        self._lock = threading.Lock()

    def label(self) -> str:
        stack = getattr(self._local, "stack", None)
        return stack[-1] if stack else "other"

    @contextlib.contextmanager
    def under(self, label: str) -> Iterator[None]:
        stack = self._local.__dict__.setdefault("stack", [])
        inner = self._local.__dict__.setdefault("inner", [])
        stack.append(label)
        inner.append(0.0)
        started = time.thread_time()
        if self.on:
            with self._lock:
                self.calls[label] += 1
                if self.calls[label] == SAMPLE_CALL:
                    self._local.sample = self.samples.setdefault(label, [])
        try:
            yield
        finally:
            spent = time.thread_time() - started
            stack.pop()
            own = spent - inner.pop()
            if inner:
                inner[-1] += spent
            if self.on:
                with self._lock:
                    self.cpu[label] += own
            if getattr(self._local, "sample", None) is self.samples.get(label):
                self._local.sample = None

    def wrapper(self, execute: Any, sql: str, params: Any, many: bool, context: Any) -> Any:
        if self.on:
            with self._lock:
                self.statements[self.label()] += 1
            sample = getattr(self._local, "sample", None)
            if sample is not None:
                sample.append(f"[{self.label()}] {shorten(sql)}")
        return execute(sql, params, many, context)

    def install(self) -> None:
        from django.db import connections
        from django.db.backends.signals import connection_created

        def attach(sender: Any, connection: Any, **_: Any) -> None:
            if self.wrapper not in connection.execute_wrappers:
                connection.execute_wrappers.append(self.wrapper)
            connection.force_debug_cursor = True  # the lean receive INSERT (bench/queries.py)

        connection_created.connect(attach, weak=False, dispatch_uid="bench.lifecycle_queries")
        for connection in connections.all():
            attach(None, connection)


def labelled(counting: Counting, module: Any, name: str, label: Callable[..., str]) -> None:
    """Wrap ``module.name`` so what it runs is counted under ``label(*args)``."""
    original = getattr(module, name)

    @functools.wraps(original)
    def wrapped(*args: Any, **kwargs: Any) -> Any:
        with counting.under(label(*args, **kwargs)):
            return original(*args, **kwargs)

    setattr(module, name, wrapped)


def instrument(counting: Counting) -> None:
    """Label the drains' pieces (each is looked up by module attribute when called)."""
    from integrations.ledger import tasks as ledger_tasks
    from integrations.runtime import inbox, outbox

    def event_label(event: Any, *_: Any, **__: Any) -> str:
        return f"inbox:{event.connection.kind}:{event.topic or '-'}"

    def batch_label(events: list[Any], *_: Any, **__: Any) -> str:
        kinds = sorted({e.connection.kind for e in events})
        return f"inbox:{'+'.join(kinds) or '-'}:batch"

    def record_label(attempts: Any, *_: Any, **__: Any) -> str:
        batch = attempts if isinstance(attempts, list) else [attempts]
        return "outbox:record:" + "+".join(sorted({a.message.kind for a in batch}))

    labelled(counting, inbox, "claim_inbound", lambda *a, **k: "inbox:claim")
    labelled(counting, inbox, "load_claimed", lambda *a, **k: "inbox:claim")
    labelled(counting, inbox, "process_inbound_event", event_label)
    labelled(counting, inbox, "_apply_batches", batch_label)
    labelled(counting, outbox, "claim_outbound", lambda *a, **k: "outbox:claim")
    labelled(counting, outbox, "load_claimed", lambda *a, **k: "outbox:claim")
    labelled(counting, outbox, "_call", lambda m, *a, **k: f"outbox:{m.kind}:call")
    labelled(counting, outbox, "_record_deliveries", record_label)
    labelled(counting, outbox, "_record_delivery", record_label)
    labelled(counting, ledger_tasks, "post_one_batch", lambda *a, **k: "ledger:post_batches")


# --- the receiver: the simulators' webhooks into the WSGI application ----------------------------
def serve_webhooks(counting: Counting) -> str:
    """A one-thread HTTP server handing each request to the WSGI application; its base URL."""
    from controltower.wsgi import application

    class Handler(http.server.BaseHTTPRequestHandler):
        def _handle(self) -> None:
            length = int(self.headers.get("Content-Length") or 0)
            body = self.rfile.read(length)
            path, _, query = self.path.partition("?")
            environ: dict[str, Any] = {
                "REQUEST_METHOD": self.command,
                "PATH_INFO": path,
                "QUERY_STRING": query,
                "SERVER_PORT": str(self.server.server_address[1]),
                "HTTP_HOST": "127.0.0.1",
                "REMOTE_ADDR": "127.0.0.1",
                "wsgi.input": io.BytesIO(body),
                "wsgi.multithread": False,
                "wsgi.multiprocess": True,
            }
            wsgiref.util.setup_testing_defaults(environ)
            for name, value in self.headers.items():
                key = name.upper().replace("-", "_")
                environ[key if key in ("CONTENT_TYPE", "CONTENT_LENGTH") else f"HTTP_{key}"] = value
            status: list[str] = []
            kind = path.strip("/").split("/")[1] if path.count("/") >= 3 else "-"
            with counting.under(f"receive:{kind}"):
                answer = application(environ, lambda line, _h, _e=None: status.append(line))
                try:
                    raw = b"".join(answer)
                finally:
                    getattr(answer, "close", lambda: None)()
            self.send_response(int(status[0].split()[0]))
            self.send_header("Content-Length", str(len(raw)))
            self.end_headers()
            self.wfile.write(raw)

        do_POST = do_GET = _handle

        def log_message(self, *args: Any) -> None:
            pass

    server = http.server.HTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return f"http://127.0.0.1:{server.server_address[1]}"


# --- the child: offer orders, drain until posted ------------------------------------------------
def offer_order(counting: Counting, gateway: str, order_id: int) -> None:
    """What a shop's checkout makes of an order: the gateway's payment, the store's webhook."""
    from bench.lifecycle import post_json
    from bench.queries import wsgi_post
    from controltower.wsgi import application

    order = woo_order(order_id)
    post_json(
        f"{gateway}/_sim/checkout",
        {
            "order_ref": f"{CHANNEL}-{order['number']}",
            "correlation_id": f"00000000-0000-4000-8000-{order_id:012d}",
            "amount": round(float(order["total"]) * 100),
            "currency": order["currency"].lower(),
            "capture_method": "automatic",
        },
    )
    with counting.under("receive:woocommerce"):
        status = wsgi_post(application, order_id)
    if not 200 <= status < 300:
        raise RuntimeError(f"the store's webhook for order {order_id} answered {status}")


def work_until_posted(counting: Counting, ids: list[int], timeout: float = 300.0) -> None:
    """Run the drain tasks in this process, in turns, until the orders are posted; each only
    when something waits for it, as a kick would start it (whether anything does is read on a
    connection of its own, not counted)."""
    from integrations.ledger.tasks import post_batches
    from integrations.runtime import tasks

    url = os.environ["DATABASE_URL"]
    wanted = [str(i) for i in ids]
    deadline = time.monotonic() + timeout
    from integrations.runtime.kick import kick_key
    from integrations.runtime.redis_store import redis_client

    def drain(queue: str) -> None:
        # The slot's lease as the kick left it for the task it enqueued (no worker here).
        token = redis_client().get(kick_key(queue, 0))
        task = {"inbox": tasks.drain_inbox, "outbox": tasks.drain_outbox}[queue]
        task.run(slot=0, token=token.decode() if token else "")

    runs = {"inbox": lambda: drain("inbox"), "outbox": lambda: drain("outbox")}
    runs["ledger"] = post_batches.run
    while True:
        ran = False
        for queue, task in runs.items():
            if psql(url, CLAIMABLE_SQL[queue])[0][0]:
                with counting.under(f"{queue}:drain"):
                    task()
                ran = True
        if ran:
            continue
        waiting = psql(url, WAITING_SQL)[0][0]
        posted = psql(url, POSTED_SQL, (SOURCE_SYSTEM, wanted))[0][0]
        if not waiting and posted >= len(wanted):
            return
        if time.monotonic() > deadline:
            raise RuntimeError(f"not posted within {timeout} s: {waiting} waiting, {posted} posted")
        time.sleep(0.1)  # a webhook on its way, or an event held for what it follows


def child(count: int, sims: dict[str, str]) -> dict[str, Any]:
    import django

    django.setup()
    from bench.lifecycle import wire_webhooks
    from controltower.core.context import acting_as

    counting = Counting()
    counting.install()
    instrument(counting)
    receiver = serve_webhooks(counting)
    wire_webhooks(sims, receiver, ERP_SLUG)
    with acting_as("system.runtime"):
        offer_order(counting, sims["gateway"], 1)
        work_until_posted(counting, [1])
        ids = list(range(2, 2 + count))
        counting.on = True
        profile = os.environ.get("BENCH_PROFILE", "")
        profiler = None
        if profile:  # BENCH_PROFILE=FILE: cProfile of the counted part, for pstats
            import cProfile

            profiler = cProfile.Profile()
            profiler.enable()
        for order_id in ids:
            offer_order(counting, sims["gateway"], order_id)
        work_until_posted(counting, ids)
        if profiler is not None:
            profiler.disable()
            profiler.dump_stats(profile)
        time.sleep(0.5)  # the last webhooks' answers (the store's notes) are in
        counting.on = False
    labels = {
        label: [counting.statements[label], counting.calls[label], counting.cpu[label]]
        for label in sorted(set(counting.statements) | set(counting.calls))
    }
    total = sum(counting.statements.values())
    samples = {label: counting.samples[label] for label in sorted(counting.samples)}
    return {"orders": count, "per_order": total / count, "labels": labels, "samples": samples}


# --- the parent: database, simulators, the child -------------------------------------------------
def run(count: int, bench: Bench, sql_file: str) -> int:
    from bench.common import wait_http
    from bench.lifecycle import simulator_argvs

    erp_port = int(bench.env["BENCH_ERP_PORT"])
    ports = json.loads(bench.env["BENCH_PORTS"])
    argvs = simulator_argvs(ports, erp_port, ERP_TOKEN)
    sims = {name: f"http://127.0.0.1:{port}" for name, port in {**ports, "erp": erp_port}.items()}
    for name, argv in argvs.items():
        logfile = bench.work / f"{name}.log"
        proc = bench.procs.start(name, argv, bench.env, logfile)
        wait_http(f"{sims[name.removesuffix('-simulator')]}/_sim/health", proc, logfile, 30)
    logfile = bench.work / "child.log"
    argv = [sys.executable, "-m", "bench.lifecycle_queries", str(count)]
    argv += ["--child", json.dumps(sims)]
    with logfile.open("w") as err:
        done = subprocess.run(
            argv, cwd=ROOT, env=bench.env, stdout=subprocess.PIPE, stderr=err, text=True
        )
    lines = [line for line in done.stdout.splitlines() if line.startswith("RESULT ")]
    if done.returncode != 0 or not lines:
        log(f"the counting child failed:\n{logfile.read_text()[-4000:]}")
        return 1
    result = json.loads(lines[-1].removeprefix("RESULT "))
    report(result)
    if sql_file:
        with open(sql_file, "w") as out:
            for label, statements in result.pop("samples").items():
                out.write(f"== {label} (call {SAMPLE_CALL}): {len(statements)} statements\n")
                out.writelines(f"   {line}\n" for line in statements)
    result.pop("samples", None)
    print("RESULT " + json.dumps(result))
    return 0


def report(result: dict[str, Any]) -> None:
    """Statements (and the CPU of the thread that ran them, its own under each label) per label,
    most statements first."""
    count = result["orders"]
    rows = sorted(result["labels"].items(), key=lambda item: -item[1][0])
    heads = f"{'stmts':>7} {'calls':>6} {'/call':>6} {'/order':>7} {'cpu ms/order':>12}"
    print(f"{'label':<58} {heads}")
    for label, (statements, calls, cpu) in rows:
        per_call = f"{statements / calls:.1f}" if calls else "-"
        print(f"{label:<58} {statements:>7} {calls:>6} {per_call:>6} {statements / count:>7.1f} "
              f"{cpu * 1000 / count:>12.1f}")  # fmt: skip
    total_cpu = sum(cpu for _, _, cpu in result["labels"].values())
    print(f"{'total':<58} {sum(s for s, _, _ in result['labels'].values()):>7} {'':>6} {'':>6} "
          f"{result['per_order']:>7.1f} {total_cpu * 1000 / count:>12.1f}")  # fmt: skip


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="SQL statements per order (see module doc).")
    parser.add_argument("count", type=int, nargs="?", default=30, help="orders to count (30)")
    parser.add_argument("--child", default="", help=argparse.SUPPRESS)
    parser.add_argument("--sql", default="", help="write one call's statements per label here")
    parser.add_argument("--keep", action="store_true", help="keep the database and logs")
    args = parser.parse_args(argv)
    if args.child:
        print("RESULT " + json.dumps(child(args.count, json.loads(args.child))), flush=True)
        return 0
    from bench import lifecycle
    from controltower.engines import free_port

    erp_port = free_port()
    ports = {name: free_port() for name in ("gateway", "wms", "ledger")}
    store = lifecycle.StoreSink()
    estate = {name: f"http://127.0.0.1:{port}" for name, port in ports.items()}
    estate["store"] = store.url
    os.environ["BENCH_ERP_PORT"], os.environ["BENCH_PORTS"] = str(erp_port), json.dumps(ports)
    seed = ("--erp-url", f"http://127.0.0.1:{erp_port}", "--erp-slug", ERP_SLUG)
    try:
        return run_bench(
            log,
            "lifecycle-queries",
            lambda bench: run(args.count, bench, args.sql),
            keep=args.keep,
            seed_args=(*seed, "--erp-token", ERP_TOKEN, "--estate", json.dumps(estate)),
        )
    finally:
        store.close()


if __name__ == "__main__":
    sys.exit(main())
