"""Structured logs: one JSON object a line (or readable key=value on a terminal), never a secret."""

from __future__ import annotations

import contextlib
import faulthandler
import functools
import io
import logging
import re
import signal
import sys
from typing import Any

import structlog

__all__ = ["LIBRARY_LOGGERS", "configure_logging", "dump_stacks_on_sigusr1", "get_logger", "redact", "set_verbose"]

_SECRET_KEYS = re.compile(
    r"(pass(word)?|secret|token|cookie|authorization|session|code_verifier|id_token|"
    r"access_token|refresh_token|api_key|csrf)",
    re.I,
)
_BEARER = re.compile(r"(Bearer\s+)[A-Za-z0-9._~+/=-]+", re.I)

# Libraries whose informational lines ("setup plugin alembic.autogenerate…", "Running upgrade…") are
# chatter for whoever runs a command: shown only with ``--verbose``.
LIBRARY_LOGGERS = ("alembic", "httpx", "httpcore", "apscheduler", "aiosmtpd", "multipart")
_verbose = {"on": False}


def set_verbose(on: bool) -> None:
    """Show (or hide again) the libraries' informational lines; applied now and by every later configuration."""
    _verbose["on"] = on
    for name in LIBRARY_LOGGERS:
        logging.getLogger(name).setLevel(logging.NOTSET if on else logging.WARNING)


@functools.lru_cache(maxsize=4096)  # the keys are the code's own names: a few hundred at most
def _secret_key(key: str) -> bool:
    return _SECRET_KEYS.search(key) is not None


def redact(_logger: Any, _method: str, event: dict[str, Any]) -> dict[str, Any]:
    """Drop secret values whatever the key they hide under; mask bearer tokens inside text."""
    for key, value in list(event.items()):
        if _secret_key(key):
            event[key] = "[redacted]"
        elif isinstance(value, str) and "bearer" in value.lower():  # (the search itself costs more than this test)
            event[key] = _BEARER.sub(r"\1[redacted]", value)
    return event


def configure_logging(level: str = "INFO", json_output: bool = True) -> None:
    """Route stdlib and structlog records through one renderer on stderr."""
    shared: list[Any] = [
        structlog.contextvars.merge_contextvars,
        structlog.processors.add_log_level,
        structlog.processors.TimeStamper(fmt="iso", utc=True),
        redact,
        structlog.processors.format_exc_info,  # a traceback as text in the line ("exception")
    ]
    renderer: Any = structlog.processors.JSONRenderer() if json_output else structlog.dev.ConsoleRenderer()
    structlog.configure(
        processors=[*shared, structlog.stdlib.ProcessorFormatter.wrap_for_formatter],
        logger_factory=structlog.stdlib.LoggerFactory(),
        wrapper_class=structlog.stdlib.BoundLogger,
        cache_logger_on_first_use=True,
    )
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(
        structlog.stdlib.ProcessorFormatter(
            processors=[structlog.stdlib.ProcessorFormatter.remove_processors_meta, renderer],
            foreign_pre_chain=[*shared, structlog.stdlib.ExtraAdder()],
        )
    )
    root = logging.getLogger()
    root.handlers = [handler]
    root.setLevel(level.upper())
    set_verbose(_verbose["on"])
    for noisy in ("uvicorn.access",):  # our request log replaces it (it would print query strings)
        logging.getLogger(noisy).handlers = []
        logging.getLogger(noisy).propagate = False


def get_logger(name: str = "talents") -> Any:
    return structlog.get_logger(name)


def dump_stacks_on_sigusr1() -> None:
    """``kill -USR1 <pid>`` writes every thread's stack to the process's standard error (its log): what a worker
    that does not stop, or a request that never answers, is waiting for."""
    with contextlib.suppress(AttributeError, ValueError, io.UnsupportedOperation):  # no real standard error
        faulthandler.register(signal.SIGUSR1, file=sys.__stderr__, all_threads=True)
