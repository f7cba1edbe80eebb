"""The tokens file: sha256-hashed bearer tokens and certificate identities, each with a principal, scopes and
limits; re-read when its mtime changes (checked on each call: one ``stat``).

JSON (or TOML, by the ``.toml`` suffix)::

    {"tokens": [{"sha256": "<hex sha256 of the token>", "principal": "cam-01",
                 "scopes": ["ocr.recognize", "ocr.stream"],
                 "expires": "2027-01-01T00:00:00Z",          # optional: ISO-8601 or Unix seconds
                 "revoked": false,                           # optional
                 "limits": {"calls_per_s": 5, "calls_burst": 10, "pixels_per_s": 2e7,
                            "pixels_burst_s": 2, "max_streams": 2}}],   # optional, each key optional
     "identities": [{"principal": "spiffe://edge.example/device/cam-01", "scopes": ["ocr.stream"],
                     "limits": {...}}]}                      # client certificates (URI SAN or CN)

Limits belong to the principal: the keys given on its entries (later entries win) over ServerConfig's defaults.
A file that fails to parse after a change is not applied: the last good one stays in force and the error is
logged once. Replace the file by renaming a complete new one over it.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import hashlib
import json
import logging
import os
import re
import threading
import time
import tomllib
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from edge_runtime.errors import ConfigurationError
from server.scopes import SCOPES

__all__ = ["Limits", "Grant", "TokenFile", "hash_token"]

log = logging.getLogger(__name__)
_HEX64 = re.compile(r"[0-9a-f]{64}")


def hash_token(token: str) -> str:
    """What the tokens file stores for ``token``: its sha256, lower-case hex."""
    return hashlib.sha256(token.encode()).hexdigest()


@dataclass(frozen=True)
class Limits:
    """A principal's limits; None: ServerConfig's default. 0: no limit."""

    calls_per_s: float | None = None
    calls_burst: float | None = None
    pixels_per_s: float | None = None
    pixels_burst_s: float | None = None
    max_streams: int | None = None

    def over(self, base: Limits) -> Limits:
        """These limits where set, ``base`` elsewhere."""
        return Limits(
            **{
                f.name: getattr(self, f.name) if getattr(self, f.name) is not None else getattr(base, f.name)
                for f in dataclasses.fields(self)
            }
        )


_LIMIT_KEYS = {f.name for f in dataclasses.fields(Limits)}


@dataclass(frozen=True)
class Grant:
    """What one credential proves: who the caller is and what it may do."""

    principal: str
    scopes: frozenset[str]
    expires: float | None = None  # Unix seconds
    revoked: bool = False


@dataclass(frozen=True)
class _Contents:
    tokens: dict[str, Grant]
    identities: dict[str, Grant]
    limits: dict[str, Limits]


class TokenFile:
    """Lookups in a tokens file that follow its changes without a restart."""

    def __init__(self, path: str | os.PathLike) -> None:
        self.path = Path(path)
        self._lock = threading.Lock()
        self._stamp: tuple | None = None
        self._failed_stamp: tuple | None = None
        try:
            self._contents = self._read()
        except OSError as exc:
            raise ConfigurationError(f"tokens file {self.path}: {exc.strerror or exc}", "TOKENS_FILE_INVALID") from None

    # ---- lookups ------------------------------------------------------------------------------------
    def token(self, digest: str) -> Grant | None:
        """The grant of the token whose sha256 hex is ``digest``, or None."""
        return self._current().tokens.get(digest)

    def identity(self, name: str) -> Grant | None:
        """The grant of a client certificate identity (SPIFFE URI or CN), or None."""
        return self._current().identities.get(name)

    def limits(self, principal: str) -> Limits:
        return self._current().limits.get(principal, Limits())

    # ---- reloading ----------------------------------------------------------------------------------
    def _current(self) -> _Contents:
        stamp: tuple[int, int, int] | tuple[str, str]  # the file's version, or why it cannot be read
        try:
            st = os.stat(self.path)
            stamp = (st.st_mtime_ns, st.st_size, st.st_ino)
        except OSError as exc:
            stamp = ("missing", str(exc))
        if stamp != self._stamp and stamp != self._failed_stamp:
            with self._lock:
                if stamp != self._stamp and stamp != self._failed_stamp:
                    try:
                        self._contents = self._read()
                        log.info(
                            "tokens file %s reloaded: %d tokens, %d identities",
                            self.path,
                            len(self._contents.tokens),
                            len(self._contents.identities),
                        )
                    except (OSError, ConfigurationError) as exc:
                        self._failed_stamp = stamp
                        log.error(
                            "tokens file %s not reloaded, the previous one stays in force: %s",
                            self.path,
                            getattr(exc, "message", None) or exc,
                        )
        return self._contents

    def _read(self) -> _Contents:
        st = os.stat(self.path)
        data = self.path.read_bytes()
        stamp = (st.st_mtime_ns, st.st_size, st.st_ino)
        contents = parse(data, toml=self.path.suffix.lower() == ".toml", where=str(self.path))
        self._stamp = stamp
        self._failed_stamp = None
        return contents


def _bad(where: str, message: str) -> ConfigurationError:
    return ConfigurationError(f"tokens file {where}: {message}", "TOKENS_FILE_INVALID")


def _expires(value: Any, where: str) -> float | None:
    if value is None or value == "":
        return None
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return float(value)
    if isinstance(value, str):
        try:
            value = dt.datetime.fromisoformat(value)
        except ValueError:
            raise _bad(where, f"expires {value!r} is not ISO-8601 (2027-01-01T00:00:00Z) or Unix seconds") from None
    if isinstance(value, dt.date) and not isinstance(value, dt.datetime):
        value = dt.datetime(value.year, value.month, value.day)
    if isinstance(value, dt.datetime):
        if value.tzinfo is None:
            value = value.replace(tzinfo=dt.UTC)
        return value.timestamp()
    raise _bad(where, f"expires {value!r} is not a time")


def _grant(entry: Any, where: str) -> Grant:
    if not isinstance(entry, dict):
        raise _bad(where, "each entry must be a table/object")
    principal = entry.get("principal")
    if not isinstance(principal, str) or not principal.strip():
        raise _bad(where, "an entry has no principal")
    scopes = entry.get("scopes", [])
    if not isinstance(scopes, list) or not all(isinstance(s, str) for s in scopes):
        raise _bad(where, f"{principal}: scopes must be a list of names")
    unknown = set(scopes) - set(SCOPES)
    if unknown:
        raise _bad(where, f"{principal}: unknown scope(s) {', '.join(sorted(unknown))}; known: {', '.join(SCOPES)}")
    return Grant(principal, frozenset(scopes), _expires(entry.get("expires"), where), bool(entry.get("revoked")))


def _limits(entry: dict, where: str) -> Limits | None:
    limits = entry.get("limits")
    if limits is None:
        return None
    if not isinstance(limits, dict) or set(limits) - _LIMIT_KEYS:
        raise _bad(where, f"{entry.get('principal')}: limits keys are {', '.join(sorted(_LIMIT_KEYS))}")
    for key, value in limits.items():
        if not isinstance(value, (int, float)) or isinstance(value, bool) or value < 0:
            raise _bad(where, f"{entry.get('principal')}: limits.{key} must be a number >= 0")

    def number(key: str) -> float | None:
        return float(limits[key]) if key in limits else None

    return Limits(
        calls_per_s=number("calls_per_s"),
        calls_burst=number("calls_burst"),
        pixels_per_s=number("pixels_per_s"),
        pixels_burst_s=number("pixels_burst_s"),
        max_streams=int(limits["max_streams"]) if "max_streams" in limits else None,
    )


def parse(data: bytes, toml: bool = False, where: str = "<tokens>") -> _Contents:
    """The contents of a tokens file, or ConfigurationError / TOKENS_FILE_INVALID."""
    try:
        doc = tomllib.loads(data.decode()) if toml else json.loads(data)
    except (ValueError, UnicodeDecodeError) as exc:
        raise _bad(where, f"not valid {'TOML' if toml else 'JSON'}: {exc}") from None
    if not isinstance(doc, dict) or set(doc) - {"tokens", "identities"}:
        raise _bad(where, "the top level must hold only 'tokens' and 'identities'")
    tokens: dict[str, Grant] = {}
    identities: dict[str, Grant] = {}
    limits: dict[str, Limits] = {}
    for kind in ("tokens", "identities"):
        entries = doc.get(kind, [])
        if not isinstance(entries, list):
            raise _bad(where, f"'{kind}' must be a list")
        for entry in entries:
            grant = _grant(entry, where)
            if kind == "tokens":
                digest = str(entry.get("sha256", "")).lower()
                if not _HEX64.fullmatch(digest):
                    raise _bad(where, f"{grant.principal}: sha256 must be 64 hex digits (the token's sha256)")
                if digest in tokens:
                    raise _bad(where, f"{grant.principal}: the same token hash appears twice")
                tokens[digest] = grant
            else:
                identities[grant.principal] = grant
            own = _limits(entry, where)
            if own is not None:
                limits[grant.principal] = own.over(limits.get(grant.principal, Limits()))
    return _Contents(tokens, identities, limits)


def expired(grant: Grant, now: float | None = None) -> bool:
    return grant.expires is not None and (time.time() if now is None else now) >= grant.expires
