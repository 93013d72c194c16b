"""`make bench-e2e`: signed order webhooks at fixed rates through the real topology into the ERP.

What it does, all in one run on one machine:

1. Engines and data as ``bench-ingest`` (``bench/common.py``): a fresh database
   ``ct_bench_<pid>``, migrated and seeded with the WooCommerce channel, its status mappings, the
   SKUs and the ``woo-bench`` Connection, plus an ERP Connection ``erp-bench`` pointing at the ERP
   simulator (bearer token, ``rate_limit_per_s=100000`` — out of the way —, timeout 10 s).
2. Processes, each logging to its own file in the run's directory under ``var/``: the ERP
   simulator (faults off), the production web tier exactly as ``controltower.topology`` defines
   it (the buffering front on the public port, gunicorn's sync workers behind it, daphne), a
   Celery worker on the run's own queue and a separate ``celery beat`` (the sweeper).
3. Baseline, before the ladder: the ERP simulator's own capacity, called directly by 8 closed-loop
   clients for 10 s with valid sales orders (external refs ``bench-direct-…``), one new
   connection per request as Control Tower's deliverer makes (``integrations/runtime/http.py``):
   ``erp_direct_per_s``.
4. A short warm-up, then the rate ladder (``--rates``, ``--step-s`` each): an open-loop generator
   (asyncio, in this process) sends request *i* of a step at ``t0 + i/rate`` — late, it sends at
   once and counts how late — each a pre-signed ``order.created`` webhook of a distinct order on
   a new connection (``Connection: close``) with WooCommerce's 5 s timeout. The backlog (inbound
   events pending/processing + outbound messages pending/in flight) is sampled every second.
   After each step the bench waits until the backlog is 0 and every acknowledged order of the
   step is registered in the ERP (``--drain-timeout``), so steps do not overlap, and then reads
   each order's ``erp_registered_at``: webhook sent → ERP acknowledged, both on this machine's
   clock. A step is **sustained** when every delivery was answered 2xx, the backlog did not grow
   (least-squares slope over the step's second half ≤ max(1/s, 2 % of the rate), and at the end
   ≤ 2 s worth of orders), every order was registered and the p95 is under 2 s. Climbing stops
   after the first step that is not (``--keep-climbing`` runs them all).
5. ``queries_per_order``: with the workers stopped, a child process (``bench/queries.py``)
   sends ``--count-queries`` fresh webhooks through ``controltower.wsgi.application``
   in-process, then drains the inbox and the outbox (into the still-running simulator) with the
   functions the drain tasks call, counting every SQL statement with
   ``connection.execute_wrapper``.
6. The check: every order id posted must have exactly one Order with its ERP reference set, one
   processed InboundEvent and one sales order in the ERP simulator.

It prints its figures last, one per line: erp_direct_per_s, steps_run, intake_sustained_per_s,
ratio_vs_erp_direct, intake_erp_ack_p95_ms, queries_per_order, lost, duplicated. Exit status 1
when an order is lost or duplicated (or its ERP reference is not the ERP's sales order).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import itertools
import json
import math
import re
import resource
import subprocess
import sys
import time
import urllib.request
import uuid
from collections import Counter
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any

from bench.common import (
    CHANNEL,
    HOOK_PATH,
    SLUG,
    SOURCE_SYSTEM,
    T0,
    Bench,
    Processes,
    celery_argv,
    cpu_times,
    make_log,
    psql,
    raw_request,
    run_bench,
    wait_http,
    woo_order,
)
from bench.queries import counted_queries

ERP_SLUG = "erp-bench"
ERP_TOKEN = "bench-erp-token"
DELIVERY_TIMEOUT_S = 5.0  # WooCommerce's own webhook delivery timeout
DIRECT_S = 10.0
DIRECT_CLIENTS = 8
DIRECT_PREFIX = "bench-direct-"
TARGET_P95_MS = 2000.0
BACKLOG_SQL = (
    "SELECT (SELECT count(*) FROM integrations_inboundevent"
    " WHERE status IN ('pending', 'processing'))"
    " + (SELECT count(*) FROM integrations_outboundmessage"
    " WHERE status IN ('pending', 'in_flight'))"
)

log = make_log("bench-e2e")


# --- HTTP on raw asyncio streams -----------------------------------------------------------------
async def exchange(port: int, request: bytes, timeout: float) -> int:
    """One request on a new connection; the answer's status, 0 when none came within timeout."""

    async def once() -> int:
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        try:
            writer.write(request)
            await writer.drain()
            head = await reader.readuntil(b"\r\n\r\n")
            length = re.search(rb"(?im)^content-length:[ \t]*(\d+)", head)
            await (reader.readexactly(int(length[1])) if length else reader.read())
            return int(head.split(b" ", 2)[1])
        finally:
            writer.close()
            with contextlib.suppress(OSError):
                await writer.wait_closed()

    try:
        return await asyncio.wait_for(once(), timeout)
    except (TimeoutError, OSError, EOFError, ValueError, IndexError, asyncio.LimitOverrunError):
        return 0


