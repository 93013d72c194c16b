"""What the benchmarks share: the store's signed webhooks, the bench database, child processes.

- Payloads: :func:`woo_order` (a WooCommerce REST v3 order), :func:`signed_webhook` (its
  ``order.created`` delivery: body and headers, signed with the ``woo-bench`` secret) and
  :func:`raw_request` (the same as the bytes of one HTTP request).
- Engines and data: :func:`run_bench` creates a database ``ct_bench_<pid>`` on the server of
  ``DATABASE_URL`` (embedded engines when it or ``REDIS_URL`` is unset), migrates and seeds it
  (``python -m bench.common seed``: the WooCommerce channel, its status mappings, the SKUs, the
  ``woo-bench`` Connection and, when asked, an ERP Connection), runs the benchmark and, whatever
  happens (Ctrl-C and SIGTERM too), stops every child process, removes the run's Redis keys and
  drops the database.
- Processes: :class:`Processes` starts each child in its own session with its own log file and
  stops them in reverse order; :func:`wait_http` waits for a server to answer.
- The machine: :func:`cpu_times` reads /proc/stat.
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
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
SLUG = "woo-bench"
SECRET = "bench-webhook-secret"
SOURCE_SYSTEM = f"woocommerce:{SLUG}"  # orders_order.source_system of the bench's orders
HOOK_PATH = f"/hooks/woocommerce/{SLUG}/"
CHANNEL = "web-bench"
SKUS = [(f"BENCH-{n:03d}", f"{9.95 + n:.2f}") for n in range(1, 21)]
T0 = datetime(2026, 11, 22, 10, 0, 0, tzinfo=UTC)


def make_log(prefix: str) -> Callable[[str], None]:
    """A logger writing ``[prefix] message`` lines to stderr."""

    def log(message: str) -> None:
        print(f"[{prefix}] {message}", file=sys.stderr, flush=True)

    return log


# --- payloads ------------------------------------------------------------------------------------
def _line_items(order_id: int) -> tuple[list[dict[str, Any]], float]:
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
    return items, subtotal


def woo_order(order_id: int) -> dict[str, Any]:
    """A WooCommerce REST v3 order as the store sends it in an ``order.created`` webhook."""
    modified = T0 + timedelta(seconds=order_id)
    created = modified - timedelta(minutes=1)
    items, subtotal = _line_items(order_id)
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


def signed_webhook(
    order_id: int, order: dict[str, Any] | None = None
) -> tuple[bytes, list[tuple[str, str]]]:
    """The body and headers (all but Host) of WooCommerce's ``order.created`` for this order
    (``order``: the payload, when not :func:`woo_order`'s)."""
    body = json.dumps(order or woo_order(order_id)).encode()
    signature = base64.b64encode(hmac.new(SECRET.encode(), body, hashlib.sha256).digest())
    delivery = hashlib.md5(f"7-{order_id}".encode()).hexdigest()
    return body, [
        ("User-Agent", "WooCommerce/9.4.0 Hookshot (WordPress/6.7)"),
        ("Content-Type", "application/json"),
        ("Content-Length", str(len(body))),
        ("X-WC-Webhook-Source", "https://shop.example.com/"),
        ("X-WC-Webhook-Topic", "order.created"),
        ("X-WC-Webhook-Resource", "order"),
        ("X-WC-Webhook-Event", "created"),
        ("X-WC-Webhook-Signature", signature.decode()),
        ("X-WC-Webhook-ID", "7"),
        ("X-WC-Webhook-Delivery-ID", delivery),
    ]


def raw_request(
    path: str, host: str, order_id: int, *, close: bool = False, order: dict[str, Any] | None = None
) -> bytes:
    """The signed HTTP request WooCommerce would send for this order (``close``: one request
    per connection, as WooCommerce delivers)."""
    body, headers = signed_webhook(order_id, order)
    lines = [f"POST {path} HTTP/1.1", f"Host: {host}", *(f"{k}: {v}" for k, v in headers)]
    if close:
        lines.append("Connection: close")
    return ("\r\n".join(lines) + "\r\n\r\n").encode() + body


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


def seed(
    erp_url: str = "", erp_slug: str = "", erp_token: str = "", estate: dict[str, str] | None = None
) -> None:
    """In a child process with the bench database: channel, mappings, SKUs, the ``woo-bench``
    Connection and, with ``erp_url``, an ERP Connection whose rate limit is out of the way."""
    import django

    django.setup()
    from controltower.catalog.choices import ChannelType, SystemKind
    from controltower.catalog.models import SKU, Channel, Product
    from controltower.orders.models import ChannelStatusMapping
    from integrations.runtime.models import Connection
    from integrations.woocommerce.translate import STATUS_MAPPING

    channel = Channel.objects.create(
        code=CHANNEL, name="Bench web store", type=ChannelType.WOOCOMMERCE, currency="EUR"
    )
    for status, state in STATUS_MAPPING.items():
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
    if erp_url:
        erp = Connection(
            slug=erp_slug,
            name="Bench ERP (simulator)",
            kind=SystemKind.ERP,
            base_url=erp_url,
            rate_limit_per_s=100_000,  # out of the way: the bench measures the pipeline
            timeout_s=10,
        )
        erp.set_credentials({"token": erp_token})
        erp.save()
    if estate:  # the lifecycle mode's gateway, WMS and ledger (bench/lifecycle.py)
        from bench.lifecycle import seed_estate

        seed_estate(estate, erp_slug)


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


def cpu_times() -> tuple[int, int]:
    """(busy, total) jiffies of the whole machine, from /proc/stat (0, 0 where there is none)."""
    try:
        fields = [int(v) for v in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]]
    except (OSError, ValueError):
        return 0, 0
    idle = fields[3] + (fields[4] if len(fields) > 4 else 0)
    return sum(fields) - idle, sum(fields)


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


