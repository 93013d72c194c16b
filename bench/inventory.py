"""``make bench-inventory``: ATS at scale, the availability read API, and a flash sale.

1. **ATS recompute** (``ats_recompute_s``): 100,000 SKUs × 20 locations (10 warehouses counted
   by the WMS, 10 stores by their POS: 2,000,000 stock positions, seeded set-based), two channels
   (the web store sells 80 % of every location less 2 units of safety stock; the stores sell
   their own stock), 20,000 open reservations. ``controltower.inventory.ats.recompute()`` — one
   statement — from nothing (every ATS row written), then again with nothing changed, then after
   10 % of the positions changed. Baseline in the same run: one plain scan of the positions
   (``SELECT sum(on_hand)``), the least any recompute must read.
2. **Availability API** (``availability_p99_ms``): the production web tier (front, gunicorn,
   daphne) answering ``GET /api/v1/availability/?sku=…&channel=…`` for random SKUs, token
   authentication, from ``wrk`` (keep-alive, 8 connections, 15 s); baseline the bench's
   ``/bench/ping/`` on the same server in the same run.
3. **Publish** (``publish_p95_ms``): one WMS stock adjustment → the WooCommerce shop showing
   the new figure, under a steady stream of them (``bench/inventory_publish.py``); baseline the
   same adjustments' webhook round trip alone.
4. **Flash sale** (``oversold``): one SKU with 5 units at one warehouse; 40 web orders of one unit
   each sent at once as the store's signed webhooks through the front, the worker taking them
   (several drains at once): units reserved beyond 5 are ``oversold`` (the target is 0), the
   others are oversell exceptions.

Prints, last, ``ats_recompute_s``, ``publish_p95_ms``, ``availability_p99_ms``, ``oversold`` (and
the figures beside them). ``--skus`` and ``--locations`` shrink the data for a quick look.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import re
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

from bench.common import (
    CHANNEL,
    HOOK_PATH,
    ROOT,
    Bench,
    celery_argv,
    make_log,
    psql,
    raw_request,
    run_bench,
    wait_http,
    woo_order,
)
from bench.inventory_publish import RATE, SECONDS, describe, measure_publish

log = make_log("bench-inventory")

LUA = """
math.randomseed(os.time())
request = function()
  local n = math.random(1, {skus})
  return wrk.format("GET", string.format("/api/v1/availability/?sku=INV-%06d&channel={channel}", n))
end
"""


# --- the data --------------------------------------------------------------------------------
SEED_SQL = """
INSERT INTO catalog_product (correlation_id, source_system, external_id, created_at, updated_at,
    name, brand, category, tax_class)
VALUES (gen_random_uuid(), 'bench', 'inv-product', now(), now(), 'Bench product', '', 'bench',
    'standard');
INSERT INTO catalog_sku (correlation_id, source_system, external_id, created_at, updated_at, code,
    product_id, name, attributes, barcode, price_amount, currency, cost_amount, is_active,
    erp_tax_class)
SELECT gen_random_uuid(), 'bench', '', now(), now(), format('INV-%%s', lpad(n::text, 6, '0')),
    (SELECT id FROM catalog_product WHERE external_id = 'inv-product'), format('SKU %%s', n),
    '{}', '', 19.95, 'EUR', 7.50, true, ''
FROM generate_series(1, %(skus)s) AS n;
INSERT INTO catalog_location (correlation_id, source_system, external_id, created_at, updated_at,
    code, name, type, city, country, is_active, stock_authority)
SELECT gen_random_uuid(), 'bench', '', now(), now(), format('inv-loc-%%s', n),
    format('Bench location %%s', n), CASE WHEN n %% 2 = 0 THEN 'store' ELSE 'warehouse' END,
    '', '', true, ''
FROM generate_series(1, %(locations)s) AS n;
INSERT INTO catalog_channel (correlation_id, source_system, external_id, created_at, updated_at,
    code, name, type, currency, legal_entity)