# --- the baseline: the ERP simulator called directly ---------------------------------------------
def direct_sales_order(n: int) -> dict[str, Any]:
    """A sales order shaped as ``integrations/erp/translate.py`` builds it (external ref
    ``bench-direct-<n>``, which the final check ignores)."""
    order = woo_order(n)
    four = "{:.4f}".format
    return {
        "external_ref": f"{DIRECT_PREFIX}{n}",
        "correlation_id": str(uuid.uuid4()),
        "channel": CHANNEL,
        "currency": order["currency"],
        "customer": {
            "name": "Anna de Vries",
            "email": order["billing"]["email"],
            "billing_address": order["billing"],
            "shipping_address": order["shipping"],
        },
        "lines": [
            {
                "line_number": index + 1,
                "sku": item["sku"],
                "name": item["name"],
                "quantity": item["quantity"],
                "unit_price": four(item["price"]),
                "discount": four(0),
                "tax": four(float(item["total_tax"])),
                "total": four(float(item["total"])),
            }
            for index, item in enumerate(order["line_items"])
        ],
        "shipping": four(float(order["shipping_total"])),
        "tax": four(float(order["total_tax"])),
        "total": four(float(order["total"])),
        "placed_at": (T0 + timedelta(seconds=n)).isoformat(),
    }


def direct_request(port: int, n: int) -> bytes:
    payload = direct_sales_order(n)
    body = json.dumps(payload).encode()
    head = (
        "POST /api/v1/sales-orders HTTP/1.1\r\n"
        f"Host: 127.0.0.1:{port}\r\n"
        "User-Agent: ControlTower/0.1\r\n"
        "Accept: */*\r\n"
        "Content-Type: application/json\r\n"
        f"Content-Length: {len(body)}\r\n"
        f"Authorization: Bearer {ERP_TOKEN}\r\n"
        f"Idempotency-Key: erp:bench-direct:sales-order:{payload['correlation_id']}\r\n"
        f"X-Correlation-ID: {payload['correlation_id']}\r\n"
        "\r\n"
    )
    return head.encode() + body


async def erp_direct(port: int, seconds: float, clients: int) -> tuple[int, int, float]:
    """(created, failed, elapsed s) of ``clients`` closed-loop clients, one connection a call."""
    loop = asyncio.get_running_loop()
    numbers = itertools.count(1)
    outcome = Counter[bool]()
    started = loop.time()

    async def client() -> None:
        while loop.time() - started < seconds:
            status = await exchange(port, direct_request(port, next(numbers)), 10.0)
            outcome[status == 201] += 1

    await asyncio.gather(*(client() for _ in range(clients)))
    return outcome[True], outcome[False], loop.time() - started


# --- the open-loop generator and the backlog -----------------------------------------------------
@dataclass
class Delivery:
    order_id: int
    sent: float = 0.0  # wall clock (time.time()), when the connection was opened
    status: int = 0  # 0: no answer within DELIVERY_TIMEOUT_S

    @property
    def ok(self) -> bool:
        return 200 <= self.status < 300