# --- one run: database, data, processes, clean-up ------------------------------------------------
@dataclass
class Bench:
    """What a benchmark's body gets: the migrated, seeded database and where to put things."""

    name: str  # the database
    db_url: str
    redis_url: str
    queue: str  # Celery queue and Channels prefix of this run
    work: Path  # logs and files, under var/
    env: dict[str, str]  # for child processes: the bench database, this run's queue
    procs: Processes


def celery_argv(queue: str, concurrency: int, *extra: str) -> list[str]:
    """A Celery worker on this run's queue only."""
    return [
        sys.executable,
        "-m",
        "celery",
        "-A",
        "controltower",
        "worker",
        "-Q",
        queue,
        "-c",
        str(concurrency),
        "--without-gossip",
        "--without-mingle",
        "--loglevel=WARNING",
        "-n",
        f"{queue}@%h",
        *extra,
    ]


def run_bench(
    log: Callable[[str], None],
    tag: str,
    body: Callable[[Bench], int],
    *,
    keep: bool,
    baseline: bool = False,
    seed_args: tuple[str, ...] = (),
) -> int:
    """Set up a fresh database (``CT_BENCH_BASELINE`` with ``baseline``), run ``body`` and clean
    everything up, on Ctrl-C and SIGTERM too (exit status 130)."""

    def interrupted(signum: int, _frame: Any) -> None:
        raise KeyboardInterrupt(f"signal {signum}")

    signal.signal(signal.SIGTERM, interrupted)

    from controltower.engines import ensure_engines

    urls = ensure_engines()  # external servers when both variables are set; embedded otherwise
    server_url = urls["DATABASE_URL"]
    name = f"ct_bench_{os.getpid()}"
    queue = f"ct-bench-{os.getpid()}"
    (ROOT / "var").mkdir(exist_ok=True)
    work = Path(tempfile.mkdtemp(prefix=f"ct-bench-{tag}-", dir=ROOT / "var"))
    env = {
        **os.environ,
        "DATABASE_URL": bench_database_url(server_url, name),
        "REDIS_URL": urls["REDIS_URL"],
        "DJANGO_SETTINGS_MODULE": "controltower.settings",
        "CT_CELERY_QUEUE": queue,
        "CT_CHANNELS_PREFIX": queue,
        "CT_LOG_LEVEL": "WARNING",
        "CT_LOG_FORMAT": "console",
        "PYTHONUNBUFFERED": "1",
    }
    if baseline:
        env["CT_BENCH_BASELINE"] = "1"
    bench = Bench(name, env["DATABASE_URL"], urls["REDIS_URL"], queue, work, env, Processes())
    created = False
    try:
        log(f"database {name}; logs in {work}")
        psql(server_url, f'CREATE DATABASE "{name}"')
        created = True
        _migrate_and_seed(log, env, seed_args)
        return body(bench)
    except KeyboardInterrupt:
        log("interrupted; cleaning up")
        return 130
    finally:
        bench.procs.stop_all()
        _clean_redis(log, urls["REDIS_URL"], queue)
        if created and not keep:
            psql(server_url, f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        if not keep:
            shutil.rmtree(work, ignore_errors=True)
        else:
            log(f"kept database {name} and {work}")


def _migrate_and_seed(
    log: Callable[[str], None], env: dict[str, str], seed_args: tuple[str, ...]
) -> None:
    started = time.monotonic()
    subprocess.run(
        [sys.executable, "manage.py", "migrate", "--noinput", "-v", "0"],
        cwd=ROOT,
        env=env,
        check=True,
    )
    subprocess.run(
        [sys.executable, "-m", "bench.common", "seed", *seed_args], cwd=ROOT, env=env, check=True
    )
    log(f"migrated and seeded in {time.monotonic() - started:.1f}s")


def _clean_redis(log: Callable[[str], None], redis_url: str, queue: str) -> None:
    try:
        import redis

        client = redis.Redis.from_url(redis_url)
        client.delete(queue, f"_kombu.binding.{queue}", f"_kombu.binding_permanent.{queue}")
        for key in client.scan_iter(f"ct:*{queue}*"):  # kicks, rate limits, breakers
            client.delete(key)
    except Exception as exc:  # cleanup must not hide the result
        log(f"could not clean redis: {exc}")


def main(argv: list[str] | None = None) -> int:
    """``python -m bench.common seed [--erp-url URL --erp-slug SLUG --erp-token TOKEN]
    [--estate JSON]``."""
    parser = argparse.ArgumentParser(description="Seed the bench database (run by run_bench).")
    parser.add_argument("command", choices=["seed"])
    parser.add_argument("--erp-url", default="")
    parser.add_argument("--erp-slug", default="erp-bench")
    parser.add_argument("--erp-token", default="")
    parser.add_argument("--estate", default="", help="JSON {gateway, wms, ledger: base URL}")
    args = parser.parse_args(argv)
    seed(args.erp_url, args.erp_slug, args.erp_token, json.loads(args.estate or "{}"))
    return 0


if __name__ == "__main__":
    sys.exit(main())