VALUES (gen_random_uuid(), 'bench', '', now(), now(), 'inv-stores', 'Bench stores', 'pos', 'EUR',
    '');
INSERT INTO inventory_channelallocationrule (correlation_id, source_system, external_id,
    created_at, updated_at, channel_id, location_id, percent, safety_stock, cap)
SELECT gen_random_uuid(), 'bench', '', now(), now(), c.id, l.id, 80, 2, NULL
FROM catalog_channel c, catalog_location l
WHERE c.code = %(web)s AND l.code LIKE 'inv-loc-%%';
INSERT INTO inventory_channelallocationrule (correlation_id, source_system, external_id,
    created_at, updated_at, channel_id, location_id, percent, safety_stock, cap)
SELECT gen_random_uuid(), 'bench', '', now(), now(), c.id, l.id, 100, 0, NULL
FROM catalog_channel c, catalog_location l
WHERE c.code = 'inv-stores' AND l.type = 'store' AND l.code LIKE 'inv-loc-%%';
INSERT INTO inventory_stockposition (correlation_id, source_system, external_id, created_at,
    updated_at, sku_id, location_id, reporting_system, on_hand, as_of)
SELECT gen_random_uuid(), 'bench', '', now(), now(), s.id, l.id,
    CASE l.type WHEN 'store' THEN 'pos' ELSE 'wms' END, (s.id * 7 + l.id * 13) %% 50, now()
