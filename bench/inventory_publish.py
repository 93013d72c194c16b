"""``make bench-inventory``'s publish step: one warehouse stock event → the storefront's figure.

What a shopper sees must follow the shelf within a second (issue 18: p95 < 1 s) while stock
moves all the time. This step runs the real path end to end, over HTTP, with the web tier and
the worker ``bench/inventory.py`` started:

    WMS simulator POST /_sim/stock/adjust ──signed inventory.adjusted──▶ front /hooks/wms/<slug>/
    ──▶ inbox ──▶ worker: stock position, ATS, StockPublication pending
    ──▶ woocommerce.publish_stock (coalesced per channel) ──▶ outbox
    ──▶ WooCommerce simulator POST /products/batch

Set-up: the WooCommerce simulator with :data:`PRODUCTS` simple products (stock managed, 0 on the
shelf of the shop), pulled into Control Tower by the real product pull
(``integrations.woocommerce.products.pull_products``, in a child process: SKUs and cross
references exactly as the connector files them); a warehouse location with an allocation rule
of the bench's WooCommerce channel (100 %, no safety stock, so the shop shows what the warehouse
counts); the ``woo-bench`` Connection pointed at the shop with its REST keys (its default rate
limit kept, as in production); a WMS Connection with its webhook secret, and the WMS
simulator's webhook endpoint at the front.

The load: ``rate`` adjustments a second for ``seconds``, each on a random SKU that has no
adjustment still on its way (so every adjustment has a figure of its own to be seen: two moves
of one SKU in one publish round would be one update, and the first never shown), ±1–5 units.
Each is timed from just before its ``POST /_sim/stock/adjust`` to the moment the shop took the
new ``stock_quantity``, read from the shop's own record of stock changes
(``GET /_sim/stock-changes?after=<seq>``, polled every :data:`POLL_S`), not by reading products.
An adjustment not seen within :data:`SETTLE_S` after the last one is sent is *lost*.

Baseline in the same run, for the same adjustments: the webhook round trip alone (sent → the
inbox row committed, ``received_at``); the ratio of the publish p95 to it is what the rest of the
path costs. That rest is split in two at the event applied (``processed_at``): sent → applied
(the inbox's wait and the apply) and applied → shown (coalescing, the publish task, the outbox).
"""

from __future__ import annotations

import argparse
import json
import math
import random
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from bench.common import CHANNEL, ROOT, SLUG, Bench, make_log, psql, wait_http
from bench.e2e import percentile

log = make_log("bench-inventory")

PRODUCTS = 2000  # simple products in the shop, one SKU each
SECONDS, RATE = 30.0, 20.0  # make bench-inventory's load: 600 adjustments, 20 a second
FIRST_PRODUCT_ID = 20_001
ON_HAND = 40  # each SKU's count in the warehouse before the first adjustment
WOO_KEY, WOO_SECRET = "ck_publish_bench", "cs_publish_bench"
WMS_SLUG = "wms-publish-bench"
WMS_TOKEN = "bench-publish-wms"
WMS_HOOK_SECRET = "bench-publish-wms-hook"
LOCATION = "publish-wh"
WARM_UP = 10  # adjustments before the measured ones, not counted
POLL_S = 0.02
SETTLE_S = 30.0
SENDERS = 8  # threads posting adjustments: a slow answer never delays the next one's start


def sku_code(n: int) -> str:
    return f"PUB-{n:05d}"


# --- set-up --------------------------------------------------------------------------------------
def catalog(products: int) -> list[dict[str, Any]]:
    """The shop's products: simple, stock managed, none on the shop's shelf yet."""
    return [
        {
            "sku": sku_code(n),
            "name": f"Publish bench product {n}",
            "price": "19.95",
            "product_id": FIRST_PRODUCT_ID + n - 1,
            "stock_quantity": 0,
        }
        for n in range(1, products + 1)
    ]


