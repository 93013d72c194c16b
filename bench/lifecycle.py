"""`make bench-e2e`'s lifecycle mode: every order from checkout to a posted journal entry.

Each order of a step is what a shop's checkout makes of it: the gateway confirms its payment
(``POST /_sim/checkout`` at the gateway simulator: a card payment captured at once) and the store
sends its signed ``order.created`` webhook. From there nothing is driven by the bench: the
gateway's signed webhook is confirmed and synced, the order is registered in the ERP, released to
the WMS (which picks, packs and ships at once and says so by webhook), the shipment confirmed to
the ERP (which invoices at once, by webhook), the posting gate met, the sales entry batched to the
ledger and booked — every step of docs/lifecycle.md, through the real topology (front, gunicorn,
daphne, one Celery worker, beat) and the four simulators over HTTP.

Per step of the rate ladder (``--lifecycle-rates``, ``--step-s`` each): orders are offered on an
absolute schedule (late ones at once); the backlog (inbound events pending/processing + outbound
messages pending/in flight + journal entries queued/sent) is sampled every second; then the bench
waits until the backlog is 0 and every acknowledged order is posted, and reads each order's
``posted_at``: webhook sent → posted, on this machine's clock. A step is **sustained** when every
delivery was answered, the backlog did not grow (slope over the step's second half ≤ max(1/s, 2 %
of the rate)), every order was posted and the p95 is under 10 s.

``lifecycle_queries_per_order``: every process runs with ``CT_COUNT_QUERIES=1``
(``controltower/core/querycount.py``), which adds each process's SQL statements to one Redis
counter; the counter's growth over the steps divided by the orders posted in them.

The check: every order posted must have exactly one Order, one captured Payment, one journal
entry posted with the ledger's id, exactly one entry in the ledger simulator, one sales order in
the ERP, one release in the WMS. Prints last: lifecycle_sustained_per_s,
lifecycle_posted_p95_ms, lifecycle_queries_per_order, lost, duplicated.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import json
import math
import os
import subprocess
import sys
import time
import urllib.request
import uuid
from collections import Counter
from dataclasses import dataclass, field
from datetime import date
from typing import Any

from bench.common import (
    CHANNEL,
    HOOK_PATH,
    SOURCE_SYSTEM,
    Bench,
    celery_argv,
    cpu_times,
    make_log,
    psql,
    raw_request,
    wait_http,
    woo_order,
)
from bench.e2e import exchange, percentile, slope

log = make_log("bench-lifecycle")

GATEWAY_SLUG, WMS_SLUG, LEDGER_SLUG = "gw-bench", "wms-bench", "ledger-bench"
GATEWAY_KEY, WMS_TOKEN, LEDGER_TOKEN = "sk_test_bench", "bench-wms-token", "bench-ledger-token"
HOOK_SECRETS = {"payments": "bench-gw-hook", "wms": "bench-wms-hook", "erp": "bench-erp-hook"}
QUERIES_KEY = "ct:bench:queries"  # controltower.core.querycount.REDIS_KEY
DELIVERY_TIMEOUT_S = 5.0
TARGET_P95_MS = 10_000.0
BACKLOG_SQL = (
    "SELECT (SELECT count(*) FROM integrations_inboundevent"
    " WHERE status IN ('pending', 'processing'))"
    " + (SELECT count(*) FROM integrations_outboundmessage"
    " WHERE status IN ('pending', 'in_flight'))"
    " + (SELECT count(*) FROM finance_journalentry WHERE state IN ('draft', 'sent'))"
)


# --- the estate: seeded connections, accounts, the simulators ----------------------------------
def seed_estate(urls: dict[str, str], erp_slug: str) -> None:
    """In the seeding child (django set up): the gateway, WMS and ledger connections, the ERP's
    webhook secret, the card payment method, GL accounts and mappings, this year's period."""
    from controltower.catalog.choices import CaptureMode, SystemKind
    from controltower.catalog.models import PaymentMethod
    from controltower.finance.choices import AccountType, PostingEvent
    from controltower.finance.models import FiscalPeriod, GLAccount, GLMapping
    from integrations.runtime.models import Connection

    specs = (
        (GATEWAY_SLUG, SystemKind.PAYMENTS, urls["gateway"],
         {"secret_key": GATEWAY_KEY, "webhook_secret": HOOK_SECRETS["payments"]}),
        (WMS_SLUG, SystemKind.WMS, urls["wms"],
         {"token": WMS_TOKEN, "warehouse": "main", "webhook_secret": HOOK_SECRETS["wms"]}),
        (LEDGER_SLUG, SystemKind.FINANCE, urls["ledger"], {"token": LEDGER_TOKEN}),
    )  # fmt: skip
    for slug, kind, base_url, credentials in specs:
        connection = Connection(
            slug=slug,
            name=f"Bench {kind.label}",
            kind=kind,
            base_url=base_url,
            rate_limit_per_s=100_000,
            timeout_s=10,
        )
        connection.set_credentials(credentials)
        connection.save()
    store = Connection.objects.get(kind=SystemKind.WOOCOMMERCE)
    store.base_url, store.rate_limit_per_s = urls["store"], 100_000
    store.set_credentials({**store.credentials, "consumer_key": "ck_b", "consumer_secret": "cs_b"})
    store.save()
    erp = Connection.objects.get(slug=erp_slug)
    erp.set_credentials({**erp.credentials, "webhook_secret": HOOK_SECRETS["erp"]})
    erp.save()
    PaymentMethod.objects.create(code="stripe", name="Card", capture_mode=CaptureMode.AT_CHECKOUT)
    chart = {
        PostingEvent.GROSS_SALES: ("4000", AccountType.REVENUE),
        PostingEvent.DISCOUNTS: ("4100", AccountType.REVENUE),
        PostingEvent.SHIPPING_REVENUE: ("4200", AccountType.REVENUE),
        PostingEvent.TAX_PAYABLE: ("2100", AccountType.LIABILITY),
        PostingEvent.PAYMENT_CLEARING: ("1100", AccountType.ASSET),
        PostingEvent.GATEWAY_FEES: ("6100", AccountType.EXPENSE),
    }
    for event, (code, kind) in chart.items():
        account = GLAccount.objects.create(code=code, name=f"Bench {code}", type=kind)
        GLMapping.objects.create(event=event, account=account)
    year = date.today().year
    FiscalPeriod.objects.create(starts_on=date(year, 1, 1), ends_on=date(year, 12, 31))


