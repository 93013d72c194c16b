"""CLI: ``python -m integrations.erp.simulator --host 127.0.0.1 --port 8101 --token secret``."""

from __future__ import annotations

import argparse
import logging
import os

from integrations.erp.simulator.server import ErpSimulator
from integrations.simkit import configure_logging, run_until_signal

logger = logging.getLogger(__name__)


def _flag(value: str) -> bool:
    return value.strip().lower() not in ("0", "false", "no", "off", "")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m integrations.erp.simulator",
        description="ERP simulator speaking Control Tower's generic sales-order JSON contract.",
    )
    parser.add_argument("--host", default=os.environ.get("ERP_SIM_HOST", "127.0.0.1"))
    parser.add_argument("--port", type=int, default=int(os.environ.get("ERP_SIM_PORT", "8101")))
    parser.add_argument(
        "--token",
        default=os.environ.get("ERP_SIM_TOKEN", "secret-token"),
        help="bearer token clients must send (Authorization: Bearer <token>)",
    )
    parser.add_argument(
        "--invoice-after",
        type=float,
        default=float(os.environ.get("ERP_SIM_INVOICE_AFTER_S", "0.2")),
        help="seconds between a confirmed delivery and its invoice",
    )
    parser.add_argument(
        "--no-auto-invoice",
        dest="auto_invoice",
        action="store_false",
        default=_flag(os.environ.get("ERP_SIM_AUTO_INVOICE", "1")),
        help="do not invoice deliveries by themselves (POST /_sim/deliveries/<id>/invoice)",
    )
    parser.add_argument(
        "--webhook-url",
        default=os.environ.get("ERP_SIM_WEBHOOK_URL", ""),
        help="register a webhook endpoint for every event at start",
    )
    parser.add_argument(
        "--webhook-secret",
        default=os.environ.get("ERP_SIM_WEBHOOK_SECRET", ""),
        help="its signing secret (required with --webhook-url)",
    )
    parser.add_argument("--log-level", default=os.environ.get("SIM_LOG_LEVEL", "INFO"))
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.invoice_after < 0:
        parser.error("--invoice-after must be >= 0")
    if args.webhook_url and not args.webhook_secret:
        parser.error("--webhook-url needs --webhook-secret (or ERP_SIM_WEBHOOK_SECRET)")
    configure_logging(args.log_level)
    server = ErpSimulator(
        host=args.host,
        port=args.port,
        token=args.token,
        invoice_after_s=args.invoice_after,
        auto_invoice=args.auto_invoice,
    )
    if args.webhook_url:
        endpoint = server.sender.add_endpoint(args.webhook_url, args.webhook_secret)
        logger.info("webhooks (%s) go to %s", endpoint.id, endpoint.url)
    logger.info("ERP simulator ready on %s", server.url)
    run_until_signal(server)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