def seed_child(woo_url: str, wms_url: str) -> dict[str, Any]:
    """In a child with the bench database: the connections, the location and its rule, and the
    real product pull from the shop."""
    import django

    django.setup()
    from controltower.catalog.choices import LocationType, SystemKind
    from controltower.catalog.models import Channel, Location, SKUCrossReference
    from controltower.core.context import acting_as
    from controltower.inventory.models import ChannelAllocationRule
    from integrations.runtime.models import Connection
    from integrations.woocommerce.products import pull_products

    store = Connection.objects.get(slug=SLUG)
    store.base_url = woo_url
    store.set_credentials(
        {**store.credentials, "consumer_key": WOO_KEY, "consumer_secret": WOO_SECRET}
    )
    store.save()
    wms = Connection(
        slug=WMS_SLUG, name="Publish bench WMS (simulator)", kind=SystemKind.WMS, base_url=wms_url
    )
    wms.set_credentials(
        {"token": WMS_TOKEN, "warehouse": "main", "webhook_secret": WMS_HOOK_SECRET}
    )
    wms.save()
    location = Location.objects.create(
        code=LOCATION, name="Publish bench warehouse", type=LocationType.WAREHOUSE
    )
    ChannelAllocationRule.objects.create(
        channel=Channel.objects.get(code=CHANNEL),
        location=location,
        percent=100,
        safety_stock=0,
    )
    with acting_as("sync.woocommerce"):
        run = pull_products(store)
    references = SKUCrossReference.objects.filter(
        system=SystemKind.WOOCOMMERCE, source_system=f"woocommerce:{SLUG}"
    ).count()
    return {"status": run.status, "counts": run.counts, "error": run.error, "refs": references}


def seed(bench: Bench, woo_url: str, wms_url: str, products: int) -> None:
    started = time.monotonic()
    done = subprocess.run(
        [
            *(sys.executable, "-m", "bench.inventory_publish", "--child", "seed"),
            *("--woo-url", woo_url, "--wms-url", wms_url),
        ],
        cwd=ROOT,
        env=bench.env,
        capture_output=True,
        text=True,
        check=False,
    )
    lines = [line for line in done.stdout.splitlines() if line.startswith("RESULT ")]
    if done.returncode or not lines:
        raise RuntimeError(f"the publish bench's seeding child failed:\n{done.stderr[-3000:]}")
    pulled = json.loads(lines[-1].removeprefix("RESULT "))
    if pulled["status"] != "succeeded" or pulled["refs"] < products:
        raise RuntimeError(
            f"the product pull filed {pulled['refs']} of {products} cross references "
            f"({pulled['status']}): {pulled['error'][:2000]}"
        )
    log(
        f"publish: {products} products pulled from the shop ({pulled['counts']}) in "
        f"{time.monotonic() - started:.1f}s"
    )


def post_json(url: str, body: Any, *, timeout: float = 30) -> tuple[int, Any]:
    request = urllib.request.Request(
        url, data=json.dumps(body).encode(), headers={"Content-Type": "application/json"}
    )
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:
            return response.status, json.loads(response.read() or b"null")
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read()[:500].decode(errors="replace")


def get_json(url: str) -> Any:
    with urllib.request.urlopen(url, timeout=30) as response:
        return json.load(response)


# --- the load ------------------------------------------------------------------------------------
@dataclass
class Adjustment:
    sku: str
    delta: int
    expected: int  # the warehouse's figure after it: what the shop must come to show
    sent: float = 0.0  # unix seconds, just before the POST
    adjustment_id: str = ""
    status: int = 0
    shown: float | None = None  # when the shop took ``expected`` (its own clock: this host)


class Watch:
    """The shop's stock changes, read as they come; settles the adjustments on their way."""

    def __init__(self, woo_url: str) -> None:
        self.url = f"{woo_url}/_sim/stock-changes"
        self.lock = threading.Lock()
        self.pending: dict[str, Adjustment] = {}  # sku → the adjustment on its way
        self.seen = 0
        self.other = 0  # changes that settle nothing (a figure nobody waits for)
        self.after = get_json(f"{self.url}?after=0")["last"]
        self.stop = threading.Event()
        self.thread = threading.Thread(target=self._loop, name="publish-watch", daemon=True)
        self.thread.start()

    def add(self, adjustment: Adjustment) -> None:
        with self.lock:
            self.pending[adjustment.sku] = adjustment

    def busy(self, sku: str) -> bool:
        with self.lock:
            return sku in self.pending

    def waiting(self) -> int:
        with self.lock:
            return len(self.pending)

    def _loop(self) -> None:
        while not self.stop.wait(POLL_S):
            try:
                answer = get_json(f"{self.url}?after={self.after}")
            except (OSError, ValueError) as exc:
                log(f"publish: could not read the shop's stock changes: {exc}")
                continue
            with self.lock:
                for change in answer["changes"]:
                    self.seen += 1
                    waiting = self.pending.get(change["sku"])
                    if waiting is not None and change["stock_quantity"] == waiting.expected:
                        waiting.shown = change["at"]
                        del self.pending[change["sku"]]
                    else:
                        self.other += 1
                self.after = max(self.after, answer["last"])

    def close(self) -> None:
        self.stop.set()
        self.thread.join(5)


