"""Server log lines, as text or JSON (``--log-format json``), each carrying the request id of the call it
belongs to: the id the security interceptor took from ``x-request-id`` (or made) and returns in the trailing
metadata, read from the same context variable, so logs, audit lines and the client's error name one id."""

from __future__ import annotations

import datetime as dt
import json
import logging
import sys
import threading
from types import TracebackType
from typing import Any, TextIO

from server import corelog

__all__ = ["request_id", "configure", "announce", "failure", "JsonFormatter", "RequestIdFilter"]

TEXT_FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s%(request_suffix)s"
_STANDARD = set(vars(logging.makeLogRecord({}))) | {"message", "asctime", "request_id", "request_suffix"}


def request_id() -> str | None:
    """The request id of the call the current task serves (None outside a call, e.g. in executor threads)."""
    from server.security.call import current_call  # here, not above: it imports grpc, which configure() precedes

    call = current_call()
    return call.request_id if call is not None else None


class RequestIdFilter(logging.Filter):
    """Adds ``record.request_id`` (and a `` [request_id=...]`` suffix for the text format)."""

    def filter(self, record: logging.LogRecord) -> bool:
        rid = getattr(record, "request_id", None) or request_id()
        record.request_id = rid
        record.request_suffix = f" [request_id={rid}]" if rid else ""
        return True


class JsonFormatter(logging.Formatter):
    """One JSON object per line: time (UTC, ms), level, logger, message, request_id, exception, and any
    ``extra=`` fields."""

    def format(self, record: logging.LogRecord) -> str:
        out: dict[str, Any] = {
            "time": dt.datetime.fromtimestamp(record.created, dt.UTC)
            .isoformat(timespec="milliseconds")
            .replace("+00:00", "Z"),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
        }
        rid = getattr(record, "request_id", None)
        if rid:
            out["request_id"] = rid
        for key, value in vars(record).items():
            if key not in _STANDARD and not key.startswith("_"):
                out[key] = value if isinstance(value, (str, int, float, bool, type(None))) else repr(value)
        if record.exc_info:
            out["exception"] = self.formatException(record.exc_info)
        return json.dumps(out, ensure_ascii=False)


QUIET_LIBRARIES = ("alembic", "sqlalchemy", "urllib3", "asyncio", "grpc")

_format = "text"


def configure(
    level: str = "INFO", fmt: str = "text", stream: TextIO | None = None, core: bool = True, handshakes: bool = True
) -> None:
    """Set up the root logger for the server process (replaces its handlers). ``core``: read gRPC C-core's lines
    on fd 2 back as records (server.corelog); ``handshakes`` (a TLS server) also switches on the trace that names
    the peer of a refused TLS handshake. With ``fmt`` json, every other line on stderr and Python's warnings
    become JSON records too."""
    global _format
    _format = fmt
    if core and stream is None:
        stream = corelog.install(passthrough=fmt != "json", trace_handshakes=handshakes)
    handler = logging.StreamHandler(stream or sys.stderr)
    handler.addFilter(RequestIdFilter())
    handler.setFormatter(JsonFormatter() if fmt == "json" else logging.Formatter(TEXT_FORMAT))
    root = logging.getLogger()
    for old in list(root.handlers):
        root.removeHandler(old)
    root.addHandler(handler)
    root.setLevel(level.upper())
    for chatty in QUIET_LIBRARIES:  # their INFO lines say nothing an operator acts on (alembic: 7 per start)
        logging.getLogger(chatty).setLevel(max(logging.WARNING, root.level))
    if fmt == "json":
        logging.captureWarnings(True)
        sys.excepthook = _log_uncaught
        threading.excepthook = lambda args: _log_uncaught(args.exc_type, args.exc_value, args.exc_traceback)


def _log_uncaught(kind: type[BaseException], value: BaseException | None, tb: TracebackType | None) -> None:
    if value is not None:
        logging.getLogger("server").critical("uncaught %s", kind.__name__, exc_info=(kind, value, tb))


def _line(message: str, level: int, **fields: Any) -> str:
    if _format != "json":
        return message
    record = logging.makeLogRecord(
        {"name": "server", "levelno": level, "levelname": logging.getLevelName(level), "msg": message, **fields}
    )
    return JsonFormatter().format(record)


def use_format(fmt: str) -> None:
    """Before ``configure``: the format for ``failure`` lines (start-up mistakes found while reading the flags)."""
    global _format
    _format = fmt


def announce(message: str) -> None:
    """A line on stdout that scripts and tests wait for ("ocr server listening on port N"): the plain text, or
    with JSON logs a JSON record whose message is that text (so a search for the text still finds it)."""
    print(_line(message, logging.INFO), flush=True)


def failure(message: str, reason: str) -> None:
    """A start-up failure's one line on stderr, ``error: <message> [<REASON>]`` (as a JSON record in JSON mode)."""
    stream = corelog.installed() or sys.stderr  # past the fd-2 reader, which would wrap a JSON line again
    print(_line(f"error: {message} [{reason}]", logging.ERROR, reason=reason), file=stream, flush=True)
