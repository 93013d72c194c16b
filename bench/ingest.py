"""`make bench-ingest`: signed WooCommerce order webhooks into the inbox, against a naive receiver.

What it does, all in one run on one machine:

1. Engines: ``DATABASE_URL`` / ``REDIS_URL`` when set, else the embedded PostgreSQL and Redis.
   A fresh database ``ct_bench_<pid>`` is created, migrated with ``CT_BENCH_BASELINE=1`` (which
   installs ``bench.baseline``: the naive receiver) and dropped at the end.
2. Data: the WooCommerce channel with its status mappings, the SKUs the orders use, and the
   ``woo-bench`` Connection with a webhook secret. No ERP connection: this measures ingest and
   translation, not delivery.
3. Web server: ``gunicorn controltower.wsgi:application`` with 4 sync workers — two per core:
   while one waits for its commit (WAL flush) or Redis, another has the core; more only adds
   context switches on 2 cores — no access log, ``CT_LOG_LEVEL=WARNING``. One server, the same
   settings, for both receivers (``/hooks/woocommerce/woo-bench/`` and ``/bench/naive-webhook/``).
4. Load: ``wrk`` in its own process with ``bench/wrk_ingest.lua``, which sends every pre-built,
   pre-signed request exactly once (each a distinct order). First a trivial GET to show what the
   server and generator can do at all, then a warm-up of each receiver, then rounds in
   ABBA order — naive, ours, ours, naive, … — with the same connections and the same request
   bodies; throughput is counted over each side's rounds, from its first request sent to its
   last answer. Ack latency is wrk's, from a request written to its answer read.
5. Redelivery: a sample of our requests is sent again; every one must be answered "duplicate".
6. Drain: a Celery worker (``-c 2``, its own queue) is started and the inbox is drained; then
   every posted order id must have exactly one canonical Order and one processed InboundEvent.

The worker starts after the load so that, on a 2-core machine, the receivers are measured on
equal terms (the naive receiver has no worker to feed). Production runs workers elsewhere.

It prints its figures last, one per line: accepted_per_s, baseline_per_s, ratio_vs_baseline,
ack_p50_ms, ack_p99_ms, lost, duplicated. Exit status 1 when an order is lost or duplicated.
"""

from __future__ import annotations

import argparse
import base64
import contextlib
import hashlib
import hmac
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
LUA = ROOT / "bench" / "wrk_ingest.lua"
SLUG = "woo-bench"
SECRET = "bench-webhook-secret"
OUR_PATH = f"/hooks/woocommerce/{SLUG}/"
NAIVE_PATH = "/bench/naive-webhook/"
PING_PATH = "/bench/ping/"
FILLER_PATH = "/bench/filler/"
SKUS = [(f"BENCH-{n:03d}", f"{9.95 + n:.2f}") for n in range(1, 21)]
T0 = datetime(2026, 11, 22, 10, 0, 0, tzinfo=UTC)


def log(message: str) -> None:
    print(f"[bench-ingest] {message}", file=sys.stderr, flush=True)


# --- payloads ------------------------------------------------------------------------------------
def woo_order(order_id: int) -> dict[str, Any]:
    """A WooCommerce REST v3 order as the store sends it in an ``order.created`` webhook."""
    modified = T0 + timedelta(seconds=order_id)
    created = modified - timedelta(minutes=1)
    items = []
    subtotal = 0.0
    for index in range(1 + order_id % 3):
        sku, price = SKUS[(order_id + index) % len(SKUS)]
        qty = 1 + (order_id + index) % 2
        line_total = f"{float(price) * qty:.2f}"
        subtotal += float(line_total)
        items.append(
            {
                "id": order_id * 10 + index + 1,
                "name": f"Item {sku}",
                "product_id": 500 + index,
                "variation_id": 0,
                "quantity": qty,
                "tax_class": "",
                "subtotal": line_total,
                "subtotal_tax": f"{float(line_total) * 0.21:.2f}",
                "total": line_total,
                "total_tax": f"{float(line_total) * 0.21:.2f}",
                "taxes": [],
                "meta_data": [],
                "sku": sku,
                "price": float(price),
            }
        )
    tax = round(subtotal * 0.21, 2)
    stamp = "%Y-%m-%dT%H:%M:%S"
    return {
        "id": order_id,
        "parent_id": 0,
        "number": str(order_id),
        "order_key": f"wc_order_{order_id}",
        "created_via": "checkout",
        "version": "9.4.0",
        "status": "processing",
        "currency": "EUR",
        "date_created": created.strftime(stamp),
        "date_created_gmt": created.strftime(stamp),
        "date_modified": modified.strftime(stamp),
        "date_modified_gmt": modified.strftime(stamp),
        "discount_total": "0.00",
        "discount_tax": "0.00",
        "shipping_total": "4.95",
        "shipping_tax": "0.00",
        "cart_tax": f"{tax:.2f}",
        "total": f"{subtotal + tax + 4.95:.2f}",
        "total_tax": f"{tax:.2f}",
        "prices_include_tax": False,
        "customer_id": 0,
        "billing": {
            "first_name": "Anna",
            "last_name": "de Vries",
            "email": f"customer{order_id}@example.com",
            "city": "Utrecht",
            "country": "NL",
        },
        "shipping": {"first_name": "Anna", "last_name": "de Vries", "country": "NL"},
        "payment_method": "stripe",
        "payment_method_title": "Credit card",
        "line_items": items,
        "shipping_lines": [{"id": 1, "method_id": "flat_rate", "total": "4.95"}],
        "meta_data": [],
        "refunds": [],
    }