def send(wms_url: str, adjustment: Adjustment) -> None:
    adjustment.sent = time.time()
    status, body = post_json(
        f"{wms_url}/_sim/stock/adjust",
        {
            "sku": adjustment.sku,
            "location": LOCATION,
            "delta": adjustment.delta,
            "reason": "publish bench recount",
        },
    )
    adjustment.status = status
    if status == 201 and isinstance(body, dict):
        adjustment.adjustment_id = str(body.get("adjustment_id", ""))
        if body.get("on_hand_after") != adjustment.expected:
            log(f"publish: {adjustment.sku} left at {body.get('on_hand_after')}, not expected")
    else:
        log(f"publish: adjusting {adjustment.sku} answered {status}: {str(body)[:200]}")


def drive(
    wms_url: str,
    watch: Watch,
    ledger: dict[str, int],
    rng: random.Random,
    *,
    count: int,
    rate: float,
) -> list[Adjustment]:
    """``count`` adjustments at ``rate`` a second over random SKUs with none on its way; waits
    until each is shown or :data:`SETTLE_S` has passed since the last was sent."""
    codes = sorted(ledger)
    sent: list[Adjustment] = []
    with ThreadPoolExecutor(SENDERS) as pool:
        t0 = time.monotonic() + 0.05
        for i in range(count):
            delay = t0 + i / rate - time.monotonic()
            if delay > 0:
                time.sleep(delay)
            sku = rng.choice(codes)
            while watch.busy(sku):
                sku = rng.choice(codes)
            delta = rng.choice([d for d in range(-5, 6) if d and ledger[sku] + d > 0])
            ledger[sku] += delta
            adjustment = Adjustment(sku, delta, ledger[sku])
            watch.add(adjustment)
            sent.append(adjustment)
            pool.submit(send, wms_url, adjustment)
    deadline = time.monotonic() + SETTLE_S
    while watch.waiting() and time.monotonic() < deadline:
        time.sleep(0.1)
    return sent


# --- the figures ---------------------------------------------------------------------------------
def inbox_times(bench: Bench, ids: list[str]) -> dict[str, tuple[datetime, datetime | None]]:
    """Each adjustment's inbox row: (received, processed)."""
    rows = psql(
        bench.db_url,
        "SELECT e.resource_id, min(e.received_at), min(e.processed_at) "
        "FROM integrations_inboundevent e JOIN integrations_connection c ON c.id = e.connection_id "
        "WHERE c.slug = %s AND e.resource = 'stock_adjustment' AND e.resource_id = ANY(%s) "
        "GROUP BY e.resource_id",
        (WMS_SLUG, ids),
    )
    return {rid: (received, processed) for rid, received, processed in rows}


def publish_requests(bench: Bench) -> tuple[int, int]:
    """(stock publish messages, items in them) written for the shop so far."""
    count, items = psql(
        bench.db_url,
        "SELECT count(*), COALESCE(sum(jsonb_array_length(m.payload->'items')), 0) "
        "FROM integrations_outboundmessage m JOIN integrations_connection c "
        "ON c.id = m.connection_id WHERE c.slug = %s AND m.kind = 'woocommerce.stock.publish'",
        (SLUG,),
    )[0]
    return int(count), int(items)


def _ms(values: list[float], pct: float) -> float:
    return percentile(values, pct) * 1000


def figures(bench: Bench, adjustments: list[Adjustment], *, seconds: float) -> dict[str, float]:
    accepted = [a for a in adjustments if a.status == 201]
    shown = [a.shown - a.sent for a in accepted if a.shown is not None]
    inbox = inbox_times(bench, [a.adjustment_id for a in accepted])
    received, applied, onwards = [], [], []  # sent → stored, sent → applied, applied → shown
    for a in accepted:
        got, done = inbox.get(a.adjustment_id, (None, None))
        if got is not None:
            received.append(got.timestamp() - a.sent)
        if done is not None:
            applied.append(done.timestamp() - a.sent)
            if a.shown is not None:
                onwards.append(a.shown - done.timestamp())
    p95 = _ms(shown, 95)
    webhook_p95 = _ms(received, 95)
    return {
        "sent": len(adjustments),
        "accepted": len(accepted),
        "published": len(shown),
        "lost": len(accepted) - len(shown),
        "rate_per_s": len(adjustments) / seconds if seconds else math.nan,
        "p50_ms": _ms(shown, 50),
        "p95_ms": p95,
        "p99_ms": _ms(shown, 99),
        "max_ms": max(shown, default=math.nan) * 1000,
        "webhook_p50_ms": _ms(received, 50),
        "webhook_p95_ms": webhook_p95,
        "applied_p50_ms": _ms(applied, 50),
        "applied_p95_ms": _ms(applied, 95),
        "applied_to_shown_p50_ms": _ms(onwards, 50),
        "applied_to_shown_p95_ms": _ms(onwards, 95),
        "ratio": p95 / webhook_p95 if webhook_p95 > 0 else math.nan,
    }


