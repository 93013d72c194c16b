"""CLI: ``python -m integrations.erp.simulator --host 127.0.0.1 --port 8101 --token secret``."""

from __future__ import annotations

import argparse
import logging
import os

from integrations.erp.simulator.server import ErpSimulator
from integrations.simkit import configure_logging, run_until_signal

logger = logging.getLogger(__name__)


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
    parser.add_argument("--log-level", default=os.environ.get("SIM_LOG_LEVEL", "INFO"))
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    configure_logging(args.log_level)
    server = ErpSimulator(host=args.host, port=args.port, token=args.token)
    logger.info("ERP simulator ready on %s", server.url)
    run_until_signal(server)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