def simulator_argvs(ports: dict[str, int], erp_port: int, erp_token: str) -> dict[str, list[str]]:
    py = sys.executable
    quiet = ("--log-level", "WARNING")
    return {
        "erp-simulator": [
            *(py, "-m", "integrations.erp.simulator", "--port", str(erp_port)),
            *("--token", erp_token, "--invoice-after", "0", *quiet),
        ],
        "gateway-simulator": [
            *(py, "-m", "integrations.payments.simulator", "--port", str(ports["gateway"])),
            *("--secret-key", GATEWAY_KEY, *quiet),
        ],
        "wms-simulator": [
            *(py, "-m", "integrations.wms.simulator", "--port", str(ports["wms"])),
            *("--token", WMS_TOKEN, *quiet),
        ],
        "ledger-simulator": [
            *(py, "-m", "integrations.ledger.simulator", "--port", str(ports["ledger"])),
            *("--token", LEDGER_TOKEN, *quiet),
        ],
    }


def post_json(url: str, body: Any) -> Any:
    request = urllib.request.Request(
        url, data=json.dumps(body).encode(), headers={"Content-Type": "application/json"}
    )
    with urllib.request.urlopen(request, timeout=30) as response:
        raw = response.read()
    return json.loads(raw) if raw else None


def get_json(url: str, token: str = "") -> Any:
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    with urllib.request.urlopen(urllib.request.Request(url, headers=headers), timeout=120) as r:
        return json.load(r)


def wire_webhooks(sims: dict[str, str], front: str, erp_slug: str) -> None:
    """Each simulator's signed events → our receiver; the WMS ships at once, in one parcel."""
    for name, kind, slug in (
        ("gateway", "payments", GATEWAY_SLUG),
        ("wms", "wms", WMS_SLUG),
        ("erp", "erp", erp_slug),
    ):
        post_json(
            f"{sims[name]}/_sim/webhook_endpoints",
            {"url": f"{front}/hooks/{kind}/{slug}/", "secret": HOOK_SECRETS[kind]},
        )
    post_json(
        f"{sims['wms']}/_sim/config",
        {"pick_after_s": 0, "pack_after_s": 0, "ship_after_s": 0, "split_shipments": False},
    )