def measure_publish(
    bench: Bench, front_port: int, *, seconds: float, rate: float, products: int = PRODUCTS
) -> dict[str, float]:
    """Start the two simulators, seed, send ``rate`` adjustments a second for ``seconds`` and
    time each to the shop; see the module doc. The simulators stay up until the bench ends."""
    from controltower.engines import free_port

    py, work = sys.executable, bench.work
    ports = {"woo": free_port(), "wms": free_port()}
    urls = {name: f"http://127.0.0.1:{port}" for name, port in ports.items()}
    (work / "publish-catalog.json").write_text(json.dumps(catalog(products)))
    quiet = ("--log-level", "WARNING")
    argvs = {
        "woo": [
            *(py, "-m", "integrations.woocommerce.simulator", "--port", str(ports["woo"])),
            *("--consumer-key", WOO_KEY, "--consumer-secret", WOO_SECRET),
            *("--catalog", str(work / "publish-catalog.json"), *quiet),
        ],
        "wms": [
            *(py, "-m", "integrations.wms.simulator", "--port", str(ports["wms"])),
            *("--token", WMS_TOKEN, *quiet),
        ],
    }
    for name, argv in argvs.items():
        logfile = work / f"publish-{name}-simulator.log"
        proc = bench.procs.start(f"publish-{name}-simulator", argv, bench.env, logfile)
        wait_http(f"{urls[name]}/_sim/health", proc, logfile, 30)
    seed(bench, urls["woo"], urls["wms"], products)
    ledger = {sku_code(n): ON_HAND for n in range(1, products + 1)}
    status, body = post_json(
        f"{urls['wms']}/_sim/stock",
        {"items": [{"sku": s, "location": LOCATION, "on_hand": q} for s, q in ledger.items()]},
    )
    if status != 200:
        raise RuntimeError(f"could not set the warehouse's stock: {status} {body}")
    status, body = post_json(
        f"{urls['wms']}/_sim/webhook_endpoints",
        {"url": f"http://127.0.0.1:{front_port}/hooks/wms/{WMS_SLUG}/", "secret": WMS_HOOK_SECRET},
    )
    if status >= 300:
        raise RuntimeError(f"could not point the WMS simulator's webhooks at us: {status} {body}")
    watch, rng = Watch(urls["woo"]), random.Random(18)
    try:
        warm = drive(urls["wms"], watch, ledger, rng, count=WARM_UP, rate=min(rate, 5.0))
        if watch.waiting():
            raise RuntimeError(
                f"{watch.waiting()} of {len(warm)} warm-up adjustments never reached the shop; "
                f"see the logs in {work}"
            )
        before = publish_requests(bench)
        started = time.monotonic()
        count = max(1, round(seconds * rate))
        measured = drive(urls["wms"], watch, ledger, rng, count=count, rate=rate)
        spent = time.monotonic() - started
    finally:
        watch.close()
    after = publish_requests(bench)
    result = figures(bench, measured, seconds=seconds)
    result["publish_requests"] = after[0] - before[0]
    result["publish_items"] = after[1] - before[1]
    result["wall_s"] = spent
    return result


def describe(result: dict[str, float]) -> str:
    """One log line of :func:`measure_publish`'s figures."""
    return (
        f"publish: {result['sent']:.0f} adjustments at {result['rate_per_s']:.1f}/s, "
        f"{result['published']:.0f} shown, {result['lost']:.0f} lost; sent→shop p50 "
        f"{result['p50_ms']:.0f} p95 {result['p95_ms']:.0f} p99 {result['p99_ms']:.0f} max "
        f"{result['max_ms']:.0f} ms in {result['publish_requests']:.0f} batch requests "
        f"({result['publish_items']:.0f} items); baseline webhook stored p50 "
        f"{result['webhook_p50_ms']:.0f} p95 {result['webhook_p95_ms']:.0f} ms (× "
        f"{result['ratio']:.1f}); sent→applied p50 {result['applied_p50_ms']:.0f} p95 "
        f"{result['applied_p95_ms']:.0f} ms, applied→shop p50 "
        f"{result['applied_to_shown_p50_ms']:.0f} p95 {result['applied_to_shown_p95_ms']:.0f} ms"
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="The publish bench's seeding child.")
    parser.add_argument("--child", choices=["seed"], required=True)
    parser.add_argument("--woo-url", required=True)
    parser.add_argument("--wms-url", required=True)
    args = parser.parse_args(argv)
    print("RESULT " + json.dumps(seed_child(args.woo_url, args.wms_url)), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
