"""Structured JSON logging: one JSON object a line, with the request id bound by RequestIdMiddleware."""

import logging
import logging.config
from typing import Any

import structlog

SHARED_PROCESSORS: list[Any] = [
    structlog.contextvars.merge_contextvars,
    structlog.stdlib.add_log_level,
    structlog.stdlib.add_logger_name,
    structlog.processors.TimeStamper(fmt="iso", utc=True),
]


def configure(settings: dict[str, Any]) -> None:
    """Called by Django with settings.LOGGING; routes stdlib and structlog records through one JSON renderer."""
    structlog.configure(
        processors=[*SHARED_PROCESSORS, structlog.stdlib.ProcessorFormatter.wrap_for_formatter],
        logger_factory=structlog.stdlib.LoggerFactory(),
        wrapper_class=structlog.stdlib.BoundLogger,
        cache_logger_on_first_use=True,
    )
    logging.config.dictConfig(
        {
            "version": 1,
            "disable_existing_loggers": False,
            "formatters": {
                "json": {
                    "()": structlog.stdlib.ProcessorFormatter,
                    "processors": [
                        structlog.stdlib.ProcessorFormatter.remove_processors_meta,
                        structlog.processors.format_exc_info,
                        structlog.processors.JSONRenderer(ensure_ascii=False),
                    ],
                    "foreign_pre_chain": SHARED_PROCESSORS,
                }
            },
            "handlers": {"console": {"class": "logging.StreamHandler", "formatter": "json"}},
            "root": {"handlers": ["console"], "level": settings.get("level", "INFO")},
            "loggers": {
                "django.server": {"level": "WARNING"},
                # Request failures are logged once, by RequestIdMiddleware, with the request id.
                "django.request": {"level": "CRITICAL"},
                # SpiffWorkflow logs every task state change at INFO: a dozen lines per process step.
                "spiff": {"level": "WARNING"},
            },
        }
    )
