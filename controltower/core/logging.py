"""Structured logs: JSON lines with the correlation id and actor bound to every record."""

from __future__ import annotations

import logging

import structlog

from controltower.core.context import current_actor, current_correlation_id


class ContextFilter(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        if not hasattr(record, "correlation_id"):
            record.correlation_id = current_correlation_id()
        if not hasattr(record, "actor"):
            actor = current_actor()
            record.actor = getattr(actor, "username", None)
        return True


def _add_record_context(
    logger: object, method_name: str, event_dict: dict[str, object]
) -> dict[str, object]:
    record = event_dict.get("_record")
    if isinstance(record, logging.LogRecord):
        for key in ("correlation_id", "actor"):
            value = getattr(record, key, None)
            if value is not None:
                event_dict.setdefault(key, value)
    return event_dict


_PRE_CHAIN = [
    structlog.stdlib.add_log_level,
    structlog.stdlib.add_logger_name,
    structlog.processors.TimeStamper(fmt="iso", utc=True),
    _add_record_context,
]


def json_formatter() -> structlog.stdlib.ProcessorFormatter:
    return structlog.stdlib.ProcessorFormatter(
        foreign_pre_chain=_PRE_CHAIN,
        processors=[
            _add_record_context,
            structlog.stdlib.ProcessorFormatter.remove_processors_meta,
            structlog.processors.format_exc_info,
            structlog.processors.JSONRenderer(),
        ],
    )


def console_formatter() -> structlog.stdlib.ProcessorFormatter:
    return structlog.stdlib.ProcessorFormatter(
        foreign_pre_chain=_PRE_CHAIN,
        processors=[
            _add_record_context,
            structlog.stdlib.ProcessorFormatter.remove_processors_meta,
            structlog.dev.ConsoleRenderer(colors=False),
        ],
    )