class StoreSink:
    """Where the store's side of the lifecycle lands: the bench's orders exist in no shop, so
    ``PUT /orders/<id>`` (completed) and the tracking notes go to this small server, which
    answers as WooCommerce does (the order, ``[]`` for notes, the created note) and counts."""

    def __init__(self) -> None:
        import http.server
        import re
        import threading

        sink = self
        self.calls = Counter[str]()

        class Handler(http.server.BaseHTTPRequestHandler):
            def _answer(self, status: int, body: Any) -> None:
                raw = json.dumps(body).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(raw)))
                self.end_headers()
                self.wfile.write(raw)

            def _read(self) -> Any:
                length = int(self.headers.get("Content-Length") or 0)
                return json.loads(self.rfile.read(length) or b"{}")

            def do_GET(self) -> None:
                sink.calls["GET"] += 1
                self._answer(200, [])

            def do_PUT(self) -> None:
                sink.calls["PUT"] += 1
                match = re.search(r"/orders/(\d+)", self.path)
                self._answer(200, {"id": int(match[1]) if match else 0, **self._read()})

            def do_POST(self) -> None:
                sink.calls["POST"] += 1
                self._answer(201, {"id": sink.calls["POST"], **self._read()})

            def log_message(self, *args: Any) -> None:
                pass

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def close(self) -> None:
        self.server.shutdown()


# --- offering orders -----------------------------------------------------------------------------
def checkout_request(port: int, order_id: int) -> bytes:
    order = woo_order(order_id)
    body = json.dumps(
        {
            "order_ref": f"{CHANNEL}-{order['number']}",
            "correlation_id": str(uuid.uuid4()),
            "amount": round(float(order["total"]) * 100),
            "currency": order["currency"].lower(),
            "capture_method": "automatic",
        }
    ).encode()
    head = (
        "POST /_sim/checkout HTTP/1.1\r\n"
        f"Host: 127.0.0.1:{port}\r\n"
        "Content-Type: application/json\r\n"
        f"Content-Length: {len(body)}\r\n"
        "Connection: close\r\n\r\n"
    )
    return head.encode() + body


@dataclass
class Offer:
    order_id: int
    sent: float = 0.0
    paid: int = 0  # the checkout's status at the gateway
    status: int = 0  # the store's webhook delivery

    @property
    def ok(self) -> bool:
        return 200 <= self.status < 300 and 200 <= self.paid < 300


@dataclass
class Step:
    rate: float
    offers: list[Offer]
    samples: list[tuple[float, int]]
    cpu_busy: float
    max_lag_ms: float
    drained: bool = False
    latencies_ms: list[float] = field(default_factory=list)
    queries: int = 0
    reasons: list[str] = field(default_factory=list)
    cpu_s: dict[str, float] = field(default_factory=dict)  # by process group, over the step

    def cpu_ms_per_order(self, *groups: str) -> float:
        """CPU ms per acknowledged order of the named groups (all of them when none named)."""
        spent = sum(t for g, t in self.cpu_s.items() if not groups or g in groups)
        return spent * 1000 / max(1, len(self.acked))

    @property
    def acked(self) -> list[Offer]:
        return [o for o in self.offers if o.ok]

    def p(self, pct: float) -> float:
        return percentile(self.latencies_ms, pct)

    def judge(self) -> None:
        half = [s for s in self.samples if s[0] >= self.samples[-1][0] / 2]
        growth = slope(half)
        unacked = len(self.offers) - len(self.acked)
        unposted = sum(1 for v in self.latencies_ms if math.isinf(v))
        for failed, reason in (
            (unacked > 0, f"{unacked} orders not acknowledged"),
            (growth > max(1.0, 0.02 * self.rate), f"backlog grew {growth:+.1f}/s"),
            (not self.drained, "did not drain in time"),
            (unposted > 0, f"{unposted} orders not posted"),
            (not self.p(95) < TARGET_P95_MS, f"p95 {self.p(95):.0f} ms"),
        ):
            if failed:
                self.reasons.append(reason)

    def line(self) -> str:
        verdict = "yes" if not self.reasons else f"no ({'; '.join(self.reasons)})"
        s = self.samples
        per_order = self.queries / max(1, len(self.acked))
        return (
            f"lifecycle {self.rate:g}/s: sent {len(self.offers)}, acked {len(self.acked)}, "
            f"max lag {self.max_lag_ms:.0f} ms, backlog {s[0][1]}/{s[len(s) // 2][1]}/{s[-1][1]}, "
            f"sent→posted p50 {self.p(50):.0f} p95 {self.p(95):.0f} p99 {self.p(99):.0f} ms, "
            f"{per_order:.0f} queries/order, cpu {self.cpu_busy:.0%}, sustained {verdict}"
        )


