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
import os
import shutil
import signal
import sys
import time
from dataclasses import dataclass
from pathlib import Path

from bench.common import (
    HOOK_PATH,
    ROOT,
    SLUG,
    SOURCE_SYSTEM,
    Bench,
    Processes,
    celery_argv,
    cpu_times,
    make_log,
    psql,
    raw_request,
    run_bench,
    wait_http,
)

LUA = ROOT / "bench" / "wrk_ingest.lua"
OUR_PATH = HOOK_PATH
NAIVE_PATH = "/bench/naive-webhook/"
PING_PATH = "/bench/ping/"
FILLER_PATH = "/bench/filler/"

log = make_log("bench-ingest")


def write_requests(path: Path, requests: list[bytes]) -> Path:
    with path.open("wb") as out:
        for request in requests:
            out.write(b"%d\n" % len(request))
            out.write(request)
    return path


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
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    if shutil.which("wrk") is None:
        log("wrk is not installed: `make bench-ingest` installs it (apt-get install wrk)")
        return 2
    return run_bench(log, "ingest", lambda bench: run(args, bench), keep=args.keep, baseline=True)


def run(args: argparse.Namespace, bench: Bench) -> int:
    from controltower.engines import free_port

    procs, work, env, db_url = bench.procs, bench.work, bench.env, bench.db_url

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
        celery_argv(bench.queue, 2, "-B", "-s", str(work / "beat-schedule")),
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
            (SOURCE_SYSTEM,),
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
