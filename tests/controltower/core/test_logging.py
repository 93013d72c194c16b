from __future__ import annotations

import io
import json
import logging

from controltower.core.context import correlated
from controltower.core.logging import ContextFilter, json_formatter


def test_json_logs_carry_the_correlation_id() -> None:
    # given: the handler the settings configure (JSON formatter + context filter)
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.addFilter(ContextFilter())
    handler.setFormatter(json_formatter())
    logger = logging.getLogger("tests.structured")
    logger.addHandler(handler)
    logger.setLevel(logging.INFO)
    try:
        # when
        with correlated("1b4e28ba-2fa1-11d2-883f-0016d3cca427"):
            logger.info("order %s accepted", "1001")
        logger.info("outside any transaction")
    finally:
        logger.removeHandler(handler)
    # then
    first, second = (json.loads(line) for line in stream.getvalue().splitlines())
    assert first["event"] == "order 1001 accepted"
    assert first["correlation_id"] == "1b4e28ba-2fa1-11d2-883f-0016d3cca427"
    assert first["level"] == "info" and first["logger"] == "tests.structured"
    assert "correlation_id" not in second