async def offer(
    front: int, gateway: int, rate: float, ids: list[int], backlog: Any
) -> tuple[list[Offer], list[tuple[float, int]], float, float]:
    loop = asyncio.get_running_loop()
    offers = [Offer(i) for i in ids]
    t0 = loop.time() + 0.05
    lags: list[float] = []
    samples: list[tuple[float, int]] = []

    async def one(item: Offer, due: float) -> None:
        lags.append(loop.time() - due)
        item.sent = time.time()
        item.paid = await exchange(gateway, checkout_request(gateway, item.order_id), 10.0)
        woo = raw_request(HOOK_PATH, f"127.0.0.1:{front}", item.order_id, close=True)
        item.status = await exchange(front, woo, DELIVERY_TIMEOUT_S)

    async def sample(until: float) -> None:
        for k in itertools.count():
            if t0 + k > until:
                return
            await asyncio.sleep(max(0.0, t0 + k - loop.time()))
            samples.append((loop.time() - t0, await asyncio.to_thread(backlog.now)))

    busy0, total0 = cpu_times()
    sampler = asyncio.create_task(sample(t0 + len(offers) / rate))
    tasks = []
    for i, item in enumerate(offers):
        due = t0 + i / rate
        if due > loop.time():
            await asyncio.sleep(due - loop.time())
        tasks.append(asyncio.create_task(one(item, due)))
    await asyncio.gather(*tasks, sampler)
    busy1, total1 = cpu_times()
    cpu = (busy1 - busy0) / max(1, total1 - total0)
    return offers, samples or [(0.0, backlog.now())], cpu, max(lags, default=0.0) * 1000


class Backlog:
    def __init__(self, db_url: str) -> None:
        import psycopg

        self.conn = psycopg.connect(db_url, autocommit=True)

    def now(self) -> int:
        row = self.conn.execute(BACKLOG_SQL).fetchone()
        return int(row[0]) if row else 0

    def posted(self, ids: list[str]) -> int:
        row = self.conn.execute(
            "SELECT count(*) FROM orders_order WHERE source_system = %s "
            "AND external_id = ANY(%s) AND posted_at IS NOT NULL",
            (SOURCE_SYSTEM, ids),
        ).fetchone()
        return int(row[0]) if row else 0


def drain(backlog: Backlog, acked: list[int], timeout: float, label: str) -> bool:
    started = reported = time.monotonic()
    ids = [str(i) for i in acked]
    while True:
        waiting, posted = backlog.now(), backlog.posted(ids)
        if waiting == 0 and posted >= len(ids):
            return True
        now = time.monotonic()
        if now - started > timeout:
            log(f"{label}drain timed out: backlog {waiting}, {len(ids) - posted} not posted")
            return False
        if now - reported >= 15:
            reported = now
            log(f"{label}draining: backlog {waiting}, {posted}/{len(ids)} posted")
        time.sleep(0.5)


def posted_latencies(db_url: str, offers: list[Offer]) -> list[float]:
    posted = dict(
        psql(
            db_url,
            "SELECT external_id, posted_at FROM orders_order WHERE source_system = %s "
            "AND external_id = ANY(%s) AND posted_at IS NOT NULL",
            (SOURCE_SYSTEM, [str(o.order_id) for o in offers]),
        )
    )
    return [
        ((posted[str(o.order_id)].timestamp() - o.sent) * 1000)
        if str(o.order_id) in posted
        else math.inf
        for o in offers
        if o.ok
    ]


def queries_counted(redis_url: str) -> int:
    """The statements every process counted so far (controltower/core/querycount.py)."""
    import redis

    return int(redis.Redis.from_url(redis_url).get(QUERIES_KEY) or 0)


def run_step(
    bench: Bench, backlog: Backlog, ports: tuple[int, int], rate: float, ids: list[int], wait: float
) -> Step:
    before = queries_counted(bench.redis_url)
    cpu_before = cpu_by_group(bench)
    offers, samples, cpu, lag = asyncio.run(offer(*ports, rate, ids, backlog))
    step = Step(rate, offers, samples, cpu, lag)
    step.drained = drain(backlog, [o.order_id for o in step.acked], wait, f"{rate:g}/s: ")
    time.sleep(1.0)  # the last task's statements are flushed as it ends
    cpu_after = cpu_by_group(bench)
    step.cpu_s = {g: cpu_after[g] - cpu_before.get(g, 0.0) for g in cpu_after}
    step.queries = queries_counted(bench.redis_url) - before
    step.latencies_ms = posted_latencies(bench.db_url, offers)
    step.judge()
    return step


