"""gRPC C-core writes its own lines to file descriptor 2, past Python's logging. This module reads them back as log
records, so ``--log-format json`` holds for them too, and turns a refused TLS handshake (which grpc Python reports
to no callback) into one line that names the peer and a stable reason.

``install()`` points fd 2 at a pipe; a daemon thread reads it and logs each C-core line on ``grpc.core`` with the
level of its leading letter (E, W, I), and any other line (Python's own ``sys.stderr``, which now writes into the
pipe) on ``stderr`` (a JSON line as it is), or, with ``passthrough``, writes it unchanged. Handlers must write to
``install()``'s stream (the real stderr, saved first), never to ``sys.stderr``.

The peer of a refused handshake is in C-core's ``handshaker`` trace, which must be switched on before ``grpc`` is
first imported: ``install(trace_handshakes=True)`` adds it to ``GRPC_TRACE`` when it still can, and drops the trace's
own lines; otherwise (grpc already imported, or ``GRPC_VERBOSITY`` above INFO) the peer reads "an unknown peer".
"""

from __future__ import annotations

import atexit
import contextlib
import json
import logging
import os
import re
import select
import sys
import threading
import urllib.parse
from collections.abc import Callable
from dataclasses import dataclass
from typing import TextIO

__all__ = ["CoreLine", "parse_line", "tls_reason", "Handshakes", "install", "installed"]

# absl's prefix, as grpcio 1.6x-1.8x writes it: "E1207 11:39:35.475085   29705 ssl_utils.cc:490] message"
_PREFIX = re.compile(r"([DIWEF])\d{4} \d\d:\d\d:\d\d\.\d+\s+\d+ ([\w./+-]+):(\d+)\] ?(.*)", re.DOTALL)
LEVELS = {"D": logging.DEBUG, "I": logging.INFO, "W": logging.WARNING, "E": logging.ERROR, "F": logging.CRITICAL}

# OpenSSL's (BoringSSL's) wording, first match wins; a refusal with none of these is TLS_HANDSHAKE_FAILED
TLS_REASONS = (
    ("PEER_DID_NOT_RETURN_A_CERTIFICATE", "TLS_NO_CLIENT_CERT"),
    ("certificate has expired", "TLS_CERT_EXPIRED"),
    ("CERTIFICATE_EXPIRED", "TLS_CERT_EXPIRED"),
    ("unable to get local issuer certificate", "TLS_UNKNOWN_CA"),
    ("unable to get issuer certificate", "TLS_UNKNOWN_CA"),
    ("self signed certificate", "TLS_UNKNOWN_CA"),
    ("self-signed certificate", "TLS_UNKNOWN_CA"),
    ("certificate signature failure", "TLS_UNKNOWN_CA"),
)
_FAILED = "Handshake failed with error"  # ssl_transport_security.cc, one per refused handshake
_PEER = re.compile(r"endpoint_peer_address=([^,}\s]+)")
_TRACE_FILES = ("handshaker.cc", "channel_trace.h", "trace.cc")  # the handshaker trace's own lines

log = logging.getLogger("grpc.core")
tls_log = logging.getLogger("server.tls")


@dataclass(frozen=True)
class CoreLine:
    """One C-core log message (its continuation lines included)."""

    level: int
    source: str  # file:line in C-core
    message: str


def parse_line(text: str) -> CoreLine | None:
    """The C-core message in ``text``, or None when it is not one (a Python line, say)."""
    match = _PREFIX.fullmatch(text.rstrip("\n"))
    if match is None:
        return None
    letter, file, line, message = match.groups()
    return CoreLine(LEVELS[letter], f"{file}:{line}", message)


def tls_reason(text: str) -> str:
    """A stable reason for OpenSSL's account of a refused handshake."""
    return next((reason for needle, reason in TLS_REASONS if needle in text), "TLS_HANDSHAKE_FAILED")


def _peer(text: str) -> str | None:
    match = _PEER.search(text)
    if match is None:
        return None
    address = urllib.parse.unquote(match.group(1))  # "ipv6:%5B::1%5D:5000" -> "[::1]:5000"
    return address.split(":", 1)[1] if address.startswith(("ipv4:", "ipv6:")) else address


class Handshakes:
    """Turns C-core's lines about a refused TLS handshake into one line: "TLS handshake refused from <peer>:
    <reason>". ``traced``: the handshaker trace is on, so its failure line (which names the peer) is the one to
    report, and OpenSSL's own line, which comes first and names no peer, is dropped."""

    def __init__(self, traced: bool) -> None:
        self.traced = traced

    def handle(self, line: CoreLine) -> bool:
        """True when ``line`` was about a handshake (reported or dropped), False to log it as it is."""
        file = line.source.split(":", 1)[0]
        if _FAILED in line.message and file.startswith("ssl_transport_security"):
            if not self.traced:
                self._report("an unknown peer", line.message)
            return True
        if self.traced and file in _TRACE_FILES:
            if file == "handshaker.cc" and "error=OK" not in line.message and "handshake failed" in line.message:
                self._report(_peer(line.message) or "an unknown peer", line.message)
            return True
        return False

    @staticmethod
    def _report(peer: str, text: str) -> None:
        reason = tls_reason(text)
        tls_log.warning("TLS handshake refused from %s: %s", peer, reason, extra={"peer": peer, "reason": reason})


