"""Logs: JSON lines on stderr for machines, readable text on a terminal, secrets never.

Everything goes through stdlib :mod:`logging` (ccxt, websockets and aiohttp log there too), so
one handler formats all of it. The JSON formatter is python-json-logger's; every record carries
``ts`` (UTC ISO-8601, milliseconds), ``level``, ``logger``, ``event`` (a stable snake_case name,
the message when none is given) and the context fields set by :func:`setup_logging`
(``mode``, ``run_id``) plus whatever ``extra=`` a call adds (``venue``, ``client_order_id``,
``reason``…).

Code logs through :class:`EventLog` (``event_log(__name__)``): the stable event name and the
fields are arguments, ``log.warning("orphan_cancelled", "cancelled orphan %s", cid,
venue=name, client_order_id=cid)``, and :meth:`EventLog.bind` fixes fields such as ``venue``
once for a component. :func:`describe` names an exception for a log line.

Secrets are redacted twice over: keys are :class:`~pydantic.SecretStr` everywhere in pegbot,
and a filter masks any field named like a secret (``api_key``, ``secret``, ``signature``…)
and any ``signature=``/``apiKey=`` fragment in a message (ccxt puts them in URLs it logs).
"""

from __future__ import annotations

import logging
import re
import sys
import time
from collections.abc import Mapping
from typing import IO, Any, Literal

from pythonjsonlogger.json import JsonFormatter

__all__ = [
    "REDACTED",
    "EventLog",
    "JsonLogFormatter",
    "RedactFilter",
    "describe",
    "event_log",
    "setup_logging",
]

REDACTED = "**********"
_SECRET_KEY_RE = re.compile(r"(api[_-]?key|secret|signature|password|passphrase|token)", re.I)
# key=value or "key": "value" fragments inside free text (URLs, request bodies, headers).
_SECRET_TEXT_RE = re.compile(
    r"(?P<k>(?:signature|apiKey|api_key|secret|X-MBX-APIKEY)[\"']?\s*[=:]\s*[\"']?)"
    r"(?P<v>[A-Za-z0-9+/_\-.]{6,})",
    re.I,
)
# Attributes every LogRecord has; anything else came through ``extra=``.
_STD_ATTRS = frozenset(
    vars(logging.LogRecord("", 0, "", 0, "", None, None)).keys() | {"message", "asctime"}
)


def redact_text(text: str) -> str:
    """Mask secret-looking ``key=value`` fragments in free text."""
    return _SECRET_TEXT_RE.sub(lambda m: m.group("k") + REDACTED, text)


def _redact(value: Any, key: str = "") -> Any:
    if key and _SECRET_KEY_RE.search(key):
        return REDACTED
    if isinstance(value, Mapping):
        return {k: _redact(v, str(k)) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_redact(v) for v in value]
    if isinstance(value, str):
        return redact_text(value)
    return value


class RedactFilter(logging.Filter):
    """Masks secrets in a record's message, arguments and extra fields."""

    def filter(self, record: logging.LogRecord) -> bool:
        """Redact in place; never drops a record."""
        if record.args:
            try:
                record.msg = record.getMessage()
            except (TypeError, ValueError):
                record.msg = str(record.msg)
            record.args = None
        if isinstance(record.msg, str):
            record.msg = redact_text(record.msg)
        for key, value in list(vars(record).items()):
            if key not in _STD_ATTRS:
                setattr(record, key, _redact(value, key))
        return True


class _ContextFilter(logging.Filter):
    def __init__(self, context: Mapping[str, Any]) -> None:
        super().__init__()
        self.context = dict(context)

    def filter(self, record: logging.LogRecord) -> bool:
        for key, value in self.context.items():
            if not hasattr(record, key):
                setattr(record, key, value)
        return True


def _iso_ms(created: float) -> str:
    return (
        time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(created))
        + f".{int(created * 1000) % 1000:03d}Z"
    )


class JsonLogFormatter(JsonFormatter):
    """One JSON object per line with pegbot's standard fields first."""

    def add_fields(
        self, log_data: dict[str, Any], record: logging.LogRecord, message_dict: dict[str, Any]
    ) -> None:
        """Fill ``ts``, ``level``, ``logger``, ``event`` and ``message``, then the extras."""
        super().add_fields(log_data, record, message_dict)
        log_data["ts"] = _iso_ms(record.created)
        log_data["level"] = record.levelname.lower()
        log_data["logger"] = record.name
        log_data.setdefault("event", getattr(record, "event", None) or _event_name(record))
        if record.exc_info and "exc_info" not in log_data:
            log_data["exc_info"] = self.formatException(record.exc_info)
        for key in ("exc_info", "stack_info"):  # venue errors quote signed URLs and bodies
            if isinstance(log_data.get(key), str):
                log_data[key] = redact_text(log_data[key])


def _event_name(record: logging.LogRecord) -> str:
    text = str(record.msg)
    return re.sub(r"[^a-z0-9]+", "_", text.lower()).strip("_")[:48] or "log"