# --- the check -----------------------------------------------------------------------------------
@dataclass
class Check:
    lost: int
    duplicated: int


def final_check(bench: Bench, sims: dict[str, str], erp_token: str, acked: set[int]) -> Check:
    rows = psql(
        bench.db_url,
        "SELECT o.external_id, count(DISTINCT o.id), count(DISTINCT p.id), "
        "count(DISTINCT j.id) FILTER (WHERE j.state = 'posted' AND j.ledger_id <> ''), "
        "count(DISTINCT j.id) "
        "FROM orders_order o LEFT JOIN payments_payment p ON p.order_id = o.id "
        "LEFT JOIN finance_journalentry j ON j.order_id = o.id "
        "WHERE o.source_system = %s GROUP BY o.external_id",
        (SOURCE_SYSTEM,),
    )
    ours = {external: (n, pay, posted, entries) for external, n, pay, posted, entries in rows}
    ledger = Counter[str]()
    for entry in get_json(f"{sims['ledger']}/api/v1/entries", LEDGER_TOKEN)["results"]:
        order = (entry.get("lines") or [{}])[0].get("dimensions", {}).get("order", "")
        ledger[order.removeprefix(f"{CHANNEL}-")] += 1
    erp = Counter[str](
        so["external_ref"].removeprefix(f"{CHANNEL}-")
        for so in get_json(f"{sims['erp']}/_sim/sales-orders")
    )
    wms = Counter[str](
        str(release.get("external_ref", "")).removeprefix(f"{CHANNEL}-")
        for release in _listed(get_json(f"{sims['wms']}/_sim/releases"))
    )
    lost = duplicated = 0
    for order_id in sorted(acked):
        key = str(order_id)
        n, pay, posted, entries = ours.get(key, (0, 0, 0, 0))
        if not (n == 1 and pay >= 1 and posted == 1 and ledger[key] >= 1 and erp[key] >= 1):
            lost += 1
        if n > 1 or pay > 1 or entries > 1 or ledger[key] > 1 or erp[key] > 1 or wms[key] > 1:
            duplicated += 1
    log(
        f"check: {len(acked)} orders acknowledged; {len(ours)} Orders, "
        f"{sum(ledger.values())} ledger entries, {sum(erp.values())} ERP sales orders, "
        f"{sum(wms.values())} WMS releases; lost {lost}, duplicated {duplicated}"
    )
    return Check(lost, duplicated)


def cpu_by_process(bench: Bench) -> dict[str, float]:
    """CPU seconds each child (with its own children) used so far; PostgreSQL's backends are
    not our children and are left out."""
    import psutil

    used: dict[str, float] = {}
    for name, proc in bench.procs.running:
        with contextlib.suppress(psutil.Error):
            root = psutil.Process(proc.pid)
            total = 0.0
            for each in [root, *root.children(recursive=True)]:
                with contextlib.suppress(psutil.Error):
                    times = each.cpu_times()
                    total += times.user + times.system
            used[name] = total
    return used


GROUPS = {  # process → group, for the CPU each step costs per order
    "worker": "worker",
    "front": "web",
    "gunicorn": "web",
    "daphne": "web",
    "beat": "beat",
}


def cpu_by_group(bench: Bench) -> dict[str, float]:
    """CPU seconds so far by group: ``worker``, ``web`` (front, gunicorn, daphne), ``beat``,
    ``simulators``, ``postgres`` (every ``postgres`` process of the machine: the bench's
    database is the only busy one) and ``bench`` (this process: the offering loop and the
    store's sink)."""
    import psutil

    groups: dict[str, float] = dict.fromkeys(
        ("worker", "web", "beat", "simulators", "postgres", "bench"), 0.0
    )
    for name, seconds in cpu_by_process(bench).items():
        groups[GROUPS.get(name, "simulators")] += seconds
    for proc in psutil.process_iter(["name"]):
        if proc.info["name"] == "postgres":
            with contextlib.suppress(psutil.Error):
                times = proc.cpu_times()
                groups["postgres"] += times.user + times.system
    own = os.times()
    groups["bench"] = own.user + own.system
    return groups