@dataclass
class Offered:
    deliveries: list[Delivery]
    achieved_per_s: float
    max_lag_ms: float  # how far behind its schedule the generator fell, at worst
    samples: list[tuple[float, int]]  # (seconds into the step, backlog), at least one
    cpu_busy: float

    @property
    def growth(self) -> float:
        """Least-squares slope of the backlog over the step's second half (orders/s)."""
        return slope([s for s in self.samples if s[0] >= self.samples[-1][0] / 2])


class Backlog:
    """Inbound events pending/processing + outbound messages pending/in flight, on one
    connection of its own."""

    def __init__(self, db_url: str) -> None:
        import psycopg

        self.conn = psycopg.connect(db_url, autocommit=True)

    def now(self) -> int:
        row = self.conn.execute(BACKLOG_SQL).fetchone()
        return int(row[0]) if row else 0

    def registered(self, order_ids: list[str]) -> int:
        """How many of these orders are registered in the ERP."""
        row = self.conn.execute(
            "SELECT count(*) FROM orders_order WHERE source_system = %s "
            "AND external_id = ANY(%s) AND erp_registered_at IS NOT NULL",
            (SOURCE_SYSTEM, order_ids),
        ).fetchone()
        return int(row[0]) if row else 0

    def close(self) -> None:
        self.conn.close()


async def offer(port: int, rate: float, requests: dict[int, bytes], backlog: Backlog) -> Offered:
    """Send ``requests`` at ``rate`` on an absolute schedule, sampling the backlog each second."""
    loop = asyncio.get_running_loop()
    deliveries = [Delivery(order_id) for order_id in requests]
    t0 = loop.time() + 0.05
    started: list[float] = []
    lags: list[float] = []
    samples: list[tuple[float, int]] = []

    async def deliver(delivery: Delivery, request: bytes, due: float) -> None:
        now = loop.time()
        started.append(now)
        lags.append(now - due)
        delivery.sent = time.time()
        delivery.status = await exchange(port, request, DELIVERY_TIMEOUT_S)

    async def sample(until: float) -> None:
        for k in itertools.count():
            if t0 + k > until:
                return
            await asyncio.sleep(max(0.0, t0 + k - loop.time()))
            samples.append((loop.time() - t0, await asyncio.to_thread(backlog.now)))

    busy0, total0 = cpu_times()
    sampler = asyncio.create_task(sample(t0 + len(deliveries) / rate))
    tasks = []
    for i, (delivery, request) in enumerate(zip(deliveries, requests.values(), strict=True)):
        due = t0 + i / rate
        if due > loop.time():
            await asyncio.sleep(due - loop.time())
        tasks.append(asyncio.create_task(deliver(delivery, request, due)))
    await asyncio.gather(*tasks, sampler)
    busy1, total1 = cpu_times()
    span = max(started) - min(started) if len(started) > 1 else 0.0
    return Offered(
        deliveries=deliveries,
        achieved_per_s=(len(started) - 1) / span if span else 0.0,
        max_lag_ms=max(lags, default=0.0) * 1000,
        samples=samples or [(0.0, backlog.now())],
        cpu_busy=(busy1 - busy0) / max(1, total1 - total0),
    )


def slope(points: list[tuple[float, int]]) -> float:
    """Least-squares slope of backlog over time (orders per second)."""
    if len(points) < 2:
        return 0.0
    mean_t = sum(t for t, _ in points) / len(points)
    mean_y = sum(y for _, y in points) / len(points)
    spread = sum((t - mean_t) ** 2 for t, _ in points)
    return sum((t - mean_t) * (y - mean_y) for t, y in points) / spread if spread else 0.0


def percentile(values: list[float], pct: float) -> float:
    """Nearest-rank percentile (``nan`` of nothing)."""
    if not values:
        return math.nan
    ordered = sorted(values)
    return ordered[max(0, math.ceil(pct / 100 * len(ordered)) - 1)]