FROM catalog_sku s CROSS JOIN catalog_location l
WHERE s.code LIKE 'INV-%%' AND l.code LIKE 'inv-loc-%%';
"""


def seed_stock(db_url: str, skus: int, locations: int) -> None:
    import psycopg

    started = time.monotonic()
    with psycopg.connect(db_url, autocommit=True) as conn:
        params = {"skus": skus, "locations": locations, "web": CHANNEL}
        for statement in SEED_SQL.split(";\n"):
            if statement.strip():
                conn.execute(statement, params)
        conn.execute("VACUUM ANALYZE")
        positions = conn.execute("SELECT count(*) FROM inventory_stockposition").fetchone()[0]
    log(f"seeded {skus} SKUs × {locations} locations ({positions} positions) in "
        f"{time.monotonic() - started:.1f}s")  # fmt: skip


# --- 1. the recompute (in a child with Django set up) --------------------------------------------
def recompute_child() -> dict[str, float]:
    import django

    django.setup()
    from django.db import connection, transaction

    from controltower.catalog.models import SKU, Channel, Location
    from controltower.core.writepath import service_scope
    from controltower.inventory import ats
    from controltower.inventory.models import Reservation
    from controltower.orders.models import Order, OrderLine

    # 20,000 open reservations (one bench order, a line per fifth SKU, at the first location)
    with service_scope(), transaction.atomic():
        web = Channel.objects.get(code=CHANNEL)
        first = Location.objects.filter(code__startswith="inv-loc-").order_by("pk").first()
        order = Order.objects.create(
            channel=web, number="INV-1", source_system="bench-inv", external_id="inv-1"
        )
        skus = list(SKU.objects.filter(code__startswith="INV-").order_by("pk")[::5])
        lines = OrderLine.objects.bulk_create(
            OrderLine(
                order=order,
                line_number=n,
                sku=sku,
                sku_code=sku.code,
                name=sku.name,
                quantity=1,
                source_system="bench-inv",
                external_id=f"inv-1:{n}",
            )
            for n, sku in enumerate(skus, start=1)
        )
        Reservation.objects.bulk_create(
            Reservation(order_line=line, sku_id=line.sku_id, location=first, quantity=1)
            for line in lines
        )

    def timed(action: Any) -> tuple[float, Any]:
        started = time.perf_counter()
        result = action()  # (the full recompute runs its SKU ranges side by side)
        return time.perf_counter() - started, result

    def scan() -> Any:
        with connection.cursor() as cursor:
            cursor.execute("SELECT sum(on_hand) FROM inventory_stockposition")
            return cursor.fetchone()

    baseline, _ = timed(scan)
    full, changed = timed(ats.recompute)
    again, unchanged = timed(ats.recompute)
    with connection.cursor() as cursor:
        cursor.execute(
            "UPDATE inventory_stockposition SET on_hand = on_hand + 1, as_of = now() "
            "WHERE id % 10 = 0"
        )
    partial, moved = timed(ats.recompute)
    return {
        "baseline_scan_s": baseline,
        "full_s": full,
        "full_rows": len(changed),
        "unchanged_s": again,
        "unchanged_rows": len(unchanged),
        "tenth_changed_s": partial,
        "tenth_changed_rows": len(moved),
    }


def measure_recompute(bench: Bench) -> dict[str, float]:
    done = subprocess.run(
        [sys.executable, "-m", "bench.inventory", "--child", "recompute"],
        cwd=ROOT,
        env=bench.env,
        capture_output=True,
        text=True,
        check=False,
    )
    lines = [line for line in done.stdout.splitlines() if line.startswith("RESULT ")]
    if done.returncode or not lines:
        raise RuntimeError(f"the recompute child failed:\n{done.stderr[-3000:]}")
    return json.loads(lines[-1].removeprefix("RESULT "))


# --- 2. the availability API ---------------------------------------------------------------------
def make_token(bench: Bench) -> str:
    code = (
        "import django; django.setup()\n"
        "from django.contrib.auth.models import Group, User\n"
        "from rest_framework.authtoken.models import Token\n"
        "user = User.objects.create_user('checkout-bench')\n"
        "user.groups.add(Group.objects.get(name='ops'))\n"
        "print('TOKEN', Token.objects.create(user=user).key)\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", code], cwd=ROOT, env=bench.env, capture_output=True, text=True
    )
    found = re.search(r"TOKEN (\w+)", done.stdout)
    if not found:
        raise RuntimeError(f"could not make an API token:\n{done.stderr[-2000:]}")
    return found.group(1)


def wrk_p99(
    url: str, *, token: str, script: Path | None, seconds: int, connections: int
) -> tuple[float, float]:
    """(p99 ms, requests/s) from ``wrk --latency``."""
    argv = [
        "wrk",
        "-t2",
        f"-c{connections}",
        f"-d{seconds}s",
        "--latency",
        "-H",
        f"Authorization: Token {token}",
    ]
    if script is not None:
        argv += ["-s", str(script)]
    out = subprocess.run([*argv, url], capture_output=True, text=True, check=True).stdout
    p99 = re.search(r"^\s+99%\s+([\d.]+)(us|ms|s)\s*$", out, re.MULTILINE)
    rate = re.search(r"^Requests/sec:\s+([\d.]+)", out, re.MULTILINE)
    bad = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
    if not p99 or not rate:
        raise RuntimeError(f"could not read wrk's output:\n{out}")
    if bad:
        raise RuntimeError(f"{bad.group(1)} answers were not 2xx:\n{out}")
    value, unit = float(p99.group(1)), p99.group(2)
    return value * {"us": 0.001, "ms": 1.0, "s": 1000.0}[unit], float(rate.group(1))


# --- 3. the flash sale ---------------------------------------------------------------------------
FLASH_SQL = """
INSERT INTO catalog_location (correlation_id, source_system, external_id, created_at, updated_at,
    code, name, type, city, country, is_active, stock_authority)
VALUES (gen_random_uuid(), 'bench', '', now(), now(), 'flash-wh', 'Flash warehouse', 'warehouse',
    '', '', true, '');
INSERT INTO inventory_channelallocationrule (correlation_id, source_system, external_id,
    created_at, updated_at, channel_id, location_id, percent, safety_stock, cap)