def raw_request(path: str, host: str, order_id: int) -> bytes:
    """The signed HTTP request WooCommerce would send for this order."""
    body = json.dumps(woo_order(order_id)).encode()
    signature = base64.b64encode(hmac.new(SECRET.encode(), body, hashlib.sha256).digest())
    delivery = hashlib.md5(f"7-{order_id}".encode()).hexdigest()
    head = (
        f"POST {path} HTTP/1.1\r\n"
        f"Host: {host}\r\n"
        "User-Agent: WooCommerce/9.4.0 Hookshot (WordPress/6.7)\r\n"
        "Content-Type: application/json\r\n"
        f"Content-Length: {len(body)}\r\n"
        "X-WC-Webhook-Source: https://shop.example.com/\r\n"
        "X-WC-Webhook-Topic: order.created\r\n"
        "X-WC-Webhook-Resource: order\r\n"
        "X-WC-Webhook-Event: created\r\n"
        f"X-WC-Webhook-Signature: {signature.decode()}\r\n"
        "X-WC-Webhook-ID: 7\r\n"
        f"X-WC-Webhook-Delivery-ID: {delivery}\r\n"
        "\r\n"
    )
    return head.encode() + body


def write_requests(path: Path, requests: list[bytes]) -> Path:
    with path.open("wb") as out:
        for request in requests:
            out.write(b"%d\n" % len(request))
            out.write(request)
    return path


# --- engines and the database --------------------------------------------------------------------
def bench_database_url(server_url: str, name: str) -> str:
    import dj_database_url

    from controltower.engines import database_url

    settings = dj_database_url.parse(server_url)
    settings["NAME"] = name
    return database_url(settings)