# --- one step of the ladder ----------------------------------------------------------------------
@dataclass
class Step:
    rate: float
    offered: Offered
    drained: bool
    latencies_ms: list[float]  # sent → ERP registered, per acknowledged order (inf: never)
    reasons: list[str] = field(default_factory=list)

    @property
    def acked(self) -> list[Delivery]:
        return [d for d in self.offered.deliveries if d.ok]

    @property
    def sustained(self) -> bool:
        return not self.reasons

    def p(self, pct: float) -> float:
        return percentile(self.latencies_ms, pct)

    def judge(self) -> None:
        growth, end = self.offered.growth, self.offered.samples[-1][1]
        unacked = len(self.offered.deliveries) - len(self.acked)
        unregistered = sum(1 for v in self.latencies_ms if math.isinf(v))
        for failed, reason in (
            (unacked > 0, f"{unacked} deliveries not acknowledged"),
            (growth > max(1.0, 0.02 * self.rate), f"backlog grew {growth:+.1f}/s"),
            (end > self.rate * 2, f"backlog {end} at the end"),
            (not self.drained, "did not drain in time"),
            (unregistered > 0, f"{unregistered} orders not registered in the ERP"),
            (not self.p(95) < TARGET_P95_MS, f"p95 {self.p(95):.0f} ms"),
        ):
            if failed:
                self.reasons.append(reason)

    def line(self) -> str:
        o, samples = self.offered, self.offered.samples
        verdict = "yes" if self.sustained else f"no ({'; '.join(self.reasons)})"
        return (
            f"rate {self.rate:g}/s: sent {len(o.deliveries)} at {o.achieved_per_s:.1f}/s, "
            f"acked {len(self.acked)}, max lag {o.max_lag_ms:.0f} ms, backlog "
            f"{samples[0][1]}/{samples[len(samples) // 2][1]}/{samples[-1][1]} "
            f"slope {o.growth:+.2f}/s, sent→ERP p50 {self.p(50):.0f} "
            f"p95 {self.p(95):.0f} p99 {self.p(99):.0f} ms, cpu {o.cpu_busy:.0%}, "
            f"sustained {verdict}"
        )


def check_alive(procs: Processes) -> None:
    for name, proc in procs.running:
        if proc.poll() is not None:
            raise RuntimeError(f"{name} exited ({proc.returncode}); see its log")


def drain(bench: Bench, backlog: Backlog, acked: list[int], timeout: float, label: str) -> bool:
    """Wait until the backlog is 0 and every acknowledged order is registered in the ERP."""
    started = time.monotonic()
    reported = started
    ids = [str(i) for i in acked]
    while True:
        check_alive(bench.procs)
        waiting, registered = backlog.now(), backlog.registered(ids)
        if waiting == 0 and registered >= len(ids):
            return True
        now = time.monotonic()
        if now - started > timeout:
            log(f"{label}drain timed out: backlog {waiting}, {len(ids) - registered} unregistered")
            return False
        if now - reported >= 15:
            reported = now
            log(f"{label}draining: backlog {waiting}, {registered}/{len(ids)} registered")
        time.sleep(0.5)


def latencies(db_url: str, deliveries: list[Delivery]) -> list[float]:
    registered = dict(
        psql(
            db_url,
            "SELECT external_id, erp_registered_at FROM orders_order "
            "WHERE source_system = %s AND external_id = ANY(%s) AND erp_registered_at IS NOT NULL",
            (SOURCE_SYSTEM, [str(d.order_id) for d in deliveries]),
        )
    )
    out = []
    for d in deliveries:
        if d.ok:
            at = registered.get(str(d.order_id))
            out.append((at.timestamp() - d.sent) * 1000 if at else math.inf)
    return out