class _TextFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        base = (
            f"{_iso_ms(record.created)} {record.levelname:<7} {record.name}: {record.getMessage()}"
        )
        extras = {
            k: v for k, v in vars(record).items() if k not in _STD_ATTRS and not k.startswith("_")
        }
        if extras:
            base += "  " + " ".join(f"{k}={v}" for k, v in extras.items())
        if record.exc_info:
            base += "\n" + redact_text(self.formatException(record.exc_info))
        return base


def setup_logging(
    fmt: Literal["auto", "json", "text"] = "auto",
    level: str = "INFO",
    stream: IO[str] | None = None,
    context: Mapping[str, Any] | None = None,
) -> logging.Handler:
    """Route every logger to one stderr handler (replacing a previous pegbot handler).

    Args:
        fmt: ``json``, ``text``, or ``auto`` (text on a terminal, JSON otherwise).
        level: Root level.
        stream: Where to write (default stderr).
        context: Fields added to every record (``mode``, ``run_id``).

    Returns:
        The installed handler (tests remove it with ``logging.getLogger().removeHandler``).
    """
    out = stream if stream is not None else sys.stderr
    if fmt == "auto":
        fmt = "text" if out.isatty() else "json"
    handler = logging.StreamHandler(out)
    handler.set_name("pegbot")
    handler.addFilter(RedactFilter())
    if context:
        handler.addFilter(_ContextFilter(context))
    handler.setFormatter(JsonLogFormatter() if fmt == "json" else _TextFormatter())
    root = logging.getLogger()
    for old in list(root.handlers):
        if old.get_name() == "pegbot":
            root.removeHandler(old)
    root.addHandler(handler)
    root.setLevel(level)
    # ccxt and websockets are chatty at DEBUG; keep them at INFO unless asked.
    for noisy in ("ccxt", "websockets", "aiohttp.access"):
        logging.getLogger(noisy).setLevel(max(logging.INFO, root.level))
    return handler


# -- the structured logging helper ----------------------------------------------------------


class EventLog:
    """A stdlib logger whose calls take a stable event name and fields as arguments.

    Fields become attributes of the record (as ``extra=`` would), so the JSON formatter, the
    redaction filter and ``caplog`` see them unchanged; fields bound with :meth:`bind` are on
    every record of this log unless a call sets them itself.

    Args:
        logger: The stdlib logger to write to.
        context: Fields bound to every record.
    """

    __slots__ = ("_context", "logger")

    def __init__(self, logger: logging.Logger, context: Mapping[str, Any] | None = None) -> None:
        self.logger = logger
        self._context = dict(context or {})

    def bind(self, **fields: Any) -> EventLog:
        """A log writing to the same logger with ``fields`` added to every record."""
        return EventLog(self.logger, {**self._context, **fields})

    def log(
        self, level: int, event: str, msg: str, *args: Any, exc_info: Any = None, **fields: Any
    ) -> None:
        """Log ``msg % args`` at ``level`` as ``event`` with ``fields``."""
        if self.logger.isEnabledFor(level):
            extra = {**self._context, **fields, "event": event}
            self.logger.log(level, msg, *args, exc_info=exc_info, extra=extra, stacklevel=3)

    def debug(self, event: str, msg: str, *args: Any, **fields: Any) -> None:
        """Log at DEBUG (see :meth:`log`)."""
        self.log(logging.DEBUG, event, msg, *args, **fields)

    def info(self, event: str, msg: str, *args: Any, **fields: Any) -> None:
        """Log at INFO (see :meth:`log`)."""
        self.log(logging.INFO, event, msg, *args, **fields)

    def warning(self, event: str, msg: str, *args: Any, **fields: Any) -> None:
        """Log at WARNING (see :meth:`log`)."""
        self.log(logging.WARNING, event, msg, *args, **fields)

    def error(self, event: str, msg: str, *args: Any, **fields: Any) -> None:
        """Log at ERROR (see :meth:`log`)."""
        self.log(logging.ERROR, event, msg, *args, **fields)

    def exception(self, event: str, msg: str, *args: Any, **fields: Any) -> None:
        """Log at ERROR with the exception being handled (see :meth:`log`)."""
        self.log(logging.ERROR, event, msg, *args, exc_info=True, **fields)


def event_log(name: str, **context: Any) -> EventLog:
    """The :class:`EventLog` of logger ``name`` with ``context`` bound."""
    return EventLog(logging.getLogger(name), context)


def describe(exc: BaseException) -> str:
    """An exception as a log line can show it: its type, and its message if it has one.

    ``str()`` of a ``TimeoutError`` (and of many bare exceptions) is empty; a log line
    reading ``failed:`` and nothing else has cost an operator the cause before.
    """
    if isinstance(exc, BaseExceptionGroup):  # a TaskGroup's: the causes are inside
        return "; ".join(describe(e) for e in exc.exceptions)
    text = str(exc)
    name = type(exc).__name__
    cause = exc.__cause__
    if cause is not None and type(cause) is not type(exc):
        name += f" (from {type(cause).__name__})"  # e.g. the ccxt class behind our mapping
    return f"{name}: {text}" if text else f"{name} (no message): {exc!r}"