def psql(url: str, sql: str, params: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    import psycopg

    with psycopg.connect(url, autocommit=True) as conn, conn.cursor() as cur:
        cur.execute(sql, params)  # type: ignore[arg-type]
        return cur.fetchall() if cur.description else []


def setup_data() -> None:
    """Run in a child process with the bench database: channel, mappings, SKUs, connection."""
    import django

    django.setup()
    from controltower.catalog.choices import ChannelType, SystemKind
    from controltower.catalog.models import SKU, Channel, Product
    from controltower.orders.choices import OrderState
    from controltower.orders.models import ChannelStatusMapping
    from integrations.runtime.models import Connection

    channel = Channel.objects.create(
        code="web-bench", name="Bench web store", type=ChannelType.WOOCOMMERCE, currency="EUR"
    )
    for status, state in {
        "pending": OrderState.PENDING_PAYMENT,
        "processing": OrderState.ACCEPTED,
        "on-hold": OrderState.ON_HOLD,
        "completed": OrderState.COMPLETED,
        "cancelled": OrderState.CANCELLED,
        "refunded": OrderState.REFUNDED,
        "failed": OrderState.FAILED,
    }.items():
        ChannelStatusMapping.objects.create(channel=channel, channel_status=status, state=state)
    product = Product.objects.create(name="Bench tee")
    for code, price in SKUS:
        SKU.objects.create(
            code=code, product=product, name=f"Bench tee {code}", price_amount=price, currency="EUR"
        )
    connection = Connection(
        slug=SLUG,
        name="Bench web store (WooCommerce)",
        kind=SystemKind.WOOCOMMERCE,
        base_url="http://127.0.0.1:9/",
        channel=channel,
    )
    connection.set_credentials({"webhook_secret": SECRET})
    connection.save()


# --- processes -----------------------------------------------------------------------------------
@dataclass
class Processes:
    """Every child process this run started, stopped in reverse order whatever happens."""

    running: list[tuple[str, subprocess.Popen[bytes]]] = field(default_factory=list)

    def start(self, name: str, args: list[str], env: dict[str, str], logfile: Path) -> Any:
        with logfile.open("wb") as out:
            proc = subprocess.Popen(
                args,
                cwd=ROOT,
                env=env,
                stdout=out,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        self.running.append((name, proc))
        return proc

    def stop(self, proc: subprocess.Popen[bytes], sig: int = signal.SIGTERM) -> None:
        if proc.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(proc.pid, sig)  # its own session: the process and its children
            try:
                proc.wait(10)
            except subprocess.TimeoutExpired:
                os.killpg(proc.pid, signal.SIGKILL)
                proc.wait(5)
        self.running = [(n, p) for n, p in self.running if p is not proc]

    def stop_all(self) -> None:
        for _name, proc in reversed(list(self.running)):
            self.stop(proc)


@dataclass
class LoadResult:
    sent: int
    elapsed_s: float
    accepted: int
    duplicate: int
    other: int
    fillers: int
    socket_errors: int
    quantiles: list[float]  # latency in ms at 0.1 %, 0.2 %, … 100 %
    cpu_busy: float  # share of the machine's CPU in use during the run

    @property
    def ok(self) -> int:
        return self.accepted + self.duplicate


def cpu_times() -> tuple[int, int]:
    """(busy, total) jiffies of the whole machine, from /proc/stat (0, 0 where there is none)."""
    try:
        fields = [int(v) for v in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]]
    except (OSError, ValueError):
        return 0, 0
    idle = fields[3] + (fields[4] if len(fields) > 4 else 0)
    return sum(fields) - idle, sum(fields)


def run_wrk(
    procs: Processes,
    work: Path,
    label: str,
    url: str,
    requests: Path,
    count: int,
    *,
    threads: int,
    connections: int,
) -> LoadResult:
    out = work / f"wrk-{label}"
    out.mkdir()
    env = {
        **os.environ,
        "CT_WRK_REQUESTS": str(requests),
        "CT_WRK_THREADS": str(threads),
        "CT_WRK_OUT": str(out),
        "CT_WRK_FILLER": FILLER_PATH,
    }
    budget = 60 + count / 50  # even 50 req/s must finish; this only guards against a hang
    wrk = procs.start(
        f"wrk-{label}",
        [
            "wrk",
            f"-t{threads}",
            f"-c{connections}",
            f"-d{int(budget) + 30}s",
            "--timeout",
            "10s",
            "-s",
            str(LUA),
            url,
        ],
        env,
        work / f"wrk-{label}.log",
    )
    deadline = time.monotonic() + budget
    busy0, total0 = cpu_times()
    while len(list(out.glob("thread-*.done"))) < threads:
        if wrk.poll() is not None:
            raise RuntimeError(f"wrk exited early:\n{(work / f'wrk-{label}.log').read_text()}")
        if time.monotonic() > deadline:
            log(f"{label}: not every request was answered in {budget:.0f}s; stopping wrk")
            break
        time.sleep(0.05)
    busy1, total1 = cpu_times()
    procs.stop(wrk, signal.SIGINT)  # runs the script's done(): errors and latency quantiles
    answered = accepted = duplicate = other = fillers = 0
    first, last = float("inf"), 0.0
    for path in out.glob("thread-*.done"):
        _n, a, acc, dup, oth, fil, t0, t1 = path.read_text().split()
        answered += int(a)
        accepted, duplicate, other = accepted + int(acc), duplicate + int(dup), other + int(oth)
        fillers += int(fil)
        if float(t0):
            first = min(first, float(t0))
        last = max(last, float(t1))
    summary = (out / "summary.txt").read_text().splitlines()
    connect, read, write, _status, timeout = (int(v) for v in summary[2].split()[1:])
    quantiles = [int(line.split()[2]) / 1000 for line in summary[3:] if line.startswith("q ")]
    return LoadResult(
        sent=count,
        elapsed_s=max(last - first, 1e-9),
        accepted=accepted,
        duplicate=duplicate,
        other=other + (count - answered),
        fillers=fillers,
        socket_errors=connect + read + write + timeout,
        quantiles=quantiles,
        cpu_busy=(busy1 - busy0) / max(1, total1 - total0),
    )


def merged_percentile(results: list[LoadResult], pct: float) -> float:
    """A percentile of the union of runs, from each run's 1,000-quantile sketch."""
    samples: list[tuple[float, float]] = []
    for result in results:
        weight = result.sent / len(result.quantiles)
        samples += [(value, weight) for value in result.quantiles]
    samples.sort()
    total = sum(weight for _, weight in samples)
    seen = 0.0
    for value, weight in samples:
        seen += weight
        if seen >= total * pct / 100:
            return value
    return samples[-1][0]


def wait_http(url: str, proc: subprocess.Popen[bytes], logfile: Path, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"process exited early:\n{logfile.read_text()[-3000:]}")
        try:
            with urllib.request.urlopen(url, timeout=2) as response:
                if response.status < 300:
                    return
        except (urllib.error.URLError, OSError):
            time.sleep(0.2)
    raise TimeoutError(f"{url} not answering after {timeout}s:\n{logfile.read_text()[-3000:]}")


# --- the run -------------------------------------------------------------------------------------
def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description="Webhook ingest benchmark (see module doc).")
    parser.add_argument("--requests", type=int, default=4_000, help="per receiver (4000)")
    parser.add_argument("--rounds", type=int, default=4, help="alternating rounds, ABBA (4)")
    parser.add_argument("--warmup", type=int, default=400, help="per receiver (400)")
    parser.add_argument("--redeliver", type=int, default=200, help="sent again (200)")
    parser.add_argument("--workers", type=int, default=4, help="gunicorn workers (4)")
    parser.add_argument(
        "--worker-class", default="sync", help="gunicorn worker class (sync; gthread keeps alive)"
    )
    parser.add_argument(
        "--worker-threads",
        type=int,
        default=1,
        help="threads per gthread worker (1 = no keep-alive)",
    )
    parser.add_argument("--connections", type=int, default=32, help="wrk connections (32)")
    parser.add_argument("--threads", type=int, default=1, help="wrk threads (1)")
    parser.add_argument("--drain-timeout", type=float, default=900.0, help="seconds (900)")
    parser.add_argument("--keep", action="store_true", help="keep the database and logs")
    parser.add_argument(
        "--no-drain", action="store_true", help="measure the receivers only (no drain, no check)"
    )
    parser.add_argument("--setup-data", action="store_true", help=argparse.SUPPRESS)
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    if args.setup_data:
        setup_data()
        return 0
    if shutil.which("wrk") is None:
        log("wrk is not installed: `make bench-ingest` installs it (apt-get install wrk)")
        return 2

    def interrupted(signum: int, _frame: Any) -> None:
        raise KeyboardInterrupt(f"signal {signum}")

    signal.signal(signal.SIGTERM, interrupted)

    from controltower.engines import ensure_engines

    urls = ensure_engines()  # external servers when both variables are set; embedded otherwise
    server_url = urls["DATABASE_URL"]
    name = f"ct_bench_{os.getpid()}"
    db_url = bench_database_url(server_url, name)
    queue = f"ct-bench-{os.getpid()}"
    work = Path(tempfile.mkdtemp(prefix="ct-bench-ingest-", dir=ROOT / "var"))
    procs = Processes()
    created = False
    status = 1
    try:
        log(f"database {name}; logs in {work}")
        psql(server_url, f'CREATE DATABASE "{name}"')
        created = True
        env = {
            **os.environ,
            "DATABASE_URL": db_url,
            "REDIS_URL": urls["REDIS_URL"],
            "DJANGO_SETTINGS_MODULE": "controltower.settings",
            "CT_BENCH_BASELINE": "1",
            "CT_CELERY_QUEUE": queue,
            "CT_CHANNELS_PREFIX": queue,
            "CT_LOG_LEVEL": "WARNING",
            "CT_LOG_FORMAT": "console",
            "PYTHONUNBUFFERED": "1",
        }
        started = time.monotonic()
        subprocess.run(
            [sys.executable, "manage.py", "migrate", "--noinput", "-v", "0"],
            cwd=ROOT,
            env=env,
            check=True,
        )
        subprocess.run(
            [sys.executable, "-m", "bench.ingest", "--setup-data"], cwd=ROOT, env=env, check=True
        )
        log(f"migrated and seeded in {time.monotonic() - started:.1f}s")
        status = run(args, procs, work, env, db_url)
    except KeyboardInterrupt:
        log("interrupted; cleaning up")
        status = 130
    finally:
        procs.stop_all()
        try:
            import redis

            client = redis.Redis.from_url(urls["REDIS_URL"])
            client.delete(queue, f"_kombu.binding.{queue}", f"_kombu.binding_permanent.{queue}")
            for key in client.scan_iter(f"ct:*{queue}*"):  # kicks, rate limits, breakers
                client.delete(key)
        except Exception as exc:  # cleanup must not hide the result
            log(f"could not clean redis: {exc}")
        if created and not args.keep:
            psql(server_url, f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        if not args.keep:
            shutil.rmtree(work, ignore_errors=True)
        else:
            log(f"kept database {name} and {work}")
    return status


def run(
    args: argparse.Namespace, procs: Processes, work: Path, env: dict[str, str], db_url: str
) -> int:
    from controltower.engines import free_port

    port = free_port()
    host = f"127.0.0.1:{port}"
    base = f"http://{host}"
    rounds = max(1, args.rounds)
    chunk = args.requests // rounds
    total = chunk * rounds

    # Order ids: warm-up first, then the measured rounds; both receivers get the same bodies.
    started = time.monotonic()
    warm_ids = list(range(1, args.warmup + 1))
    chunks = [
        list(range(args.warmup + 1 + r * chunk, args.warmup + 1 + (r + 1) * chunk))
        for r in range(rounds)
    ]
    files: dict[str, Path] = {}
    files["ping"] = write_requests(
        work / "ping.req",
        [f"GET {PING_PATH} HTTP/1.1\r\nHost: {host}\r\n\r\n".encode()] * min(total, 5_000),
    )
    for side, path in (("naive", NAIVE_PATH), ("ours", OUR_PATH)):
        files[f"{side}-warm"] = write_requests(
            work / f"{side}-warm.req", [raw_request(path, host, i) for i in warm_ids]
        )
        for r, ids in enumerate(chunks):
            files[f"{side}-{r}"] = write_requests(
                work / f"{side}-{r}.req", [raw_request(path, host, i) for i in ids]
            )
    every = [i for ids in chunks for i in ids]
    resend = every[:: max(1, len(every) // max(1, args.redeliver))][: args.redeliver]
    files["redeliver"] = write_requests(
        work / "redeliver.req", [raw_request(OUR_PATH, host, i) for i in resend]
    )
    log(
        f"built {2 * (total + len(warm_ids)) + len(resend)} requests in "
        f"{time.monotonic() - started:.1f}s"
    )

    gunicorn_log = work / "gunicorn.log"
    gunicorn = procs.start(
        "gunicorn",
        [
            sys.executable,
            "-m",
            "gunicorn",
            "controltower.wsgi:application",
            "--worker-class",
            args.worker_class,
            "--workers",
            str(args.workers),
            *(
                ["--threads", str(args.worker_threads), "--keep-alive", "5"]
                if args.worker_threads > 1
                else []
            ),
            "--bind",
            host,
            "--backlog",
            "2048",
            "--log-level",
            "warning",
        ],
        env,
        gunicorn_log,
    )
    wait_http(base + PING_PATH, gunicorn, gunicorn_log, 60)

    def load(label: str, key: str, count: int) -> LoadResult:
        result = run_wrk(
            procs,
            work,
            label,
            base + "/",
            files[key],
            count,
            threads=args.threads,
            connections=args.connections,
        )
        log(
            f"{label:>12}: {result.ok:>6}/{count} ok in {result.elapsed_s:6.2f}s "
            f"= {result.ok / result.elapsed_s:7.0f}/s  p50 {merged_percentile([result], 50):6.1f} "
            f"ms  p99 {merged_percentile([result], 99):6.1f} ms  "
            f"(dup {result.duplicate}, other {result.other}, socket errors "
            f"{result.socket_errors}, fillers {result.fillers}, cpu {result.cpu_busy:.0%})"
        )
        return result

    ping = load("ping", "ping", min(total, 5_000))
    load("naive-warm", "naive-warm", len(warm_ids))
    load("ours-warm", "ours-warm", len(warm_ids))
    naive: list[LoadResult] = []
    ours: list[LoadResult] = []
    for r in range(rounds):
        order = ("naive", "ours") if r % 2 == 0 else ("ours", "naive")
        for side in order:
            result = load(f"{side}-{r}", f"{side}-{r}", chunk)
            (naive if side == "naive" else ours).append(result)
    redelivered = load("redeliver", "redeliver", len(resend)) if resend else None
    procs.stop(gunicorn)
    if args.no_drain:
        log("--no-drain: not draining, not checking; no figures printed")
        return 0

    # Drain: a Celery worker on this run's queue (with beat, so the sweeper runs as in production).
    worker_log = work / "worker.log"
    worker = procs.start(
        "worker",
        [
            sys.executable,
            "-m",
            "celery",
            "-A",
            "controltower",
            "worker",
            "-Q",
            env["CT_CELERY_QUEUE"],
            "-c",
            "2",
            "--without-gossip",
            "--without-mingle",
            "--loglevel=WARNING",
            "-n",
            f"{env['CT_CELERY_QUEUE']}@%h",
            "-B",
            "-s",
            str(work / "beat-schedule"),
        ],
        {**env, "CT_SWEEP_INTERVAL_S": "2"},
        worker_log,
    )
    posted = warm_ids + every
    drain_started = time.monotonic()
    deadline = drain_started + args.drain_timeout
    reported = drain_started
    while True:
        waiting = psql(
            db_url,
            "SELECT count(*) FROM integrations_inboundevent "
            "WHERE status IN ('pending', 'processing')",
        )[0][0]
        if waiting == 0:
            break
        if worker.poll() is not None:
            raise RuntimeError(f"the worker exited:\n{worker_log.read_text()[-3000:]}")
        now = time.monotonic()
        if now > deadline:
            log(f"drain timed out with {waiting} events waiting; see {worker_log}")
            break
        if now - reported >= 15:
            reported = now
            log(f"draining: {waiting} events waiting after {now - drain_started:.0f}s")
        time.sleep(1)
    drain_s = time.monotonic() - drain_started
    log(f"drained {len(posted)} orders in {drain_s:.1f}s = {len(posted) / drain_s:.0f}/s")

    orders = dict(
        psql(
            db_url,
            "SELECT external_id, count(*) FROM orders_order WHERE source_system = %s "
            "GROUP BY external_id",
            (f"woocommerce:{SLUG}",),
        )
    )
    processed = dict(
        psql(
            db_url,
            "SELECT e.resource_id, count(*) FROM integrations_inboundevent e "
            "JOIN integrations_connection c ON c.id = e.connection_id "
            "WHERE c.slug = %s AND e.status = 'processed' GROUP BY e.resource_id",
            (SLUG,),
        )
    )
    events = psql(
        db_url,
        "SELECT status, count(*) FROM integrations_inboundevent GROUP BY status ORDER BY status",
    )
    naive_rows = psql(db_url, "SELECT count(*) FROM bench_baseline_naivewebhook")[0][0]
    log(f"inbound events by status: {dict(events)}; naive rows: {naive_rows}")
    unacked = sum(r.sent - r.ok for r in ours)
    missing = sum(1 for i in posted if orders.get(str(i), 0) == 0 or processed.get(str(i), 0) == 0)
    lost = max(0, missing - unacked)
    duplicated = sum(
        1 for i in posted if orders.get(str(i), 0) > 1 or processed.get(str(i), 0) > 1
    ) + sum(1 for key in orders if int(key) not in set(posted))
    if redelivered is not None:
        duplicated += redelivered.accepted  # a redelivery must never be taken as new

    naive_ok = sum(r.ok for r in naive)
    ours_ok = sum(r.accepted for r in ours)
    naive_rate = naive_ok / sum(r.elapsed_s for r in naive)
    ours_rate = ours_ok / sum(r.elapsed_s for r in ours)
    print(f"requests_per_receiver: {total}")
    print(f"ping_per_s: {ping.ok / ping.elapsed_s:.0f}")
    print(f"baseline_p50_ms: {merged_percentile(naive, 50):.1f}")
    print(f"baseline_p99_ms: {merged_percentile(naive, 99):.1f}")
    print(f"not_acked: {unacked + sum(r.sent - r.ok for r in naive)}")
    print(f"drain_per_s: {len(posted) / drain_s:.0f}")
    print(f"accepted_per_s: {ours_rate:.0f}")
    print(f"baseline_per_s: {naive_rate:.0f}")
    print(f"ratio_vs_baseline: {ours_rate / naive_rate:.2f}")
    print(f"ack_p50_ms: {merged_percentile(ours, 50):.1f}")
    print(f"ack_p99_ms: {merged_percentile(ours, 99):.1f}")
    print(f"lost: {lost}")
    print(f"duplicated: {duplicated}")
    return 0 if lost == 0 and duplicated == 0 and unacked == 0 else 1


if __name__ == "__main__":
    sys.exit(main())