def run_step(
    bench: Bench, backlog: Backlog, port: int, rate: float, ids: list[int], drain_timeout: float
) -> Step:
    requests = {i: raw_request(HOOK_PATH, f"127.0.0.1:{port}", i, close=True) for i in ids}
    offered = asyncio.run(offer(port, rate, requests, backlog))
    acked = [d.order_id for d in offered.deliveries if d.ok]
    drained = drain(bench, backlog, acked, drain_timeout, f"rate {rate:g}/s: ")
    step = Step(rate, offered, drained, latencies(bench.db_url, offered.deliveries))
    step.judge()
    return step


# --- the final check -----------------------------------------------------------------------------
@dataclass
class Check:
    lost: int  # acknowledged, but without its Order, ERP reference, processed event or sales order
    duplicated: int  # more than one of any of those, or one for an id never posted
    mismatched: int  # the Order's ERP reference is not the sales order the ERP holds for it


def erp_sales_orders(erp_url: str) -> dict[str, list[str]]:
    """External ref → the ERP's sales-order ids for it (the simulator lists every one)."""
    with urllib.request.urlopen(f"{erp_url}/_sim/sales-orders", timeout=120) as response:
        listed = json.load(response)
    by_ref: dict[str, list[str]] = {}
    for sales_order in listed:
        by_ref.setdefault(sales_order["external_ref"], []).append(sales_order["id"])
    return by_ref


def final_check(db_url: str, erp_url: str, posted: set[int], acked: set[int]) -> Check:
    orders = {
        external_id: (n, refs)
        for external_id, n, refs in psql(
            db_url,
            "SELECT external_id, count(*), array_agg(erp_reference) FROM orders_order "
            "WHERE source_system = %s GROUP BY external_id",
            (SOURCE_SYSTEM,),
        )
    }
    processed = dict(
        psql(
            db_url,
            "SELECT e.resource_id, count(*) FROM integrations_inboundevent e "
            "JOIN integrations_connection c ON c.id = e.connection_id "
            "WHERE c.slug = %s AND e.status = 'processed' GROUP BY e.resource_id",
            (SLUG,),
        )
    )
    erp: dict[str, list[str]] = {}
    strays = 0  # sales orders for no posted order
    for ref, ids in erp_sales_orders(erp_url).items():
        number = ref.removeprefix(f"{CHANNEL}-")
        if ref.startswith(DIRECT_PREFIX):
            continue
        if ref.startswith(f"{CHANNEL}-") and number.isdigit() and int(number) in posted:
            erp[number] = ids
        else:
            strays += len(ids)
    lost = duplicated = mismatched = 0
    for order_id in sorted(posted):
        key = str(order_id)
        n, refs = orders.get(key, (0, []))
        erp_ids = erp.get(key, [])
        if order_id in acked and not (n and processed.get(key) and erp_ids and all(refs)):
            lost += 1
        if n > 1 or processed.get(key, 0) > 1 or len(erp_ids) > 1:
            duplicated += 1
        if n == 1 and len(erp_ids) == 1 and refs[0] and refs != erp_ids:
            mismatched += 1
    duplicated += strays + sum(1 for k in orders if not (k.isdigit() and int(k) in posted))
    log(
        f"check: {len(posted)} orders posted, {len(acked)} acknowledged; {len(orders)} Orders, "
        f"{sum(processed.values())} processed events, {sum(map(len, erp.values()))} ERP sales "
        f"orders (+{strays} for no posted order); lost {lost}, duplicated {duplicated}, "
        f"ERP reference mismatched {mismatched}"
    )
    return Check(lost, duplicated, mismatched)


