"""CLI: ``python -m integrations.wms.simulator --host 127.0.0.1 --port 8104 --token secret``."""

from __future__ import annotations

import argparse
import logging
import os

from integrations.simkit import configure_logging, run_until_signal
from integrations.wms.simulator.server import DEFAULT_TOKEN, WmsSimulator

logger = logging.getLogger(__name__)


def _env_flag(name: str) -> bool:
    return os.environ.get(name, "").strip().lower() in ("1", "true", "yes", "on")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m integrations.wms.simulator",
        description="WMS simulator speaking Control Tower's generic release/shipment contract.",
    )
    parser.add_argument("--host", default=os.environ.get("WMS_SIM_HOST", "127.0.0.1"))
    parser.add_argument("--port", type=int, default=int(os.environ.get("WMS_SIM_PORT", "8104")))
    parser.add_argument(
        "--token",
        default=os.environ.get("WMS_SIM_TOKEN", DEFAULT_TOKEN),
        help="bearer token clients must send (Authorization: Bearer <token>)",
    )
    parser.add_argument(
        "--no-auto-progress",
        action="store_true",
        default=_env_flag("WMS_SIM_NO_AUTO_PROGRESS"),
        help="do not move releases along by themselves (use /_sim/releases/<id>/advance)",
    )
    parser.add_argument(
        "--split-shipments",
        action="store_true",
        default=_env_flag("WMS_SIM_SPLIT_SHIPMENTS"),
        help="ship multi-line releases in two parcels",
    )
    parser.add_argument(
        "--webhook-url",
        default=os.environ.get("WMS_SIM_WEBHOOK_URL", ""),
        help="register this webhook endpoint at start (needs --webhook-secret)",
    )
    parser.add_argument("--webhook-secret", default=os.environ.get("WMS_SIM_WEBHOOK_SECRET", ""))
    parser.add_argument("--seed", type=int, default=None, help="deterministic tracking numbers")
    parser.add_argument("--log-level", default=os.environ.get("SIM_LOG_LEVEL", "INFO"))
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.webhook_url and not args.webhook_secret:
        parser.error("--webhook-url needs --webhook-secret")
    configure_logging(args.log_level)
    server = WmsSimulator(
        host=args.host,
        port=args.port,
        token=args.token,
        seed=args.seed,
        config={
            "auto_progress": not args.no_auto_progress,
            "split_shipments": args.split_shipments,
        },
    )
    if args.webhook_url:
        endpoint = server.webhooks.add_endpoint(args.webhook_url, args.webhook_secret)
        logger.info("webhook endpoint %s -> %s", endpoint.id, endpoint.url)
    logger.info("WMS simulator ready on %s", server.url)
    run_until_signal(server)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
