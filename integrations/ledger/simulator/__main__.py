"""CLI: ``python -m integrations.ledger.simulator --host 127.0.0.1 --port 8105 --token secret``."""

from __future__ import annotations

import argparse
import logging
import os

from integrations.ledger.simulator.server import DEFAULT_PORT, DEFAULT_TOKEN, LedgerSimulator
from integrations.simkit import configure_logging, run_until_signal

logger = logging.getLogger(__name__)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m integrations.ledger.simulator",
        description="General-ledger simulator speaking Control Tower's journal-batch contract.",
    )
    parser.add_argument("--host", default=os.environ.get("LEDGER_SIM_HOST", "127.0.0.1"))
    parser.add_argument(
        "--port", type=int, default=int(os.environ.get("LEDGER_SIM_PORT", str(DEFAULT_PORT)))
    )
    parser.add_argument(
        "--token",
        default=os.environ.get("LEDGER_SIM_TOKEN", DEFAULT_TOKEN),
        help="bearer token clients must send (Authorization: Bearer <token>)",
    )
    parser.add_argument(
        "--close",
        action="append",
        default=[],
        metavar="YYYY-MM",
        help="start with this month closed for the default legal entity (repeatable)",
    )
    parser.add_argument("--log-level", default=os.environ.get("SIM_LOG_LEVEL", "INFO"))
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    configure_logging(args.log_level)
    server = LedgerSimulator(host=args.host, port=args.port, token=args.token)
    for month in args.close:
        try:
            server.books.set_period(month, "closed", "default")
        except ValueError as exc:
            parser.error(str(exc))
    logger.info("ledger simulator ready on %s", server.url)
    run_until_signal(server)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