# --- the run -------------------------------------------------------------------------------------
def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description="End-to-end benchmark (see module doc).")
    parser.add_argument(
        "--rates",
        type=lambda v: [float(r) for r in v.split(",") if r.strip()],
        default=[25.0, 50.0, 75.0, 100.0, 125.0, 150.0, 200.0],
        help="orders per second, one step each (25,50,75,100,125,150,200)",
    )
    parser.add_argument("--step-s", type=float, default=30.0, help="seconds per step (30)")
    parser.add_argument("--web-workers", type=int, default=2, help="gunicorn sync workers (2)")
    parser.add_argument("--worker-concurrency", type=int, default=4, help="celery -c (4)")
    parser.add_argument(
        "--count-queries", type=int, default=50, help="orders for queries_per_order (50; 0: skip)"
    )
    parser.add_argument("--warmup", type=int, default=20, help="orders at 10/s first (20)")
    parser.add_argument("--drain-timeout", type=float, default=300.0, help="per step, s (300)")
    parser.add_argument("--keep", action="store_true", help="keep the database and logs")
    parser.add_argument(
        "--keep-climbing", action="store_true", help="run every rate, sustained or not"
    )
    parser.add_argument(
        "--mode", choices=["intake", "lifecycle", "both"], default="both", help="(both)"
    )
    parser.add_argument(
        "--lifecycle-rates",
        type=lambda v: [float(r) for r in v.split(",") if r.strip()],
        default=[10.0, 20.0, 30.0, 40.0, 50.0, 60.0],
        help="orders per second in lifecycle mode, one step each (10,20,30,40,50,60)",
    )
    parser.add_argument(
        "--inbox-drainers",
        type=int,
        default=2,
        help="CT_INBOX_DRAINERS for the lifecycle run (2: each order's four or five events "
        "from the gateway, WMS and ERP do not wait behind one drain's batch; 0: the "
        "settings' default)",
    )
    parser.add_argument("--erp-slug", default=ERP_SLUG, help=argparse.SUPPRESS)
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    """``--mode intake`` (the store's webhooks into the ERP), ``lifecycle`` (every order from
    checkout to posted, bench/lifecycle.py) or ``both``, one after the other on fresh databases:
    the intake figures first, the lifecycle ones last."""
    args = parse_args(argv)
    from controltower.engines import free_port

    status = 0
    if args.mode in ("intake", "both"):
        erp_port = free_port()
        seed = ("--erp-url", f"http://127.0.0.1:{erp_port}", "--erp-slug", ERP_SLUG)
        status |= run_bench(
            log,
            "e2e",
            lambda bench: run(args, bench, erp_port),
            keep=args.keep,
            seed_args=(*seed, "--erp-token", ERP_TOKEN),
        )
    if args.mode in ("lifecycle", "both"):
        from bench import lifecycle

        erp_port = free_port()
        ports = {name: free_port() for name in ("gateway", "wms", "ledger")}
        store = lifecycle.StoreSink()
        estate = {name: f"http://127.0.0.1:{port}" for name, port in ports.items()}
        estate["store"] = store.url
        seed = ("--erp-url", f"http://127.0.0.1:{erp_port}", "--erp-slug", args.erp_slug)
        status |= run_bench(
            lifecycle.log,
            "lifecycle",
            lambda bench: lifecycle.run(args, bench, erp_port, ERP_TOKEN, ports),
            keep=args.keep,
            seed_args=(*seed, "--erp-token", ERP_TOKEN, "--estate", json.dumps(estate)),
        )
        lifecycle.log(f"the store's side received {dict(store.calls)}")
        store.close()
    return status


def start_stack(
    args: argparse.Namespace, bench: Bench, erp_port: int
) -> tuple[dict[str, subprocess.Popen[bytes]], int]:
    """The ERP simulator, the web tier (front, gunicorn, daphne), a worker and beat; the
    processes by name and the front's port."""
    from controltower.engines import free_port
    from controltower.topology import web_processes

    py, work = sys.executable, bench.work
    argvs = {
        "erp-simulator": [
            *(py, "-m", "integrations.erp.simulator", "--port", str(erp_port)),
            *("--token", ERP_TOKEN, "--log-level", "WARNING"),
        ],
        **web_processes(
            py,
            port=(front_port := free_port()),
            gunicorn_port=free_port(),
            daphne_port=free_port(),
            workers=args.web_workers,
        ),
        "worker": celery_argv(bench.queue, args.worker_concurrency),
        "beat": [
            *(py, "-m", "celery", "-A", "controltower", "beat", "--loglevel=WARNING"),
            *("-s", str(work / "beat-schedule")),
        ],
    }
    started = {
        name: bench.procs.start(name, argv, bench.env, work / f"{name}.log")
        for name, argv in argvs.items()
    }
    erp_url = f"http://127.0.0.1:{erp_port}"
    wait_http(f"{erp_url}/_sim/health", started["erp-simulator"], work / "erp-simulator.log", 30)
    with urllib.request.urlopen(f"{erp_url}/_sim/faults", timeout=5) as response:
        faults = json.load(response)
    if any(faults.get(k) for k in ("latency_ms", "fail_next", "rate_limit_next", "timeout_next")):
        raise RuntimeError(f"the ERP simulator has faults planned: {faults}")
    front_url = f"http://127.0.0.1:{front_port}/accounts/login/"
    wait_http(front_url, started["front"], work / "front.log", 60)
    return started, front_port