@dataclass
class _Installed:
    stream: TextIO  # the real stderr
    saved_fd: int
    thread: threading.Thread


_installed: _Installed | None = None


def installed() -> TextIO | None:
    """The real stderr while fd 2 is read back (None when it is not)."""
    return _installed.stream if _installed is not None else None


def install(*, passthrough: bool, trace_handshakes: bool = True) -> TextIO:
    """Read fd 2 back as log records from now on; returns the real stderr for the log handlers. ``passthrough``:
    a line that is not C-core's goes to the real stderr unchanged (text logs), else it is logged (JSON logs).
    Idempotent: a second call returns the same stream."""
    global _installed
    if _installed is not None:
        return _installed.stream
    traced = trace_handshakes and _enable_handshake_trace()
    sys.stderr.flush()
    saved_fd = os.dup(2)
    stream = os.fdopen(saved_fd, "w", buffering=1, encoding="utf-8", errors="replace", closefd=False)
    read_fd, write_fd = os.pipe()
    os.dup2(write_fd, 2)
    os.close(write_fd)
    handshakes = Handshakes(traced)

    def other(text: str) -> None:
        if passthrough or _is_json(text):
            stream.write(text + "\n")
        else:
            logging.getLogger("stderr").warning("%s", text)

    thread = threading.Thread(target=_read, args=(read_fd, handshakes, other), name="grpc-core-log", daemon=True)
    thread.start()
    _installed = _Installed(stream, saved_fd, thread)
    atexit.register(_uninstall)
    return stream


def _is_json(text: str) -> bool:
    try:
        return text.startswith("{") and isinstance(json.loads(text), dict)
    except ValueError:
        return False


def _enable_handshake_trace() -> bool:
    """Add ``handshaker`` to GRPC_TRACE: only before grpc's first import (C-core reads it once, then)."""
    if "grpc" in sys.modules or os.environ.get("GRPC_VERBOSITY", "").upper() in ("ERROR", "NONE", "WARNING"):
        return False
    current = os.environ.get("GRPC_TRACE", "")
    if "handshaker" in current.split(","):
        return False  # asked for by the operator: keep its lines
    os.environ["GRPC_TRACE"] = ",".join(filter(None, (current, "handshaker")))
    return True


def _uninstall() -> None:
    """At exit: fd 2 back to the real stderr (so late writes cannot fill a pipe nobody reads), then let the reader
    finish what is in the pipe."""
    global _installed
    if _installed is None:
        return
    with contextlib.suppress(OSError, ValueError):  # a closed stderr has nothing left to flush
        sys.stderr.flush()
    os.dup2(_installed.saved_fd, 2)  # closes the pipe's last write end: the reader sees its end
    _installed.thread.join(2.0)
    _installed = None


def _read(fd: int, handshakes: Handshakes, other: Callable[[str], None]) -> None:
    """Split the pipe into messages: a C-core prefix starts one; lines without it that arrive with it (in the same
    burst) continue it; a line without it and nothing to continue is someone else's."""
    pending: list[str] = []
    buffer = b""

    def flush() -> None:
        if pending:
            _emit("\n".join(pending), handshakes, other)
            pending.clear()

    while True:
        ready, _, _ = select.select([fd], [], [], 0.05 if pending else None)  # idle: block, no polling
        if not ready:
            flush()  # the burst is over: the message is complete
            continue
        chunk = os.read(fd, 65536)
        if not chunk:
            break
        buffer += chunk
        *lines, buffer = buffer.split(b"\n")
        for raw in lines:
            text = raw.decode("utf-8", errors="replace")
            if _PREFIX.match(text):
                flush()
                pending.append(text)
            elif pending:
                pending.append(text)
            elif text.strip():
                other(text)
    if buffer:
        pending.append(buffer.decode("utf-8", errors="replace"))
    flush()
    os.close(fd)


def _emit(text: str, handshakes: Handshakes, other: Callable[[str], None]) -> None:
    line = parse_line(text)
    if line is None:
        for part in text.splitlines():
            other(part)
        return
    try:
        if handshakes.handle(line):
            return
        log.log(line.level, "%s", line.message.strip(), extra={"source": line.source})
    except Exception:  # the reader must outlive any one bad line
        pass
