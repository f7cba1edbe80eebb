"""The agent's durable outbox: a SQLite file in WAL mode holding every produced event until the central has it.

An event counts as produced once the transaction that appends it commits; ``synchronous=FULL`` (the default)
fsyncs the WAL at each commit, so a committed event survives a SIGKILL *and* a power cut (NORMAL survives the
kill only: the last commits may roll back when the power goes). Appends are a few per second per camera, so
the fsync is cheap. Sequences (1, 2, ... per stream) are assigned inside the appending transaction, so they
are gap-free by construction; events the outbox drops (DROP_OLDEST making room, TTL) leave declared gaps,
events it rejects (REJECT_NEW) never get a sequence. sqlite3 directly, not SQLAlchemy: one file owned by one
process, on the camera's CPU budget; the schema version is ``PRAGMA user_version``.
"""

from __future__ import annotations

import json
import sqlite3
import threading
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, replace
from itertools import groupby
from pathlib import Path

from clients.ocr_client.fleet_types import DROP_REASONS, Event, EventField, Gap

__all__ = ["Outbox", "Backlog", "POLICIES", "encode_event", "decode_event"]

POLICIES = ("DROP_OLDEST", "REJECT_NEW")
SCHEMA_VERSION = 1
SCHEMA = """
CREATE TABLE IF NOT EXISTS events (
    id INTEGER PRIMARY KEY,              -- commit order: DROP_OLDEST drops the lowest ids first
    stream_id TEXT NOT NULL, sequence INTEGER NOT NULL, capture_time REAL NOT NULL, created REAL NOT NULL,
    size INTEGER NOT NULL, payload TEXT NOT NULL, UNIQUE (stream_id, sequence));
CREATE INDEX IF NOT EXISTS events_created ON events (created);
CREATE TABLE IF NOT EXISTS streams (stream_id TEXT PRIMARY KEY, next_sequence INTEGER NOT NULL,
    acked INTEGER NOT NULL);
CREATE TABLE IF NOT EXISTS gaps (stream_id TEXT NOT NULL, first INTEGER NOT NULL, last INTEGER NOT NULL,
    reason TEXT NOT NULL, PRIMARY KEY (stream_id, first));     -- pending until acknowledged
CREATE TABLE IF NOT EXISTS dropped (stream_id TEXT NOT NULL, first INTEGER NOT NULL, last INTEGER NOT NULL,
    reason TEXT NOT NULL, at REAL NOT NULL);                   -- the log of every drop, kept
CREATE TABLE IF NOT EXISTS counters (reason TEXT PRIMARY KEY, events INTEGER NOT NULL);
CREATE TABLE IF NOT EXISTS quarantine (stream_id TEXT NOT NULL, sequence INTEGER NOT NULL, refusal TEXT NOT NULL,
    message TEXT NOT NULL, at REAL NOT NULL, payload TEXT NOT NULL, PRIMARY KEY (stream_id, sequence));
"""
_FIELDS = (
    "capture_time",
    "type",
    "track_id",
    "text",
    "confidence",
    "polygon",
    "frame_width",
    "frame_height",
    "bundle",
    "backend",
    "precision",
    "previous_text",
    "frame_sequence",
    "fields",  # last: a payload written before it was added decodes without it
)


def encode_event(event: Event) -> str:
    """An event's fields without (stream_id, sequence), which the outbox owns, as compact JSON (its key fields as
    [name, value, text, confidence, field_set] lists)."""
    values = [getattr(event, name) for name in _FIELDS[:-1]]
    values.append([[f.name, f.value, f.text, f.confidence, f.field_set] for f in event.fields])
    return json.dumps(values, separators=(",", ":"), ensure_ascii=False)


def decode_event(stream_id: str, sequence: int, payload: str) -> Event:
    data = json.loads(payload)
    known = _FIELDS if len(data) == len(_FIELDS) else _FIELDS[:-1]  # an outbox of an agent before key fields
    values = dict(zip(known, data, strict=True))
    values["polygon"] = tuple(tuple(p) for p in values["polygon"])
    values["fields"] = tuple(EventField(*f) for f in values.get("fields", ()))
    return Event(stream_id=stream_id, sequence=sequence, **values)


@dataclass(frozen=True)
class Backlog:
    """What waits for the central: committed, unacknowledged events, and the drop totals by reason."""

    events: int
    bytes: int
    oldest_capture_time: float | None
    drops: Mapping[str, int]
    gaps: int


