"""``OUT/report.json``: what a batch did with each document, kept so that a crash loses at most the documents in
flight and a second run skips what is done and verified.

Each finished document's record is appended (and flushed) to ``OUT/report.json.journal`` at once; ``report.json``
itself is rewritten atomically (a temporary file renamed over it) at most every ``SAVE_EVERY`` seconds and at the
end, and the journal then emptied. Loading reads ``report.json`` and replays the journal over it (a torn last line,
from a crash mid-write, is ignored).

A document is done when its record has no ``error``, was read with the same settings, its file still has the
size and modification time it had when read, and every output asked for exists with the SHA-256 recorded for it.
"""

from __future__ import annotations

import hashlib
import json
import os
import time
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

__all__ = ["REPORT", "JOURNAL", "Report", "sha256_of", "write_atomically"]

REPORT = "report.json"
JOURNAL = "report.json.journal"
VERSION = 1
SAVE_EVERY = 1.0  # seconds between rewrites of report.json while a run goes on (the journal holds the rest)

Record = dict[str, Any]


def sha256_of(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as file:
        for chunk in iter(lambda: file.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def write_atomically(path: Path, text: str) -> None:
    """``text`` written to ``path`` through a temporary file renamed over it: readers see the old or the new."""
    part = path.with_name(path.name + ".part")
    with part.open("w", encoding="utf-8") as file:
        file.write(text)
        file.flush()
        os.fsync(file.fileno())
    os.replace(part, path)


class Report:
    """The records of the documents written into one output folder, by name (see ``batch_inputs``)."""

    def __init__(self, folder: Path, records: dict[str, Record] | None = None, runs: int = 0) -> None:
        self.folder = folder
        self.records: dict[str, Record] = records or {}
        self.runs = runs
        self._saved = time.monotonic()

    @classmethod
    def load(cls, folder: Path) -> Report:
        """The folder's report, its journal replayed; an empty one where there is none (or it is not ours)."""
        records: dict[str, Record] = {}
        runs = 0
        try:
            saved = json.loads((folder / REPORT).read_text(encoding="utf-8"))
            if isinstance(saved, dict) and saved.get("version") == VERSION:
                records = {name: r for name, r in saved.get("inputs", {}).items() if isinstance(r, dict)}
                runs = int(saved.get("runs", 0))
        except (OSError, ValueError):
            pass  # none yet, or unreadable: every document is read again
        try:
            lines = (folder / JOURNAL).read_text(encoding="utf-8").splitlines()
        except OSError:
            lines = []
        for line in lines:
            try:
                record = json.loads(line)
            except ValueError:
                continue  # the line a crash cut short
            if isinstance(record, dict) and isinstance(record.get("name"), str):
                records[record["name"]] = record
                runs = max(runs, int(record.get("run", 0)))
        return cls(folder, records, runs)

    def is_done(self, name: str, path: Path, settings: Mapping[str, Any], formats: Iterable[str]) -> bool:
        """Whether ``name`` (read from ``path``) was read without error, with ``settings``, from the file as it is
        now, and every output of ``formats`` is there as written."""
        record = self.records.get(name)
        if record is None or record.get("error") or record.get("settings") != settings:
            return False
        try:
            stat = path.stat()
        except OSError:
            return False
        if (stat.st_size, stat.st_mtime_ns) != (record.get("size"), record.get("mtime_ns")):
            return False
        outputs = record.get("outputs", {})
        for fmt in formats:
            output = outputs.get(fmt)
            if not isinstance(output, dict) or not isinstance(output.get("file"), str):
                return False
            try:
                if sha256_of(self.folder / output["file"]) != output.get("sha256"):
                    return False
            except OSError:
                return False
        return True

    def add(self, record: Record) -> None:
        """Keep ``record`` (a finished document): journaled at once, report.json rewritten now and then."""
        self.records[record["name"]] = record
        with (self.folder / JOURNAL).open("a", encoding="utf-8") as journal:
            journal.write(json.dumps(record, ensure_ascii=False) + "\n")
        if time.monotonic() - self._saved >= SAVE_EVERY:
            self.save()

    def save(self, last_run: Mapping[str, Any] | None = None) -> None:
        """report.json rewritten atomically with every record, totals and (given) this run's figures."""
        self.folder.mkdir(parents=True, exist_ok=True)
        report: dict[str, Any] = {"version": VERSION, "runs": self.runs, "totals": self.totals()}
        if last_run is not None:
            report["last_run"] = dict(last_run)
        report["inputs"] = dict(sorted(self.records.items()))
        write_atomically(self.folder / REPORT, json.dumps(report, ensure_ascii=False, indent=1) + "\n")
        (self.folder / JOURNAL).unlink(missing_ok=True)  # everything in it is in report.json now
        self._saved = time.monotonic()

    def totals(self) -> dict[str, Any]:
        records = list(self.records.values())
        return {
            "inputs": len(records),
            "failed": sum(1 for r in records if r.get("error")),
            "pages": sum(int(r.get("pages", 0)) for r in records),
            "page_errors": sum(len(r.get("page_errors", [])) for r in records),
            "seconds": round(sum(float(r.get("seconds", 0.0)) for r in records), 3),
        }
