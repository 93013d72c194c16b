"""CLI: ``python -m integrations.woocommerce.simulator --port 8102 --consumer-key ck_x ...``."""

from __future__ import annotations

import argparse
import json
import logging
import os
from pathlib import Path
from typing import Any

from integrations.simkit import configure_logging, run_until_signal
from integrations.woocommerce.simulator.server import WooCommerceSimulator

logger = logging.getLogger(__name__)


def build_parser() -> argparse.ArgumentParser:
    env = os.environ.get
    parser = argparse.ArgumentParser(
        prog="python -m integrations.woocommerce.simulator",
        description="WooCommerce simulator: REST API v3 + signed webhook deliveries.",
    )
    parser.add_argument("--host", default=env("WOO_SIM_HOST", "127.0.0.1"))
    parser.add_argument("--port", type=int, default=int(env("WOO_SIM_PORT", "8102")))
    parser.add_argument("--consumer-key", default=env("WOO_SIM_CONSUMER_KEY", "ck_test"))
    parser.add_argument("--consumer-secret", default=env("WOO_SIM_CONSUMER_SECRET", "cs_test"))
    parser.add_argument(
        "--catalog", type=Path, default=None, help="JSON file: list of catalog items"
    )
    parser.add_argument(
        "--rate",
        type=float,
        default=float(env("WOO_SIM_RATE", "0")),
        help="orders per second generated continuously (0 = off)",
    )
    parser.add_argument(
        "--site-url", default=env("WOO_SIM_SITE_URL"), help="defaults to http://host:port/"
    )
    parser.add_argument("--timezone", default=env("WOO_SIM_TIMEZONE", "Europe/Amsterdam"))
    parser.add_argument("--seed", type=int, default=None, help="seed the order generator")
    parser.add_argument(
        "--delivery-timeout", type=float, default=5.0, help="webhook delivery timeout (s)"
    )
    parser.add_argument(
        "--tls",
        action="store_true",
        default=env("WOO_SIM_TLS", "") in ("1", "true"),
        help="serve https with a self-signed certificate made at start",
    )
    parser.add_argument("--tls-cert", type=Path, default=None, help="PEM certificate (https)")
    parser.add_argument("--tls-key", type=Path, default=None, help="PEM private key (https)")
    parser.add_argument(
        "--key-permissions",
        choices=("read", "write", "read_write"),
        default=env("WOO_SIM_KEY_PERMISSIONS", "read_write"),
        help="permissions of the API key, as set in WooCommerce > Settings > Advanced",
    )
    parser.add_argument("--log-level", default=env("SIM_LOG_LEVEL", "INFO"))
    return parser


def load_catalog(path: Path | None) -> list[dict[str, Any]] | None:
    if path is None:
        return None
    data = json.loads(path.read_text(encoding="utf-8"))
    if isinstance(data, dict) and "items" in data:
        data = data["items"]
    if not isinstance(data, list):
        raise SystemExit(f"{path}: catalog must be a JSON list of items")
    return data


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    configure_logging(args.log_level)
    try:
        catalog = load_catalog(args.catalog)
        server = WooCommerceSimulator(
            host=args.host,
            port=args.port,
            consumer_key=args.consumer_key,
            consumer_secret=args.consumer_secret,
            catalog=catalog,
            rate=args.rate,
            site_url=args.site_url,
            timezone=args.timezone,
            seed=args.seed,
            delivery_timeout=args.delivery_timeout,
            tls=args.tls,
            tls_cert=args.tls_cert,
            tls_key=args.tls_key,
            key_permissions=args.key_permissions,
        )
    except (OSError, ValueError) as exc:
        parser.error(str(exc))
    logger.info("WooCommerce simulator ready on %s (rate %s orders/s)", server.url, args.rate)
    if server.tls_cert is not None:
        logger.info("TLS certificate (trust it in clients): %s", server.tls_cert)
    run_until_signal(server)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