def _listed(payload: Any) -> list[dict[str, Any]]:
    return payload.get("results", []) if isinstance(payload, dict) else list(payload)


# --- the run -------------------------------------------------------------------------------------
def run(args: Any, bench: Bench, erp_port: int, erp_token: str, ports: dict[str, int]) -> int:
    import redis

    from controltower.engines import free_port
    from controltower.topology import web_processes

    py, work = sys.executable, bench.work
    env = {**bench.env, "CT_COUNT_QUERIES": "1"}
    if getattr(args, "inbox_drainers", 0):  # two drains keep the gateway's, WMS and ERP events
        env["CT_INBOX_DRAINERS"] = str(args.inbox_drainers)  # from waiting behind one batch
    argvs = {
        **simulator_argvs(ports, erp_port, erp_token),
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
    started: dict[str, subprocess.Popen[bytes]] = {
        name: bench.procs.start(name, argv, env, work / f"{name}.log")
        for name, argv in argvs.items()
    }
    sims = {name: f"http://127.0.0.1:{port}" for name, port in {**ports, "erp": erp_port}.items()}
    for name in ("erp", "gateway", "wms", "ledger"):
        proc_name = f"{name}-simulator"
        wait_http(f"{sims[name]}/_sim/health", started[proc_name], work / f"{proc_name}.log", 30)
    front = f"http://127.0.0.1:{front_port}"
    wait_http(f"{front}/accounts/login/", started["front"], work / "front.log", 60)
    wire_webhooks(sims, front, args.erp_slug)
    redis.Redis.from_url(bench.redis_url).delete(QUERIES_KEY)
    drainers = env.get("CT_INBOX_DRAINERS", "default")
    log(
        f"up: front on {front_port}, worker -c {args.worker_concurrency}, "
        f"inbox drainers {drainers}, four simulators"
    )
    backlog = Backlog(bench.db_url)
    ids = itertools.count(1)
    steps: list[Step] = []
    try:
        pair = (front_port, ports["gateway"])
        warm = run_step(bench, backlog, pair, 5, [next(ids) for _ in range(10)], args.drain_timeout)
        log(f"warm-up {warm.line()}")
        if not warm.drained:
            raise RuntimeError("the warm-up orders were not posted; see the logs in " + str(work))
        for rate in args.lifecycle_rates:
            step_ids = [next(ids) for _ in range(max(1, round(rate * args.step_s)))]
            step = run_step(bench, backlog, pair, rate, step_ids, args.drain_timeout)
            log(step.line())
            steps.append(step)
            if not step.drained or (step.reasons and not args.keep_climbing):
                break
    finally:
        backlog.conn.close()
    spent = sorted(cpu_by_process(bench).items(), key=lambda item: -item[1])
    log("cpu seconds by process: " + ", ".join(f"{n} {t:.1f}" for n, t in spent))
    acked = {o.order_id for s in (warm, *steps) for o in s.acked}
    check = final_check(bench, sims, erp_token, acked)
    sustained = max((s for s in steps if not s.reasons), key=lambda s: s.rate, default=None)
    counted = [s for s in steps if s.drained]
    per_order = sum(s.queries for s in counted) / max(1, sum(len(s.acked) for s in counted))
    if sustained is not None:
        log(
            "cpu ms per order at the sustained step, by group: "
            + ", ".join(f"{g} {sustained.cpu_ms_per_order(g):.1f}" for g in sustained.cpu_s)
        )
        outside = sustained.cpu_ms_per_order("web", "beat", "simulators", "bench")
        print(f"lifecycle_cpu_ms_per_order: {sustained.cpu_ms_per_order():.1f}")
        print(f"lifecycle_cpu_ms_per_order_outside_worker_and_db: {outside:.1f}")
        # The rate at which what is neither the worker nor PostgreSQL alone fills the machine.
        print(f"lifecycle_ceiling_per_s: {(os.cpu_count() or 1) * 1000 / max(outside, 1e-9):.1f}")
    print(f"lifecycle_steps_run: {len(steps)}")
    print(f"lifecycle_sustained_per_s: {sustained.rate if sustained else 0:g}")
    print(f"lifecycle_posted_p95_ms: {sustained.p(95) if sustained else math.nan:.0f}")
    print(f"lifecycle_queries_per_order: {per_order:.1f}")
    print(f"lost: {check.lost}")
    print(f"duplicated: {check.duplicated}")
    return 0 if check.lost == 0 and check.duplicated == 0 else 1
