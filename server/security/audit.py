"""The audit log: one JSON line per call (who, from where, what, how it ended); never image bytes.

``AuditInterceptor``, the outermost layer, gives each call its request id and writes the line when the call
ends, whatever ended it (a refusal by an inner layer included). A file is appended to and rotated by size
(``audit.log`` -> ``audit.log.1`` ... ``.N``), created mode 0600; ``-`` writes to stdout. Writes are synchronous
and small (one ``write`` per call).
"""

from __future__ import annotations

import datetime as dt
import hashlib
import io
import json
import logging
import logging.handlers
import os
import re
import sys
import threading
import time
import uuid
from collections.abc import Callable
from typing import Any, TextIO

from server.interceptors import Call, Interceptor, document_chunk_of, document_page_of, images_of, outcome
from server.security.call import REQUEST_ID_KEY, CallInfo, set_current_call

__all__ = ["AuditLog", "AuditInterceptor"]

_REQUEST_ID = re.compile(r"[A-Za-z0-9._:/=+-]{1,128}")
_MAX_AUDIT_IMAGES = 64  # image hashes listed per audit line (a long stream lists its first ones and counts all)


class _PrivateRotatingFileHandler(logging.handlers.RotatingFileHandler):
    """Each new file (the first, and the one after a rotation) is created mode 0600."""

    def _open(self) -> io.TextIOWrapper:
        fd = os.open(self.baseFilename, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
        return os.fdopen(fd, "a", encoding=self.encoding, errors=self.errors)


class AuditLog:
    """Writes audit records. ``AuditLog("")`` is off (``write`` does nothing)."""

    def __init__(self, target: str, max_bytes: int = 16 * 1024 * 1024, keep: int = 5) -> None:
        self.target = target
        self._handler: logging.Handler | None = None
        self._stream: TextIO | None = None  # stdout for "-"; a file goes through _handler
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
            self._handler.handle(logging.makeLogRecord({"msg": line, "levelno": logging.INFO, "levelname": "INFO"}))
        elif self._stream is not None:
            with self._lock:
                self._stream.write(line + "\n")
                self._stream.flush()

    def close(self) -> None:
        if self._handler is not None:
            self._handler.close()


class AuditInterceptor(Interceptor[tuple[Call, CallInfo]]):
    """Gives each call a request id (the caller's ``x-request-id`` when it is sane, else a new one), returns it
    in the trailing metadata and, when an audit log is set, writes one JSON line when the call ends."""

    def __init__(
        self,
        audit: AuditLog,
        with_text: bool = False,
        provenance: Callable[[], tuple[str, dict[str, str]]] | None = None,
    ) -> None:
        self.audit = audit
        self.with_text = with_text
        self.provenance = provenance  # (bundle, precision per stage) for calls whose responses carry none

    async def start(self, call: Call) -> tuple[Call, CallInfo]:
        context = call.context
        given = dict(context.invocation_metadata() or ()).get(REQUEST_ID_KEY)
        request_id = given if isinstance(given, str) and _REQUEST_ID.fullmatch(given) else uuid.uuid4().hex
        info = CallInfo(call.method, request_id, context.peer() or "")
        set_current_call(info)
        context.set_trailing_metadata(((REQUEST_ID_KEY, request_id),))
        return call, info

    async def on_request(self, state: tuple[Call, CallInfo], request: Any) -> None:
        if not self.audit.enabled:
            return
        info = state[1]
        chunk = document_chunk_of(request)
        if chunk is not None:
            if info.document is None:
                info.document = hashlib.sha256()
            info.document.update(chunk)
            info.document_bytes += len(chunk)
        for image in images_of(request):
            which = image.WhichOneof("source")
            data = image.content if which == "content" else image.raw.data if which == "raw" else b""
            info.image_count += 1
            info.image_bytes += len(data)
            if len(info.images) < _MAX_AUDIT_IMAGES:
                info.images.append({"sha256": hashlib.sha256(data).hexdigest(), "bytes": len(data)})

    def on_response(self, state: tuple[Call, CallInfo], response: Any) -> Any:
        if self.audit.enabled:
            _summarize(state[1], response, self.with_text)
        return response

    def finish(self, state: tuple[Call, CallInfo], error: BaseException | None) -> None:
        if not self.audit.enabled:
            return
        call, info = state
        if not info.bundle and info.lines and self.provenance is not None:
            info.bundle, info.precision = self.provenance()
        self.audit.write(_record(info, *outcome(call.context, error), self.with_text))


def _summarize(info: CallInfo, response: Any, with_text: bool) -> None:
    name = response.DESCRIPTOR.full_name if hasattr(response, "DESCRIPTOR") else ""
    page = document_page_of(response)
    if page is not None:
        info.pages += 1
        info.failed_pages += page.HasField("error")
        lines = [line for block in page.blocks for paragraph in block.paragraphs for line in paragraph.lines]
        info.lines += len(lines)
        if with_text:
            info.texts.extend(line.text for line in lines)
    if name == "ocr.v1.BatchRecognizeResponse":
        for item in response.responses:
            _summarize(info, item, with_text)
        return
    if name in ("ocr.v1.RecognizeResponse", "ocr.v1.StreamRecognizeResponse"):
        info.lines += len(response.lines)
        if with_text:
            info.texts.extend(line.text for line in response.lines)
    if name == "ocr.v1.StreamRecognizeResponse":
        info.events += len(response.events)
    if hasattr(response, "provenance") and response.HasField("provenance"):
        info.bundle = response.provenance.bundle_id or info.bundle
        info.precision = dict(response.provenance.stage_precision) or info.precision


def _record(info: CallInfo, status: str, reason: str, with_text: bool) -> dict[str, Any]:
    principal = info.principal
    record: dict[str, Any] = {
        "time": dt.datetime.now(dt.UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z"),
        "request_id": info.request_id,
        "method": info.method,
        "peer": info.peer,
        "principal": principal.name if principal else None,
        "via": principal.via if principal else None,
        "identity": principal.identity if principal else None,
        "status": status,
        "reason": reason or None,
        "latency_ms": round((time.perf_counter() - info.started) * 1000, 2),
        "images": info.images,
        "image_count": info.image_count,
        "image_bytes": info.image_bytes,
        "pixels": info.pixels,
        "lines": info.lines,
        "bundle": info.bundle or None,
        "precision": info.precision or None,
    }
    if info.events:
        record["events"] = info.events
    if info.document is not None or info.pages:  # the file's hash and size, never its password or options
        digest = info.document.hexdigest() if info.document is not None else hashlib.sha256().hexdigest()
        record["document"] = {
            "sha256": digest,
            "bytes": info.document_bytes,
            "pages": info.pages,
            "failed_pages": info.failed_pages,
        }
    if with_text:
        record["text"] = info.texts
    return record
