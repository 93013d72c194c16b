"""CLI: ``python -m integrations.pos.simulator --port 8106 [--webhook URL --secret S]``."""

from __future__ import annotations

import argparse
import logging
import os

from integrations.pos.simulator.server import DEFAULT_TOKEN, PosSimulator
from integrations.simkit import configure_logging, run_until_signal

logger = logging.getLogger(__name__)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m integrations.pos.simulator",
        description="POS simulator: stores' tills speaking Control Tower's POS contract.",
    )
    parser.add_argument("--host", default=os.environ.get("POS_SIM_HOST", "127.0.0.1"))
    parser.add_argument("--port", type=int, default=int(os.environ.get("POS_SIM_PORT", "8106")))
    parser.add_argument("--token", default=os.environ.get("POS_SIM_TOKEN", DEFAULT_TOKEN))
    parser.add_argument("--stores", type=int, default=int(os.environ.get("POS_SIM_STORES", "10")))
    parser.add_argument("--currency", default=os.environ.get("POS_SIM_CURRENCY", "EUR"))
    parser.add_argument("--webhook", default=os.environ.get("POS_SIM_WEBHOOK_URL", ""))
    parser.add_argument("--secret", default=os.environ.get("POS_SIM_WEBHOOK_SECRET", ""))
    return parser


def main(argv: list[str] | None = None) -> None:
    args = build_parser().parse_args(argv)
    configure_logging()
    sim = PosSimulator(
        host=args.host, port=args.port, token=args.token, stores=args.stores, currency=args.currency
    )
    if args.webhook:
        sim.webhooks.add_endpoint(args.webhook, args.secret)
    logger.info("POS simulator with %d stores on %s", args.stores, sim.url)
    run_until_signal(sim)


if __name__ == "__main__":
    main()
