"""CLI: ``python -m integrations.payments.simulator --port 8103 --webhook-url … --webhook-secret …``
(the secret signs the webhooks; the endpoint can also be added later at /_sim/webhook_endpoints)."""

from __future__ import annotations

import argparse
import logging
import os

from integrations.payments.simulator.server import DEFAULT_SECRET_KEY, PaymentsSimulator
from integrations.simkit import configure_logging, run_until_signal

logger = logging.getLogger(__name__)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m integrations.payments.simulator",
        description="Payment gateway simulator shaped after Stripe's PaymentIntents API.",
    )
    parser.add_argument("--host", default=os.environ.get("PAYMENTS_SIM_HOST", "127.0.0.1"))
    parser.add_argument(
        "--port", type=int, default=int(os.environ.get("PAYMENTS_SIM_PORT", "8103"))
    )
    parser.add_argument(
        "--secret-key",
        default=os.environ.get("PAYMENTS_SIM_SECRET_KEY", DEFAULT_SECRET_KEY),
        help="API key clients must send (Authorization: Bearer <key>)",
    )
    parser.add_argument(
        "--webhook-url",
        default=os.environ.get("PAYMENTS_SIM_WEBHOOK_URL", ""),
        help="register this webhook endpoint at start (needs --webhook-secret)",
    )
    parser.add_argument(
        "--webhook-secret", default=os.environ.get("PAYMENTS_SIM_WEBHOOK_SECRET", "")
    )
    parser.add_argument("--log-level", default=os.environ.get("SIM_LOG_LEVEL", "INFO"))
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.webhook_url and not args.webhook_secret:
        parser.error("--webhook-url needs --webhook-secret")
    configure_logging(args.log_level)
    server = PaymentsSimulator(host=args.host, port=args.port, secret_key=args.secret_key)
    if args.webhook_url:
        endpoint = server.webhooks.add_endpoint(args.webhook_url, args.webhook_secret)
        logger.info("webhook endpoint %s -> %s", endpoint.id, endpoint.url)
    logger.info("payments simulator ready on %s", server.url)
    run_until_signal(server)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