class Outbox:
    """Thread-safe: producers append from their threads, the uploader reads and acknowledges from its own.

    ``max_bytes`` bounds the payload bytes of unacknowledged events (0: no bound); ``ttl_s`` drops events
    committed longer ago than that and still unacknowledged (0: never); ``policy`` says what a full outbox does.
    """

    def __init__(
        self,
        path: str | Path,
        *,
        max_bytes: int = 0,
        ttl_s: float = 0.0,
        policy: str = "DROP_OLDEST",
        synchronous: str = "FULL",
        clock: Callable[[], float] = time.time,
    ) -> None:
        if policy not in POLICIES:
            raise ValueError(f"outbox policy {policy!r} is not one of {', '.join(POLICIES)}")
        if synchronous not in ("FULL", "NORMAL"):
            raise ValueError("outbox synchronous must be FULL or NORMAL")
        self.path, self.max_bytes, self.ttl_s, self.policy, self.clock = Path(path), max_bytes, ttl_s, policy, clock
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._db = sqlite3.connect(self.path, isolation_level=None, check_same_thread=False)
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute(f"PRAGMA synchronous={synchronous}")
        self._lock = threading.Lock()
        self._listeners: list[Callable[[], None]] = []
        with self._tx():
            version = self._db.execute("PRAGMA user_version").fetchone()[0]
            if version > SCHEMA_VERSION:
                raise RuntimeError(f"outbox {self.path} has schema {version}, newer than this agent's")
            for statement in SCHEMA.split(";"):
                if statement.strip():
                    self._db.execute(statement)
            self._db.execute(f"PRAGMA user_version={SCHEMA_VERSION}")
            self._recount()

    # ---- plumbing -----------------------------------------------------------------------------------------
    def _tx(self) -> _Transaction:
        return _Transaction(self)

    def _recount(self) -> None:
        """After a rollback: the byte total from the table again."""
        self._bytes = self._db.execute("SELECT COALESCE(SUM(size), 0) FROM events").fetchone()[0]

    @property
    def journal_mode(self) -> str:
        with self._lock:
            return self._db.execute("PRAGMA journal_mode").fetchone()[0]

    def on_append(self, listener: Callable[[], None]) -> None:
        """Call ``listener`` (from the appending thread) after each commit that added events."""
        self._listeners.append(listener)

    def close(self) -> None:
        with self._lock:
            self._db.close()

    # ---- producing ----------------------------------------------------------------------------------------
    def append(self, stream_id: str, events: Sequence[Event]) -> list[Event]:
        """Commit ``events`` of one stream (their ``stream_id`` and ``sequence`` are ignored) in one transaction;
        returns them with the sequences they got. Under REJECT_NEW the events that do not fit are not stored
        (counted REJECTED_NEW, no sequence); under DROP_OLDEST the oldest undelivered events of any stream make
        room (counted OUTBOX_FULL, declared as gaps)."""
        if not stream_id:
            raise ValueError("an event needs a stream_id")
        if not events:
            return []
        encoded = [encode_event(e) for e in events]
        now = self.clock()
        with self._tx():
            self._expire(now)
            sizes = [len(p.encode()) for p in encoded]
            if self.max_bytes and self.policy == "REJECT_NEW":
                room, keep = self.max_bytes - self._bytes, 0
                while keep < len(sizes) and sizes[keep] <= room:
                    room -= sizes[keep]
                    keep += 1
                if keep < len(sizes):
                    self._count("REJECTED_NEW", len(sizes) - keep)
                encoded, sizes, events = encoded[:keep], sizes[:keep], events[:keep]
                if not events:
                    return []
            row = self._db.execute("SELECT next_sequence FROM streams WHERE stream_id = ?", (stream_id,)).fetchone()
            first = row[0] if row else 1
            if row is None:
                self._db.execute("INSERT INTO streams VALUES (?, 1, 0)", (stream_id,))
            self._db.executemany(
                "INSERT INTO events (stream_id, sequence, capture_time, created, size, payload) VALUES (?,?,?,?,?,?)",
                [
                    (stream_id, first + i, e.capture_time, now, size, p)
                    for i, (e, size, p) in enumerate(zip(events, sizes, encoded, strict=True))
                ],
            )
            self._db.execute(
                "UPDATE streams SET next_sequence = ? WHERE stream_id = ?", (first + len(events), stream_id)
            )
            self._bytes += sum(sizes)
            if self.max_bytes and self._bytes > self.max_bytes:  # DROP_OLDEST (REJECT_NEW never gets here)
                self._drop_oldest(self._bytes - self.max_bytes, now)
        for listener in self._listeners:
            listener()
        return [replace(e, stream_id=stream_id, sequence=first + i) for i, e in enumerate(events)]

    def _drop_oldest(self, excess: int, now: float) -> None:
        rows, freed = [], 0
        for row in self._db.execute("SELECT id, stream_id, sequence, size FROM events ORDER BY id"):
            rows.append(row)
            freed += row[3]
            if freed >= excess:
                break
        self._drop(rows, "OUTBOX_FULL", now)

    def _expire(self, now: float) -> None:
        if self.ttl_s > 0:
            rows = self._db.execute(
                "SELECT id, stream_id, sequence, size FROM events WHERE created < ? ORDER BY id", (now - self.ttl_s,)
            ).fetchall()
            self._drop(rows, "EXPIRED", now)

    def _drop(self, rows: list[tuple[int, str, int, int]], reason: str, now: float) -> None:
        if not rows:
            return
        self._db.executemany("DELETE FROM events WHERE id = ?", [(r[0],) for r in rows])
        self._bytes -= sum(r[3] for r in rows)
        by_stream = sorted((r[1], r[2]) for r in rows)
        for stream_id, items in groupby(by_stream, key=lambda r: r[0]):
            sequences = [s for _, s in items]
            for _, consecutive in groupby(enumerate(sequences), key=lambda t: t[1] - t[0]):
                run = [s for _, s in consecutive]
                gap = (stream_id, run[0], run[-1], reason)
                self._db.execute("INSERT INTO gaps VALUES (?,?,?,?)", gap)
                self._db.execute("INSERT INTO dropped VALUES (?,?,?,?,?)", (*gap, now))
        self._count(reason, len(rows))

    def _count(self, reason: str, n: int) -> None:
        self._db.execute(
            "INSERT INTO counters VALUES (?, ?) ON CONFLICT (reason) DO UPDATE SET events = events + ?", (reason, n, n)
        )

    def expire(self) -> int:
        """Drop what outlived the TTL now (appends do it too); returns how many events."""
        with self._tx():
            before = self._drop_total("EXPIRED")
            self._expire(self.clock())
            return self._drop_total("EXPIRED") - before

    def _drop_total(self, reason: str) -> int:
        row = self._db.execute("SELECT events FROM counters WHERE reason = ?", (reason,)).fetchone()
        return row[0] if row else 0

    def quarantine(self, stream_id: str, sequence: int, refusal: str, message: str = "") -> bool:
        """The central refused this event as invalid (``refusal``: its reason): keep the event in the quarantine
        table, out of the stream, and declare its sequence a REFUSED gap so the stream's later events go on.
        Returns False when the event is no longer waiting (acknowledged or dropped meanwhile)."""
        now = self.clock()
        with self._tx():
            row = self._db.execute(
                "SELECT id, stream_id, sequence, size, payload FROM events WHERE stream_id = ? AND sequence = ?",
                (stream_id, sequence),
            ).fetchone()
            if row is None:
                return False
            self._db.execute(
                "INSERT OR REPLACE INTO quarantine VALUES (?,?,?,?,?,?)",
                (stream_id, sequence, refusal, message[:2000], now, row[4]),
            )
            self._drop([row[:4]], "REFUSED", now)
            return True

    def quarantined(self) -> list[tuple[Event, str, str]]:
        """Every event the central refused: (event, refusal reason, message), kept for an operator."""
        with self._lock:
            rows = self._db.execute(
                "SELECT stream_id, sequence, payload, refusal, message FROM quarantine ORDER BY at"
            ).fetchall()
        return [(decode_event(s, n, p), r, m) for s, n, p, r, m in rows]

    # ---- delivering ---------------------------------------------------------------------------------------
    def pending(
        self, limit: int = 500, max_bytes: int = 1 << 20, after: Mapping[str, int] | None = None
    ) -> tuple[list[Event], list[Gap]]:
        """The next batch: up to ``limit`` events and ``max_bytes`` payload bytes (at least one event), taken
        from the streams in turn, in sequence order per stream, above ``after`` (stream -> sequence already
        sent), and the pending gaps that come before or among them (so the central can pass them in order)."""
        after = dict(after or {})
        with self._lock:
            streams = [r[0] for r in self._db.execute("SELECT stream_id FROM streams ORDER BY stream_id")]
            queues: list[list[tuple]] = []
            for stream_id in streams:
                rows = self._db.execute(
                    "SELECT stream_id, sequence, size, payload FROM events WHERE stream_id = ? AND sequence > ? "
                    "ORDER BY sequence LIMIT ?",
                    (stream_id, after.get(stream_id, 0), limit),
                ).fetchall()
                if rows:
                    queues.append(rows)
            gap_rows = self._db.execute(
                "SELECT stream_id, first, last, reason FROM gaps ORDER BY stream_id, first"
            ).fetchall()
        chosen: list[tuple] = []
        size = 0
        while queues and len(chosen) < limit:
            for queue in list(queues):
                row = queue.pop(0)
                if chosen and size + row[2] > max_bytes:
                    queues = []
                    break
                chosen.append(row)
                size += row[2]
                if not queue:
                    queues.remove(queue)
                if len(chosen) >= limit:
                    break
        events = [decode_event(r[0], r[1], r[3]) for r in chosen]
        top: dict[str, int] = {}
        for e in events:
            top[e.stream_id] = e.sequence
        gaps = [
            Gap(s, first, last, reason)
            for s, first, last, reason in gap_rows
            if last > after.get(s, 0) and first <= top.get(s, _frontier(s, after, gap_rows)) + 1
        ]
        return events, gaps

    def ack(self, stream_id: str, sequence: int) -> int:
        """The central has everything of ``stream_id`` up to ``sequence``: forget it. Never goes backwards; a
        mark above what this outbox ever assigned (its file was replaced) moves the next sequence past it, so
        no sequence is used twice. Returns the stream's acknowledged sequence."""
        with self._tx():
            row = self._db.execute(
                "SELECT next_sequence, acked FROM streams WHERE stream_id = ?", (stream_id,)
            ).fetchone()
            if row is None:
                self._db.execute("INSERT INTO streams VALUES (?, ?, ?)", (stream_id, sequence + 1, sequence))
                return sequence
            if sequence <= row[1]:
                return row[1]
            freed = self._db.execute(
                "SELECT COALESCE(SUM(size), 0) FROM events WHERE stream_id = ? AND sequence <= ?", (stream_id, sequence)
            ).fetchone()[0]
            self._db.execute("DELETE FROM events WHERE stream_id = ? AND sequence <= ?", (stream_id, sequence))
            self._db.execute("DELETE FROM gaps WHERE stream_id = ? AND last <= ?", (stream_id, sequence))
            self._db.execute(
                "UPDATE streams SET acked = ?, next_sequence = MAX(next_sequence, ?) WHERE stream_id = ?",
                (sequence, sequence + 1, stream_id),
            )
            self._bytes -= freed
            return sequence

    def reconcile(self, marks: Mapping[str, int]) -> None:
        """The central's marks from a hello: acknowledge what it already has."""
        for stream_id, sequence in marks.items():
            self.ack(stream_id, sequence)

    # ---- looking ------------------------------------------------------------------------------------------
    def acked(self) -> dict[str, int]:
        with self._lock:
            return dict(self._db.execute("SELECT stream_id, acked FROM streams"))

    def last_sequences(self) -> dict[str, int]:
        """Per stream, the last sequence assigned."""
        with self._lock:
            return {s: n - 1 for s, n in self._db.execute("SELECT stream_id, next_sequence FROM streams")}

    def backlog(self) -> Backlog:
        with self._lock:
            events, size, oldest = self._db.execute(
                "SELECT COUNT(*), COALESCE(SUM(size), 0), MIN(capture_time) FROM events"
            ).fetchone()
            drops = {reason: 0 for reason in DROP_REASONS}
            drops.update(dict(self._db.execute("SELECT reason, events FROM counters")))
            gaps = self._db.execute("SELECT COUNT(*) FROM gaps").fetchone()[0]
        return Backlog(events, size, oldest, drops, gaps)

    def dropped(self, stream_id: str | None = None) -> list[Gap]:
        """Every range ever dropped (acknowledged or not), in drop order: exactly which events were lost."""
        with self._lock:
            rows = self._db.execute(
                "SELECT stream_id, first, last, reason FROM dropped WHERE ? IS NULL OR stream_id = ? ORDER BY rowid",
                (stream_id, stream_id),
            ).fetchall()
        return [Gap(*row) for row in rows]

    def events(self, stream_id: str) -> list[Event]:
        """The stream's unacknowledged events, in order (for tests and the agent's own checks)."""
        with self._lock:
            rows = self._db.execute(
                "SELECT stream_id, sequence, payload FROM events WHERE stream_id = ? ORDER BY sequence", (stream_id,)
            ).fetchall()
        return [decode_event(*row) for row in rows]


def _frontier(stream_id: str, after: Mapping[str, int], gap_rows: Iterable[tuple]) -> int:
    """Without events of the stream in the batch: the end of the chain of gaps right above ``after``."""
    top = after.get(stream_id, 0)
    for s, first, last, _ in gap_rows:
        if s == stream_id and first <= top + 1 < last + 1:
            top = last
    return top


class _Transaction:
    """``BEGIN IMMEDIATE`` .. ``COMMIT`` under the outbox's lock (rolled back on an exception)."""

    def __init__(self, outbox: Outbox) -> None:
        self.outbox = outbox

    def __enter__(self) -> None:
        self.outbox._lock.acquire()
        try:
            self.outbox._db.execute("BEGIN IMMEDIATE")
        except BaseException:
            self.outbox._lock.release()
            raise

    def __exit__(self, kind: type[BaseException] | None, *exc: object) -> None:
        db = self.outbox._db
        try:
            if kind is None:
                db.execute("COMMIT")
            else:
                db.execute("ROLLBACK")
                self.outbox._recount()
        finally:
            self.outbox._lock.release()
