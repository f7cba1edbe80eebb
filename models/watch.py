"""What a served bundle is made of on disk: a cheap fingerprint that changes when its files or its gate record
change (a new version of the files, a newly gated precision), and a full check that what is there is whole.

A server polls the fingerprint (a few ``stat`` calls) and only reads and hashes files when it changes.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any

from models.bundle import STAGES, sha256_file
from models.gate_record import RECORD

__all__ = ["fingerprint", "problems", "content_id"]

BUNDLE_STAMP = "bundle.json"


def _paths(directory: Path, backend: str) -> list[Path]:
    """The files a backend's engine may read: the bundle's own files and its gate folder's files."""
    paths = [directory / BUNDLE_STAMP, directory / "dict.txt", *(directory / f"{s}.onnx" for s in STAGES)]
    int8 = directory / "int8" / backend
    if int8.is_dir():
        paths += sorted(p for p in int8.iterdir() if p.is_file())
    else:
        paths.append(int8 / RECORD)
    return paths


def fingerprint(directory: Path, backend: str) -> str:
    """Changes when any file ``backend`` may serve from ``directory`` (a bundle's folder) is written, added or
    removed (size and modification time, not contents: cheap enough to poll every few seconds)."""
    digest = hashlib.sha256()
    for path in _paths(directory, backend):
        try:
            stat = path.stat()
            digest.update(f"{path.name}\0{stat.st_size}\0{stat.st_mtime_ns}\n".encode())
        except FileNotFoundError:
            digest.update(f"{path.name}\0-\n".encode())
    return digest.hexdigest()


def content_id(directory: Path, backend: str) -> str:
    """Names the models' contents (the sha256s ``bundle.json`` and the gate record list), the same on every
    replica that holds the same files: part of a shared result cache's key, so a new version never answers
    from an old one's entries."""
    stamp = _json(directory / BUNDLE_STAMP) or {}
    record = _json(directory / "int8" / backend / RECORD) or {}
    named = {"files": stamp.get("files"), "dictionary": stamp.get("dictionary"), "int8": record.get("artifacts")}
    return hashlib.sha256(json.dumps(named, sort_keys=True).encode()).hexdigest()[:16]


def problems(directory: Path, backend: str) -> list[str]:
    """Why the files in ``directory`` are not a whole bundle for ``backend`` (empty when they are): every model
    file must match the sha256 its ``bundle.json`` names, and every INT8 artifact the one its gate record names
    (a copy still under way, a truncated file or a hand-edited one is refused)."""
    found: list[str] = []
    stamp = _json(directory / BUNDLE_STAMP)
    if stamp is None:
        return [f"{directory / BUNDLE_STAMP} is missing or not JSON"]
    for stage, entry in stamp.get("files", {}).items():
        found += _check(directory / f"{stage}.onnx", entry.get("sha256"))
    dictionary = stamp.get("dictionary")
    if isinstance(dictionary, dict):
        found += _check(directory / "dict.txt", dictionary.get("sha256"))
    int8 = directory / "int8" / backend
    record = _json(int8 / RECORD)
    if record is None and (int8 / RECORD).exists():
        found.append(f"{int8 / RECORD} is not JSON")
    for name, digest in (record or {}).get("artifacts", {}).items():
        found += _check(int8 / name, digest)
    return found


def _check(path: Path, digest: Any) -> list[str]:
    if not path.is_file():
        return [f"{path.name} is missing"]
    if isinstance(digest, str) and digest and sha256_file(path) != digest:
        return [f"{path.name} does not match its sha256"]
    return []


def _json(path: Path) -> dict[str, Any] | None:
    try:
        value = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    return value if isinstance(value, dict) else None