SELECT gen_random_uuid(), 'bench', '', now(), now(), c.id, l.id, 100, 0, NULL
FROM catalog_channel c, catalog_location l WHERE c.code = %(web)s AND l.code = 'flash-wh';
INSERT INTO inventory_stockposition (correlation_id, source_system, external_id, created_at,
    updated_at, sku_id, location_id, reporting_system, on_hand, as_of)
SELECT gen_random_uuid(), 'bench', '', now(), now(), s.id, l.id, 'wms', 5, now()
FROM catalog_sku s, catalog_location l WHERE s.code = %(sku)s AND l.code = 'flash-wh';
"""
FLASH_SKU = "BENCH-001"  # a bench SKU (bench/common.py), its only line in the sale's orders
FLASH_ORDERS = 40


def flash_order(order_id: int) -> dict[str, Any]:
    """A bench order of one unit of the flash SKU."""
    order = woo_order(order_id)
    line = {**order["line_items"][0], "sku": FLASH_SKU, "quantity": 1, "price": 10.95}
    line.update(subtotal="10.95", total="10.95", subtotal_tax="2.30", total_tax="2.30")
    order.update(line_items=[line], cart_tax="2.30", total_tax="2.30", total="18.20")
    return order


async def _send_all(port: int, ids: list[int]) -> list[int]:
    async def one(order_id: int) -> int:
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        request = raw_request(
            HOOK_PATH, f"127.0.0.1:{port}", order_id, close=True, order=flash_order(order_id)
        )
        writer.write(request)
        await writer.drain()
        status_line = await reader.readline()
        writer.close()
        return int(status_line.split()[1])

    return await asyncio.gather(*(one(i) for i in ids))


def flash_sale(bench: Bench, front_port: int) -> dict[str, int]:
    import psycopg

    with psycopg.connect(bench.db_url, autocommit=True) as conn:
        for statement in FLASH_SQL.split(";\n"):
            if statement.strip():
                conn.execute(statement, {"web": CHANNEL, "sku": FLASH_SKU})
    ids = list(range(900_001, 900_001 + FLASH_ORDERS))
    statuses = asyncio.run(_send_all(front_port, ids))
    accepted = sum(1 for s in statuses if 200 <= s < 300)
    deadline = time.monotonic() + 120
    orders = 0
    while time.monotonic() < deadline:
        orders = psql(
            bench.db_url,
            "SELECT count(*) FROM orders_order WHERE source_system = 'woocommerce:woo-bench' "
            "AND external_id::int >= 900001",
        )[0][0]
        if orders >= accepted:
            break
        time.sleep(0.5)
    reserved, shortfalls = psql(
        bench.db_url,
        "SELECT (SELECT COALESCE(sum(r.quantity), 0) FROM inventory_reservation r "
        " JOIN catalog_sku s ON s.id = r.sku_id JOIN catalog_location l ON l.id = r.location_id "
        " WHERE s.code = %s AND l.code = 'flash-wh' AND r.status = 'open'), "
        "(SELECT count(*) FROM exceptions_opsexception WHERE type = 'oversell' "
        " AND context->>'sku' = %s)",
        (FLASH_SKU, FLASH_SKU),
    )[0]
    return {
        "orders": orders,
        "accepted": accepted,
        "reserved": int(reserved),
        "oversell_exceptions": int(shortfalls),
        "oversold": max(0, int(reserved) - 5),
    }


# --- the run -------------------------------------------------------------------------------------
def run(args: argparse.Namespace, bench: Bench) -> int:
    from controltower.engines import free_port
    from controltower.topology import web_processes

    seed_stock(bench.db_url, args.skus, args.locations)
    figures = measure_recompute(bench)
    log(
        f"recompute: full {figures['full_s']:.2f}s ({figures['full_rows']} rows), unchanged "
        f"{figures['unchanged_s']:.2f}s, 10% changed {figures['tenth_changed_s']:.2f}s "
        f"({figures['tenth_changed_rows']} rows); baseline scan {figures['baseline_scan_s']:.2f}s"
    )
    token = make_token(bench)
    front = free_port()
    env = {**bench.env, "CT_INBOX_DRAINERS": "2"}
    for name, argv in web_processes(
        sys.executable, port=front, gunicorn_port=free_port(), daphne_port=free_port()
    ).items():
        bench.procs.start(name, argv, env, bench.work / f"{name}.log")
    worker = bench.procs.start(
        "worker", celery_argv(bench.queue, 4), env, bench.work / "worker.log"
    )
    wait_http(f"http://127.0.0.1:{front}/accounts/login/", worker, bench.work / "worker.log", 60)
    script = bench.work / "availability.lua"
    script.write_text(LUA.format(skus=args.skus, channel=CHANNEL))
    base = f"http://127.0.0.1:{front}"
    load = {"token": token, "connections": args.connections}
    wrk_p99(f"{base}/bench/ping/", script=None, seconds=3, **load)  # warm-up
    ping_p99, ping_rate = wrk_p99(f"{base}/bench/ping/", script=None, seconds=10, **load)
    api_p99, api_rate = wrk_p99(f"{base}/", script=script, seconds=15, **load)
    log(
        f"availability: p99 {api_p99:.1f} ms at {api_rate:.0f} req/s; baseline ping p99 "
        f"{ping_p99:.1f} ms at {ping_rate:.0f} req/s (× {api_p99 / max(ping_p99, 1e-9):.2f})"
    )
    publish = measure_publish(bench, front, seconds=SECONDS, rate=RATE)
    log(describe(publish))
    sale = flash_sale(bench, front)
    log(
        f"flash sale: {sale['accepted']} orders of 1 unit for 5 in stock; {sale['reserved']} "
        f"reserved, {sale['oversell_exceptions']} oversell exceptions"
    )
    print(f"ats_recompute_baseline_scan_s: {figures['baseline_scan_s']:.3f}")
    print(f"ats_recompute_ratio: {figures['full_s'] / max(figures['baseline_scan_s'], 1e-9):.1f}")
    print(f"ats_recompute_unchanged_s: {figures['unchanged_s']:.3f}")
    print(f"availability_baseline_p99_ms: {ping_p99:.2f}")
    print(f"availability_ratio: {api_p99 / max(ping_p99, 1e-9):.2f}")
    print(f"publish_p50_ms: {publish['p50_ms']:.0f}")
    print(f"publish_p99_ms: {publish['p99_ms']:.0f}")
    print(f"publish_lost: {publish['lost']:.0f}")
    print(f"publish_baseline_webhook_p95_ms: {publish['webhook_p95_ms']:.0f}")
    print(f"publish_ratio: {publish['ratio']:.1f}")
    print(f"ats_recompute_s: {figures['full_s']:.3f}")
    print(f"publish_p95_ms: {publish['p95_ms']:.0f}")
    print(f"availability_p99_ms: {api_p99:.2f}")
    print(f"oversold: {sale['oversold']}")
    return 0 if sale["oversold"] == 0 and publish["lost"] == 0 else 1


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="ATS, availability and a flash sale (see doc).")
    parser.add_argument("--skus", type=int, default=100_000)
    parser.add_argument("--locations", type=int, default=20)
    parser.add_argument(
        "--connections",
        type=int,
        default=4,
        help="wrk's connections to the API (4: one per web worker)",
    )
    parser.add_argument("--keep", action="store_true", help="keep the database and logs")
    parser.add_argument("--child", default="", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.child == "recompute":
        print("RESULT " + json.dumps(recompute_child()), flush=True)
        return 0
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "controltower.settings")
    return run_bench(
        log, "inventory", lambda bench: run(args, bench), keep=args.keep, baseline=True
    )


if __name__ == "__main__":
    sys.exit(main())
