"""The audit log: one JSON line per call (who, from where, what, how it ended); never image bytes.

A file is appended to and rotated by size (``audit.log`` -> ``audit.log.1`` ... ``.N``), created mode 0600;
``-`` writes to stdout. Writes are synchronous and small (one ``write`` per call).
"""

from __future__ import annotations

import json
import logging
import logging.handlers
import os
import sys
import threading
from typing import Any

__all__ = ["AuditLog"]


class _PrivateRotatingFileHandler(logging.handlers.RotatingFileHandler):
    """Each new file (the first, and the one after a rotation) is created mode 0600."""

    def _open(self):
        fd = os.open(self.baseFilename, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
        return os.fdopen(fd, "a", encoding=self.encoding, errors=self.errors)


class AuditLog:
    """Writes audit records. ``AuditLog("")`` is off (``write`` does nothing)."""

    def __init__(self, target: str, max_bytes: int = 16 * 1024 * 1024, keep: int = 5) -> None:
        self.target = target
        self._handler: logging.Handler | None = None
        self._stream = None
        self._lock = threading.Lock()
        if target == "-":
            self._stream = sys.stdout
        elif target:
            directory = os.path.dirname(os.path.abspath(target))
            os.makedirs(directory, exist_ok=True)
            handler = _PrivateRotatingFileHandler(target, maxBytes=max_bytes, backupCount=keep, encoding="utf-8")
            handler.setFormatter(logging.Formatter("%(message)s"))
            self._handler = handler

    @property
    def enabled(self) -> bool:
        return bool(self.target)

    def write(self, record: dict[str, Any]) -> None:
        if not self.target:
            return
        line = json.dumps(record, ensure_ascii=False, separators=(",", ":"), default=str)
        if self._handler is not None:
            self._handler.handle(logging.makeLogRecord({"msg": line, "levelno": logging.INFO,
                                                        "levelname": "INFO"}))
        else:
            with self._lock:
                self._stream.write(line + "\n")
                self._stream.flush()

    def close(self) -> None:
        if self._handler is not None:
            self._handler.close()
