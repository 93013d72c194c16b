"""``make demo``: the whole product on one machine, as real processes.

Starts (or uses) PostgreSQL and Redis, migrates, seeds the Northwind retailer, starts the ERP and
WooCommerce simulators, the web tier (the buffering front, gunicorn for pages, API and webhooks,
daphne for websockets), a Celery
worker and beat, registers the store's order webhooks, gives the warehouse and the ERP their
opening stock (and waits for both feeds to report it), and lets the store take orders at a steady
rate, with a flash sale now and then; the stores' tills sell live (``tills.Tills``) and now
and then a sale price breaks the price policy (``prices.PriceBreach``). Prints where to log
in, then a status line every few seconds. Ctrl-C stops everything.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[2]


WOO_KEY, WOO_SECRET_KEY = "ck_demo", "cs_demo"
WEBHOOK_SECRET = "demo-webhook-secret"
ERP_TOKEN = "demo-erp-token"
PASSWORD = "controltower"
USERS = (("ops", "ops staff"), ("finance", "finance"), ("exec", "executive"), ("admin", "admin"))


def port_or_free(preferred: int) -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        try:
            sock.bind(("127.0.0.1", preferred))
            return preferred
        except OSError:
            sock.bind(("127.0.0.1", 0))
            return sock.getsockname()[1]


def say(message: str) -> None:
    print(f"[demo] {message}", flush=True)


@dataclass
class Child:
    """One supervised process: how to start it, the running process, and its restart record."""

    name: str
    args: list[str]
    proc: subprocess.Popen[bytes]
    started_at: float
    restarts: int = 0
    crashes_in_a_row: int = 0
    restart_at: float | None = None  # set while it waits out its backoff


class Supervisor:
    """Start child processes, restart one that dies (with backoff), stop them all (newest first).

    A child that exits is started again after ``backoff_base_s`` × 2^(crashes in a row), at most
    ``backoff_cap_s``; one that ran ``stable_after_s`` before dying counts as a first crash again.
    Each exit and restart is said on a message line. This is the demo's process manager; in
    production systemd (``Restart=always``) does the same job (docs/deploy.md).
    """

    def __init__(
        self,
        log_dir: Path,
        env: dict[str, str],
        *,
        backoff_base_s: float = 1.0,
        backoff_cap_s: float = 30.0,
        stable_after_s: float = 60.0,
    ) -> None:
        self.log_dir = log_dir
        self.env = env
        self.backoff_base_s = backoff_base_s
        self.backoff_cap_s = backoff_cap_s
        self.stable_after_s = stable_after_s
        self.children: list[Child] = []

    def _spawn(self, name: str, args: list[str]) -> subprocess.Popen[bytes]:
        with (self.log_dir / f"{name}.log").open("ab") as log:
            return subprocess.Popen(
                args,
                cwd=ROOT,
                env=self.env,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )

    def start(self, name: str, args: list[str]) -> subprocess.Popen[bytes]:
        proc = self._spawn(name, args)
        self.children.append(Child(name=name, args=args, proc=proc, started_at=time.monotonic()))
        say(f"started {name} (pid {proc.pid}, log var/…/{name}.log)")
        return proc

    def run(self, name: str, args: list[str]) -> None:
        result = subprocess.run(args, cwd=ROOT, env=self.env, capture_output=True, text=True)
        (self.log_dir / f"{name}.log").write_text(result.stdout + result.stderr)
        if result.returncode != 0:
            raise SystemExit(f"{name} failed:\n{result.stdout[-3000:]}{result.stderr[-3000:]}")

    def dead(self) -> list[str]:
        """The children not running right now (exited, or waiting out their backoff)."""
        return [child.name for child in self.children if child.proc.poll() is not None]

    def watch(self) -> list[str]:
        """Schedule a restart for each child that died and start those whose backoff is over;
        the names restarted now."""
        now = time.monotonic()
        restarted = []
        for child in self.children:
            code = child.proc.poll()
            if code is None:
                continue
            if child.restart_at is None:
                ran_s = now - child.started_at
                child.crashes_in_a_row = (
                    1 if ran_s >= self.stable_after_s else child.crashes_in_a_row + 1
                )
                delay = min(
                    self.backoff_cap_s, self.backoff_base_s * 2 ** (child.crashes_in_a_row - 1)
                )
                child.restart_at = now + delay
                say(
                    f"{child.name} (pid {child.proc.pid}) exited with code {code} after "
                    f"{ran_s:.0f} s; restarting it in {delay:g} s (see var/…/{child.name}.log)"
                )
            elif now >= child.restart_at:
                _reap_session(child.proc)
                child.proc = self._spawn(child.name, child.args)
                child.started_at = now
                child.restart_at = None
                child.restarts += 1
                restarted.append(child.name)
                say(f"restarted {child.name} (pid {child.proc.pid}, restart {child.restarts})")
        return restarted

    def restarts(self) -> dict[str, int]:
        return {child.name: child.restarts for child in self.children}

    def stop(self) -> None:
        for child in reversed(self.children):
            if child.proc.poll() is None:
                child.proc.send_signal(signal.SIGTERM)
        deadline = time.monotonic() + 20
        for child in reversed(self.children):
            try:
                child.proc.wait(max(0.1, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                say(f"{child.name} did not stop in time; killing it")
                child.proc.kill()
                child.proc.wait(5)
            _reap_session(child.proc)
        self.children.clear()


def _reap_session(proc: subprocess.Popen[bytes]) -> None:
    """Anything a process left in its session (a worker's pool) goes with it."""
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(proc.pid, signal.SIGKILL)


def wait_http(url: str, *, timeout: float = 60.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            with urllib.request.urlopen(url, timeout=2):
                return
        except urllib.error.HTTPError:
            return  # it answers
        except OSError:
            time.sleep(0.2)
    raise SystemExit(f"{url} did not come up within {timeout}s")


def woo_request(base: str, method: str, path: str, body: dict[str, Any] | None = None) -> Any:
    """A call to the store as a real shop wants it over plain http: OAuth 1.0a, HMAC-SHA256."""
    import httpx

    from integrations.woocommerce.client import SIGNATURE_HMAC_SHA256, WooOAuth1Auth

    auth = WooOAuth1Auth(
        WOO_KEY,
        client_secret=WOO_SECRET_KEY,
        signature_method=SIGNATURE_HMAC_SHA256,
        signature_type="QUERY",
    )
    if path.startswith("/_sim/"):
        response = httpx.request(method, f"{base}{path}", json=body, timeout=10)
    else:
        response = httpx.request(method, f"{base}{path}", json=body, auth=auth, timeout=10)
    response.raise_for_status()
    return response.json() if response.content else None


class StoreActivity:
    """Now and then the store does what shops do to orders after checkout, so it can be watched
    arriving: it trashes a recent order (``DELETE /orders/<id>`` → ``order.deleted``: cancelled
    here, and in the ERP while possible), and refunds part of another
    (``POST /orders/<id>/refunds`` → ``order.updated`` with its ``refunds``: a Refund row here,
    its lines read from the store)."""

    def __init__(self, woo_url: str, *, trash_every_s: float = 25.0, refund_every_s: float = 20.0):
        self.woo_url = woo_url
        now = time.monotonic()
        self.every = {"trash": trash_every_s, "refund": refund_every_s}
        self.next_at = {"trash": now + trash_every_s, "refund": now + refund_every_s / 2}
        self.done = {"trash": 0, "refund": 0}

    def _recent(self) -> list[dict[str, Any]]:
        recent = woo_request(self.woo_url, "GET", "/wp-json/wc/v3/orders?per_page=10")
        return [o for o in recent or [] if o.get("status") in ("processing", "on-hold")]

    def _trash(self) -> str | None:
        victims = self._recent()
        if len(victims) < 2:
            return None
        victim = victims[1]
        woo_request(self.woo_url, "DELETE", f"/wp-json/wc/v3/orders/{victim['id']}")
        return f"the store trashed order #{victim['id']} (order.deleted on its way)"

    def _refund(self) -> str | None:
        for order in self._recent()[2:]:
            items = [i for i in order.get("line_items") or [] if i.get("quantity")]
            if order.get("refunds") or not items:
                continue
            item = items[0]
            unit = Decimal(str(item["total"])) / item["quantity"]
            tax = Decimal(str(item.get("total_tax") or "0")) / item["quantity"]
            amount = (unit + tax).quantize(Decimal("0.01"))
            body = {
                "amount": str(amount),  # WordPress wants the amount as a string
                "reason": "Demo: one item returned",
                "api_refund": False,
                "line_items": [
                    {
                        "id": item["id"],
                        "quantity": 1,
                        "refund_total": str(unit.quantize(Decimal("0.01"))),
                        "refund_tax": [],
                    }
                ],
            }
            woo_request(self.woo_url, "POST", f"/wp-json/wc/v3/orders/{order['id']}/refunds", body)
            return f"the store refunded {amount} {order['currency']} of order #{order['id']}"
        return None

    def tick(self) -> None:
        now = time.monotonic()
        for action, run in (("trash", self._trash), ("refund", self._refund)):
            if now < self.next_at[action]:
                continue
            self.next_at[action] += self.every[action]
            try:
                told = run()
            except Exception as exc:  # the demo keeps going; the store may be busy
                say(f"store {action} skipped: {type(exc).__name__}: {exc}")
                continue
            if told:
                self.done[action] += 1
                say(told)


def status_line() -> str:
    from django.db.models import Count

    from controltower.exceptions.models import OpsException
    from controltower.orders.models import Order
    from integrations.runtime.backlog import outbound_backlog

    stages = dict(Order.objects.values_list("stage").annotate(n=Count("id")))
    total = sum(stages.values())
    moving = ", ".join(
        f"{stages[stage]} {stage.replace('_', ' ')}"
        for stage in ("registered", "released", "partially_shipped", "shipped", "invoiced")
        if stages.get(stage)
    )
    outbound = outbound_backlog()
    waiting = sum(row["pending"] + row["in_flight"] for row in outbound)
    retrying = sum(row["retrying"] for row in outbound)
    dead = sum(row["dead"] for row in outbound)
    return (
        f"orders: {total} received, {moving or 'none'} on their way, "
        f"{stages.get('posted', 0) + stages.get('closed', 0)} posted, "
        f"{stages.get('cancelled', 0)} cancelled · outbox: {waiting} waiting, {retrying} "
        f"retrying, {dead} dead · open exceptions: {OpsException.objects.open().count()}"
    )


class Chaos:
    """The demo's fault injection, so retries, back-pressure and dead letters can be watched."""

    def __init__(self, erp_url: str, web_url: str, extra: list[Any] | None = None) -> None:
        self.erp_url = erp_url
        self.web_url = web_url
        self.extra = extra or []
        self.started = time.monotonic()
        self.done: set[str] = set()

    def _faults(self, plan: dict[str, Any]) -> None:
        request = urllib.request.Request(
            f"{self.erp_url}/_sim/faults",
            method="POST",
            data=json.dumps(plan).encode(),
            headers={"Content-Type": "application/json"},
        )
        with contextlib.suppress(OSError):
            urllib.request.urlopen(request, timeout=5).close()

    def poison_order(self) -> None:
        """A signed order the adapter cannot translate: dead-lettered at once, for ops to fix."""
        import base64
        import hashlib
        import hmac

        body = json.dumps(
            {
                "id": 999999,
                "status": "processing",
                "currency": "EUR",
                "date_created_gmt": "2026-01-01T00:00:00",
                "date_modified_gmt": "2026-01-01T00:00:00",
                "total": "10.00",
                "line_items": [
                    {"id": 1, "sku": "NW-BAD", "quantity": 0, "subtotal": "10.00", "total": "10.00"}
                ],
            }
        ).encode()
        signature = base64.b64encode(
            hmac.new(WEBHOOK_SECRET.encode(), body, hashlib.sha256).digest()
        ).decode()
        request = urllib.request.Request(
            f"{self.web_url}/hooks/woocommerce/woo-web/",
            method="POST",
            data=body,
            headers={
                "Content-Type": "application/json",
                "X-WC-Webhook-Topic": "order.created",
                "X-WC-Webhook-Resource": "order",
                "X-WC-Webhook-Signature": signature,
            },
        )
        with contextlib.suppress(OSError):
            urllib.request.urlopen(request, timeout=5).close()

    def tick(self) -> None:
        elapsed = time.monotonic() - self.started
        for name, at, action in (
            ("poison", 5, self.poison_order),
            ("erp-503", 25, lambda: self._faults({"fail_next": 4, "fail_status": 503})),
            ("erp-429", 45, lambda: self._faults({"rate_limit_next": 2, "retry_after": 3})),
            ("erp-slow", 65, lambda: self._faults({"timeout_next": 1, "timeout_seconds": 12})),
            *self.extra,
        ):
            if elapsed >= at and name not in self.done:
                self.done.add(name)
                say(f"chaos: {name}")
                try:
                    action()
                except Exception as exc:  # a simulator may be restarting: the demo goes on
                    say(f"chaos {name} skipped: {type(exc).__name__}: {exc}")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--port", type=int, default=int(os.environ.get("CT_DEMO_PORT", 8000)))
    parser.add_argument("--rate", type=float, default=float(os.environ.get("CT_DEMO_RATE", 1.0)))
    parser.add_argument("--duration", type=float, default=0, help="stop after N seconds (0: never)")
    parser.add_argument("--status-every", type=float, default=10.0)
    parser.add_argument(
        "--chaos",
        action=argparse.BooleanOptionalAction,
        default=os.environ.get("CT_DEMO_CHAOS", "1") not in ("0", "false", "no"),
        help="inject ERP faults and one poison order to show retries and dead letters",
    )
    args = parser.parse_args(argv)

    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "controltower.settings")
    os.environ.setdefault("CT_LOG_FORMAT", "console")
    from controltower.engines import data_dir, ensure_engines, stop_engines

    embedded = not (os.environ.get("DATABASE_URL") and os.environ.get("REDIS_URL"))
    say("starting engines" + (" (embedded PostgreSQL/Redis)" if embedded else " (external)"))
    ensure_engines()
    import django

    django.setup()
    from controltower.demo import estate, prices
    from controltower.demo import tills as tills_module

    log_dir = data_dir() / "demo"
    log_dir.mkdir(parents=True, exist_ok=True)

    web_port = port_or_free(args.port)
    erp_port = port_or_free(8101)
    woo_port = port_or_free(8102)
    erp_url = f"http://127.0.0.1:{erp_port}"
    woo_url = f"http://127.0.0.1:{woo_port}"
    sim_urls = {
        name: f"http://127.0.0.1:{port_or_free(default)}"
        for name, (_module, default, _auth) in estate.SIMULATORS.items()
    }
    web_url = f"http://127.0.0.1:{web_port}"
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    sup = Supervisor(log_dir, env)
    py = sys.executable
    stopping = False

    def on_signal(signum: int, frame: Any) -> None:
        nonlocal stopping
        stopping = True

    signal.signal(signal.SIGINT, on_signal)
    signal.signal(signal.SIGTERM, on_signal)
    try:
        say("migrating")
        sup.run("migrate", [py, "manage.py", "migrate", "--noinput"])
        say("seeding the Northwind Outfitters retailer")
        catalog = log_dir / "woo-catalog.json"
        sup.run(
            "seed",
            [
                py,
                "manage.py",
                "seed_demo",
                "--woo-url",
                woo_url,
                "--woo-secret",
                WEBHOOK_SECRET,
                "--erp-url",
                erp_url,
                "--erp-token",
                ERP_TOKEN,
                "--password",
                PASSWORD,
                "--catalog-out",
                str(catalog),
                *estate.seed_args(sim_urls),
            ],
        )
        sup.start(
            "erp-simulator",
            [py, "-m", "integrations.erp.simulator", "--port", str(erp_port), "--token", ERP_TOKEN],
        )
        for name, (module, _default, auth) in estate.SIMULATORS.items():
            port = sim_urls[name].rsplit(":", 1)[1]
            sup.start(name, [py, "-m", module, "--port", port, *auth])
        sup.start(
            "woocommerce-simulator",
            [
                py,
                "-m",
                "integrations.woocommerce.simulator",
                "--port",
                str(woo_port),
                "--consumer-key",
                WOO_KEY,
                "--consumer-secret",
                WOO_SECRET_KEY,
                "--catalog",
                str(catalog),
                "--rate",
                "0",
            ],
        )
        # The production web tier (controltower/topology.py): the buffering front on the demo's
        # port, gunicorn's sync workers behind it, daphne for the websockets.
        from controltower.engines import free_port
        from controltower.topology import web_processes

        for name, argv in web_processes(
            py, port=web_port, gunicorn_port=free_port(), daphne_port=free_port(), workers=2
        ).items():
            sup.start(name, argv)
        sup.start(
            "worker",
            [
                py,
                "-m",
                "celery",
                "-A",
                "controltower",
                "worker",
                "-c",
                "4",  # I/O-bound drains: one inbox + two outbox drainers, and room to spare
                "--loglevel=INFO",
                "--without-gossip",
                "--without-mingle",
                "-n",
                "demo@%h",
            ],
        )
        sup.start(
            "beat",
            [
                py,
                "-m",
                "celery",
                "-A",
                "controltower",
                "beat",
                "--loglevel=INFO",
                "-s",
                str(log_dir / "celerybeat-schedule"),
            ],
        )
        wait_http(f"{erp_url}/_sim/health")
        wait_http(f"{woo_url}/_sim/health")
        wait_http(f"{web_url}/accounts/login/")
        for url in sim_urls.values():
            wait_http(f"{url}/_sim/health")
        estate.register_webhooks(sim_urls, erp_url, web_url)
        hooks = woo_request(woo_url, "GET", "/wp-json/wc/v3/webhooks")
        delivery_url = f"{web_url}/hooks/woocommerce/woo-web/"
        for topic in ("order.created", "order.updated", "order.deleted", "order.restored"):
            if not any(h["topic"] == topic and h["delivery_url"] == delivery_url for h in hooks):
                woo_request(
                    woo_url,
                    "POST",
                    "/wp-json/wc/v3/webhooks",
                    {
                        "name": f"Control Tower {topic}",
                        "topic": topic,
                        "delivery_url": delivery_url,
                        "secret": WEBHOOK_SECRET,
                        "status": "active",
                    },
                )
        # Stock before the first order, so what the web sells is reserved from real figures.
        counted_since = time.time()
        figures = estate.load_stock(sim_urls, erp_url)
        arrived = estate.wait_for_stock(figures, counted_since)
        from django.db import close_old_connections

        close_old_connections()
        accuracy = estate.first_drift_check()
        say(
            f"stock: {arrived['wms']} figures from the WMS, {arrived['erp']} from the ERP (of "
            f"{figures}); first drift check: {accuracy.get('within', 0)} of "
            f"{accuracy.get('pairs', 0)} SKU × location pairs agree"
        )
        tills = tills_module.Tills(sim_urls["pos-simulator"])
        counted = tills.count_stock()
        items = prices.load_prices(erp_url)
        say(f"stores: {counted} shelf figures counted at 10 stores; prices: {items} ERP items")
        woo_request(woo_url, "POST", "/_sim/rate", {"rate": args.rate})

        print(flush=True)
        say(f"Control Tower is up: {web_url}/")
        for username, role in USERS:
            say(f"  log in as {username:<8} / {PASSWORD}  ({role})")
        say(f"  API docs {web_url}/api/docs/ · WooCommerce simulator {woo_url} · ERP {erp_url}")
        gateway_url, wms_url, ledger_url, pos_url = sim_urls.values()
        say(f"  gateway {gateway_url} · WMS {wms_url} · ledger {ledger_url} · POS {pos_url}")
        say(f"  work queue {web_url}/api/v1/exceptions/?state=open")
        say(f"  backlog {web_url}/api/v1/backlog/")
        say(f"  storefront orders arrive at {args.rate:g}/s · Ctrl-C stops everything")
        if args.chaos:
            say("  chaos is on: a poison order, then ERP 503s, 429s and a slow answer (--no-chaos)")
        chaos = Chaos(erp_url, web_url, estate.estate_chaos(sim_urls)) if args.chaos else None
        store = StoreActivity(woo_url)
        checkout = estate.Checkout(
            lambda *a: woo_request(woo_url, *a), sim_urls["gateway-simulator"]
        )
        cancellations = estate.Cancellations(erp_url)
        next_cancel = time.monotonic() + cancellations.every_s
        say("  each web order is paid at the gateway (card: captured; Klarna: captured as it")
        say("  ships), released to the warehouse, shipped in one or two parcels, invoiced by the")
        say("  ERP and posted to the ledger; every ~40 s an order is cancelled at some stage")
        say("  the store trashes an order every ~25 s (watch it arrive as cancelled) and")
        say("  refunds an item of another every ~20 s (watch the Refunds of its order page)")
        say("  stock: the WMS counts every minute, the ERP is pulled; see Stock. A flash sale")
        say("  every ~90 s: a burst of web orders for a SKU the web may sell 5 of (oversells,")
        say("  the storefront told 0); with chaos the warehouse starts miscounting (drift)")
        say("  stores: ten tills ring up a sale every ~6 s (split tenders, gift cards), the")
        say("  odd return and void; store-04 goes offline and uploads its day; a store closes")
        say("  its day every ~70 s (the first drawer 5.00 over: an exception with the difference)")
        say("  price: every ~120 s a sale price under the policy's floor (max 20 % off the ERP)")
        flash = estate.FlashSale(lambda *a: woo_request(woo_url, *a))
        breach = prices.PriceBreach(lambda *a: woo_request(woo_url, *a))
        started = time.monotonic()
        next_status = started
        statuses = 0
        while not stopping:
            if args.duration and time.monotonic() - started > args.duration:
                break
            sup.watch()  # a child that died is started again, with backoff
            if chaos is not None:
                chaos.tick()
            store.tick()
            with contextlib.suppress(Exception):  # the store may be busy; next tick pays it
                checkout.tick()
            try:
                told = flash.tick()
            except Exception as exc:  # the demo goes on; the next sale comes
                told = f"flash sale skipped: {type(exc).__name__}: {exc}"
            if told:
                say(told)
            for name, player in (("till", tills), ("price", breach)):
                try:
                    told = player.tick()
                except Exception as exc:  # a simulator may be restarting: the demo goes on
                    told = f"{name} skipped: {type(exc).__name__}: {exc}"
                if told:
                    say(told)
            if time.monotonic() >= next_cancel:
                next_cancel += cancellations.every_s
                from django.db import close_old_connections

                close_old_connections()
                try:
                    told = cancellations.run()
                except Exception as exc:
                    told = f"cancellation skipped: {type(exc).__name__}: {exc}"
                if told:
                    say(told)
            if time.monotonic() >= next_status:
                from django.db import close_old_connections

                close_old_connections()
                say(status_line())
                statuses += 1
                if statuses % 3 == 0:  # the stores' line every third status
                    with contextlib.suppress(Exception):
                        say(tills_module.till_summary())
                next_status += args.status_every
            time.sleep(0.2)
    finally:
        say("stopping")
        sup.stop()
        stop_engines()
        say("stopped")
    return 0


if __name__ == "__main__":
    sys.exit(main())
