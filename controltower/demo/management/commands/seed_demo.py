"""``manage.py seed_demo``: create or update the Northwind Outfitters demo retailer."""

from __future__ import annotations

import json
import logging
import time
from pathlib import Path
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from controltower.demo.seed import catalog_for_woocommerce, seed_demo

logger = logging.getLogger(__name__)


def _system(spec: str) -> tuple[str, tuple[str, dict[str, str]]]:
    head, *pairs = spec.split(",")
    kind, _, url = head.partition("=")
    if kind not in ("payments", "wms", "finance", "pos") or not url:
        raise CommandError(
            f"--system {spec!r}: expected payments|wms|finance|pos=URL,key=value,..."
        )
    credentials = dict(pair.split("=", 1) for pair in pairs if "=" in pair)
    return kind, (url, credentials)


class Command(BaseCommand):
    help = (
        "Seed the Northwind Outfitters demo (catalog, locations, stock, finance, connections, "
        "users). Idempotent: a second run changes nothing."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--woo-url", default="http://127.0.0.1:8102", help="WooCommerce URL")
        parser.add_argument(
            "--woo-secret", default="demo-webhook-secret", help="WooCommerce webhook secret"
        )
        parser.add_argument("--woo-consumer-key", default="ck_demo", help="REST consumer key")
        parser.add_argument("--woo-consumer-secret", default="cs_demo", help="REST consumer secret")
        parser.add_argument("--erp-url", default="http://127.0.0.1:8101", help="ERP base URL")
        parser.add_argument("--erp-token", default="demo-erp-token", help="ERP API token")
        parser.add_argument(
            "--erp-webhook-secret", default="", help="secret the ERP signs its webhooks with"
        )
        parser.add_argument(
            "--password", default="controltower", help="password for the demo users"
        )
        parser.add_argument(
            "--system",
            action="append",
            default=[],
            metavar="KIND=URL,KEY=VALUE,...",
            help="also connect a system: payments, wms, finance or pos, its base URL and "
            "credentials (e.g. wms=http://127.0.0.1:8104,token=wms-secret-token,webhook_secret=s)",
        )
        parser.add_argument(
            "--catalog-out",
            type=Path,
            default=None,
            help="also write the WooCommerce simulator's --catalog JSON file here",
        )

    def handle(self, *args: Any, **options: Any) -> None:
        started = time.monotonic()
        counts = seed_demo(
            woo_base_url=options["woo_url"],
            woo_webhook_secret=options["woo_secret"],
            woo_consumer_key=options["woo_consumer_key"],
            woo_consumer_secret=options["woo_consumer_secret"],
            erp_base_url=options["erp_url"],
            erp_token=options["erp_token"],
            erp_webhook_secret=options["erp_webhook_secret"],
            password=options["password"],
            systems=dict(_system(spec) for spec in options["system"]),
        )
        elapsed = time.monotonic() - started
        width = max(len(key) for key in counts)
        for key, value in counts.items():
            self.stdout.write(f"{key:<{width}}  {value}")
        self.stdout.write(self.style.SUCCESS(f"demo seeded in {elapsed:.1f} s"))
        catalog_out: Path | None = options["catalog_out"]
        if catalog_out is not None:
            items = catalog_for_woocommerce()
            catalog_out.parent.mkdir(parents=True, exist_ok=True)
            catalog_out.write_text(json.dumps(items, indent=2, ensure_ascii=False) + "\n")
            self.stdout.write(f"wrote {len(items)} catalog items to {catalog_out}")