def run(args: argparse.Namespace, bench: Bench, erp_port: int) -> int:
    _soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    with contextlib.suppress(ValueError, OSError):  # up to rate × 5 s connections open at once
        resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    stack, port = start_stack(args, bench, erp_port)
    erp_url = f"http://127.0.0.1:{erp_port}"
    log(f"up: front on {port}, {args.web_workers} web workers, worker -c {args.worker_concurrency}")
    created, failed, elapsed = asyncio.run(erp_direct(erp_port, DIRECT_S, DIRECT_CLIENTS))
    erp_rate = created / elapsed
    log(
        f"erp direct: {created} created, {failed} failed in {elapsed:.1f}s = {erp_rate:.0f}/s "
        f"({DIRECT_CLIENTS} clients, a new connection per call)"
    )
    backlog = Backlog(bench.db_url)
    ids = itertools.count(1)
    try:
        warm = run_step(
            bench, backlog, port, 10, [next(ids) for _ in range(args.warmup)], args.drain_timeout
        )
        log(f"warm-up {warm.line()}")
        if not warm.drained:
            raise RuntimeError("the warm-up orders did not reach the ERP; see the logs")
        steps = climb(args, bench, backlog, port, ids)
    finally:
        backlog.close()
    for name in ("beat", "worker", "front", "gunicorn", "daphne"):
        bench.procs.stop(stack[name])
    count = counted_queries(bench, args.count_queries, next(ids), log)
    every = [d for step in (warm, *steps) for d in step.offered.deliveries]
    check = final_check(
        bench.db_url,
        erp_url,
        {d.order_id for d in every} | set(count.get("posted", [])),
        {d.order_id for d in every if d.ok} | set(count.get("acked", [])),
    )
    sustained = max((s for s in steps if s.sustained), key=lambda s: s.rate, default=None)
    intake = sustained.rate if sustained else 0.0
    print(f"erp_direct_per_s: {erp_rate:.0f}")
    print(f"steps_run: {len(steps)}")
    print(f"intake_sustained_per_s: {intake:g}")
    print(f"ratio_vs_erp_direct: {intake / erp_rate if erp_rate else math.nan:.3f}")
    print(f"intake_erp_ack_p95_ms: {sustained.p(95) if sustained else math.nan:.0f}")
    print(f"queries_per_order: {count.get('per_order', math.nan):.1f}")
    print(f"lost: {check.lost}")
    print(f"duplicated: {check.duplicated}")
    return 0 if check.lost == 0 and check.duplicated == 0 and check.mismatched == 0 else 1


def climb(
    args: argparse.Namespace, bench: Bench, backlog: Backlog, port: int, ids: Any
) -> list[Step]:
    """The rate ladder: one step per rate until one is not sustained (or all of them)."""
    steps: list[Step] = []
    for rate in args.rates:
        step_ids = [next(ids) for _ in range(max(1, round(rate * args.step_s)))]
        step = run_step(bench, backlog, port, rate, step_ids, args.drain_timeout)
        log(step.line())
        steps.append(step)
        if not step.drained:
            log("the backlog did not drain: the next step would not start clean; stopping")
            break
        if not step.sustained and not args.keep_climbing:
            break
    return steps


if __name__ == "__main__":
    sys.exit(main())
