"""The central's store over SQLAlchemy Core (SQLite or PostgreSQL): ingest with per-stream high-water marks,
filtered and paged queries, the commit-order tail, devices, stats, sightings, erasure and retention.

Concurrency. Writes of one device serialize on its row (an upsert locks it), and on its streams' rows (PostgreSQL:
INSERT .. ON CONFLICT DO NOTHING, then SELECT .. FOR UPDATE in stream order; SQLite: BEGIN IMMEDIATE, one writer
at a time, behind a lock in this process so threads queue instead of polling SQLite's busy handler). The unique
key (device, stream, sequence) with ON CONFLICT DO NOTHING is the last guard.

WatchEvents' cursor is (xid, id) on PostgreSQL (fleet.store.cursors): a watcher reads only rows of transactions
older than every running one, so the commits of all replicas run in parallel and none lands behind a cursor. For
per-stream order a device's later transaction must have the larger xid: PostgreSQL gives a transaction its xid at
its first write, so each ingest first takes its devices' advisory locks (in key order), before any write.
``ingest_many`` commits the reports of many devices in one transaction, so one WAL flush serves them all, and sends
its statements in psycopg's pipeline mode (two round trips per group). Retention drops whole daily partitions
(fleet.store.partitions).
"""

from __future__ import annotations

import dataclasses
import json
import threading
import time
import zlib
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql, sqlite

from clients.ocr_client.fleet_types import (
    DeleteResult,
    DeviceInfo,
    DeviceStatus,
    Event,
    EventField,
    EventFilter,
    FleetStats,
    Gap,
    IngestResult,
    Page,
    StoredEvent,
    StreamInfo,
)
from fleet.errors import FleetRequestError
from fleet.model import field_condition, normalize_text
from fleet.store import cursors, partitions, tokens
from fleet.store.schema import devices, drops, events, gaps, metadata, streams
from fleet.store.sightings import Row, cluster

__all__ = ["SqlStore", "Report", "SIGHTINGS_SCAN_LIMIT", "DEVICE_LOCKS"]

Report = tuple[str, Sequence[Event], Sequence[Gap], DeviceStatus | None]  # device_id, events, gaps, status

DEVICE_LOCKS = 7_114_012  # PostgreSQL advisory lock space (first key) of the per-device ingest locks
SIGHTINGS_SCAN_LIMIT = 100_000  # events one ListSightings call may cluster; beyond: FILTER_TOO_BROAD
_HOUR_S = 3600.0
_EVENT_COLUMNS = [c.name for c in events.columns if c.name not in ("id", "xid")]  # both come from defaults
# Below every running transaction's xid: all rows of lower xids are committed (or rolled back) and visible.
_XMIN = "pg_snapshot_xmin(pg_current_snapshot())::text::bigint"
_PG_ARRAY_TYPES = {
    "device_id": "varchar",
    "stream_id": "varchar",
    "sequence": "int8",
    "capture_time": "float8",
    "receive_time": "float8",
    "type": "varchar",
    "track_id": "int8",
    "text": "text",
    "normalized_text": "text",
    "confidence": "float8",
    "polygon": "json",
    "frame_width": "int4",
    "frame_height": "int4",
    "bundle": "varchar",
    "backend": "varchar",
    "precision": "json",
    "previous_text": "text",
    "frame_sequence": "int8",
    "fields": "jsonb",
}
_PG_DEVICE_TYPES = {
    "device_id": "varchar",
    "first_seen": "float8",
    "last_seen": "float8",
    "software_version": "varchar",
    "bundle": "varchar",
    "backend": "varchar",
    "precision": "json",
    "backlog_events": "int8",
    "backlog_bytes": "int8",
    "oldest_backlog_time": "float8",
}
_COUNT_COLUMNS = ("device_id", "stream_id", "capture_time")  # what retention reads of the rows it removes
_STATUS_COLUMNS = (
    "software_version",
    "bundle",
    "backend",
    "precision",
    "backlog_events",
    "backlog_bytes",
    "oldest_backlog_time",
)


def _like_escape(text: str) -> str:
    return text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")


def _json_map(mapping: Mapping[str, Any], cache: dict[tuple, str]) -> str:
    key = tuple(sorted(mapping.items()))
    text = cache.get(key)
    if text is None:
        text = cache[key] = json.dumps(dict(key))
    return text


def _fields_json(fields: Sequence[EventField]) -> str | None:
    """An event's fields as stored (NULL when none), each with its value in the form filters compare."""
    if not fields:
        return None
    return json.dumps(
        [
            {
                "name": f.name,
                "value": f.value,
                "text": f.text,
                "confidence": float(f.confidence),
                "field_set": f.field_set,
                "normalized_value": normalize_text(f.value),
            }
            for f in fields
        ],
        ensure_ascii=False,
    )


def _filter_key(flt: EventFilter) -> dict:
    return dataclasses.asdict(flt)


def _device_key(device_id: str) -> int:
    """The second key of a device's advisory lock: a signed 32-bit hash (a collision only makes two devices wait)."""
    return zlib.crc32(device_id.encode()) - (1 << 31)


def _driver(conn: sa.Connection) -> Any:
    """The DBAPI (psycopg) connection under ``conn``: pipelines and cursors that SQLAlchemy does not offer."""
    driver = conn.connection.driver_connection
    if driver is None:  # only after the connection was invalidated or closed
        raise sa.exc.ResourceClosedError("the database connection is closed")
    return driver


class SqlStore:
    """A FleetStore over one SQLAlchemy Engine (already migrated to head; see fleet.store.open_store)."""

    def __init__(self, engine: sa.Engine, retention_s: float = 0.0) -> None:
        self._engine = engine
        self.kind = engine.dialect.name  # "sqlite" or "postgresql"
        self.retention_s = float(retention_s)
        self._pg = self.kind == "postgresql"
        self._insert = postgresql.insert if self._pg else sqlite.insert
        self._writer = engine if self._pg else engine.execution_options(begin="IMMEDIATE")
        self._write_lock = None if self._pg else threading.Lock()
        # The hot path's insert goes straight to the driver (rows as tuples, JSON encoded here): SQLAlchemy's
        # per-row parameter processing cost more than the database's work. PostgreSQL gets the whole report as one
        # statement over arrays (unnest), SQLite one executemany.
        columns = ", ".join(_EVENT_COLUMNS)
        if self._pg:
            arrays = ", ".join(f"%b::{_PG_ARRAY_TYPES[c]}[]" for c in _EVENT_COLUMNS)
            select = f"SELECT * FROM unnest({arrays})"
        else:
            select = f"VALUES ({', '.join('?' * len(_EVENT_COLUMNS))})"
        key = "device_id, stream_id, sequence" + (", capture_time" if self._pg else "")  # partitioned: + its key
        self._insert_events_sql = f"INSERT INTO events ({columns}) {select} ON CONFLICT ({key}) DO NOTHING"
        self._touch = {with_status: self._device_upsert_sql(with_status) for with_status in (False, True)}
        if self._pg:
            self._update_streams_sql = (
                "UPDATE streams SET acked_sequence = v.a, events = v.n, last_capture_time = v.t FROM "
                "unnest(%b::varchar[], %b::varchar[], %b::int8[], %b::int8[], %b::float8[]) AS v(d, s, a, n, t) "
                "WHERE streams.device_id = v.d AND streams.stream_id = v.s"
            )
        else:
            self._update_streams_sql = (
                "UPDATE streams SET acked_sequence = ?, events = ?, last_capture_time = ? "
                "WHERE device_id = ? AND stream_id = ?"
            )
        # Driver-level executemany for the rest of ingest (a SQLAlchemy Insert may want to read results, which
        # PostgreSQL's pipeline in _ingest_write does not give before its end).
        mark = "%s" if self._pg else "?"
        self._insert_streams_sql = (
            f"INSERT INTO streams (device_id, stream_id) VALUES ({mark}, {mark}) "
            "ON CONFLICT (device_id, stream_id) DO NOTHING"
        )
        self._upsert_drops_sql = (
            f"INSERT INTO drops (device_id, reason, total) VALUES ({mark}, {mark}, {mark}) "
            "ON CONFLICT (device_id, reason) DO UPDATE SET total = excluded.total"
        )
        self._insert_gaps_sql = (
            "INSERT INTO gaps (device_id, stream_id, reason, first_sequence, last_sequence, "
            f"receive_time) VALUES ({', '.join([mark] * 6)})"
        )
        if self._pg:
            self.make_partitions(time.time())

    def make_partitions(self, now: float) -> list[str]:
        """PostgreSQL: the daily partitions of events from ``now``'s day on that are missing (made at open and by
        the central's retention loop); their names. SQLite: none."""
        if not self._pg:
            return []
        with self._engine.begin() as conn:
            return partitions.ensure(conn, now)

    # -- writes -------------------------------------------------------------------------------------------------

    @contextmanager
    def _write(self) -> Iterator[sa.Connection]:
        if self._write_lock is None:
            with self._writer.begin() as conn:
                yield conn
            return
        with self._write_lock, self._writer.begin() as conn:
            yield conn

    @contextmanager
    def _ingest_write(self) -> Iterator[sa.Connection]:
        """The transaction of ``ingest_many``. On PostgreSQL its statements go out in psycopg's pipeline mode:
        only reading the streams' marks waits for an answer; the rest, the COMMIT included, follows in one flight.
        So a group costs two round trips instead of one per statement (seven), and the commit-order lock is held
        for the server's insert and WAL flush only, not across round trips to a process that may wait for a CPU.
        Any failure discards the connection (a pipeline may leave it mid-transaction) and surfaces as SQLAlchemy's
        error of the driver's class, so an unreachable server still reads as one."""
        if not self._pg:
            with self._write() as conn:
                yield conn
            return
        import psycopg

        with self._engine.connect() as conn:
            try:
                with _driver(conn).pipeline():
                    yield conn
                    conn.commit()
            except BaseException as exc:
                conn.invalidate()
                if isinstance(exc, psycopg.Error):
                    raise sa.exc.DBAPIError.instance(None, None, exc, psycopg.Error) from exc
                raise

    def _device_upsert_sql(self, with_status: bool) -> str:
        """The devices upsert at the driver (like the events insert: SQLAlchemy's per-row work cost more than the
        database's): last_seen, and the status columns ``with_status``; a new device's other columns keep their
        server defaults."""
        columns = ["device_id", "first_seen", "last_seen"] + (list(_STATUS_COLUMNS) if with_status else [])
        updated = ", ".join(f"{c} = excluded.{c}" for c in columns[2:])
        if self._pg:
            select = f"SELECT * FROM unnest({', '.join(f'%b::{_PG_DEVICE_TYPES[c]}[]' for c in columns)})"
        else:
            select = f"VALUES ({', '.join('?' * len(columns))})"
        return f"INSERT INTO devices ({', '.join(columns)}) {select} ON CONFLICT (device_id) DO UPDATE SET {updated}"

    def _many(self, conn: sa.Connection, sql: str, rows: list[tuple]) -> None:
        """``sql`` for ``rows`` in one statement over arrays (PostgreSQL) or one executemany (SQLite)."""
        conn.exec_driver_sql(sql, tuple(map(list, zip(*rows, strict=True))) if self._pg else rows)

    def _touch_devices(self, conn: sa.Connection, reports: Sequence[Report], now: float) -> None:
        """Each device's last_seen (and status, the latest a report of the group carried): one statement per
        kind, rows in device order (a device appears once: an upsert may not touch a row twice)."""
        latest: dict[str, DeviceStatus | None] = {}
        for device_id, _, _, status in reports:
            if status is not None or device_id not in latest:
                latest[device_id] = status
        plain, full, drop_rows = [], [], {}
        precisions: dict[tuple, str] = {}
        for device_id in sorted(latest):
            status = latest[device_id]
            if status is None:
                plain.append((device_id, now, now))
                continue
            full.append(
                (
                    device_id,
                    now,
                    now,
                    status.software_version,
                    status.bundle,
                    status.backend,
                    _json_map(status.precision, precisions),
                    status.backlog_events,
                    status.backlog_bytes,
                    status.oldest_backlog_time,
                )
            )
            for reason, n in sorted(status.drops.items()):
                drop_rows[(device_id, reason)] = (device_id, reason, int(n))
        for with_status, rows in ((False, plain), (True, full)):
            if rows:
                self._many(conn, self._touch[with_status], rows)
        if drop_rows:
            conn.exec_driver_sql(self._upsert_drops_sql, [drop_rows[key] for key in sorted(drop_rows)])

    def _lock_streams(
        self, conn: sa.Connection, device_ids: list[str], pairs: list[tuple[str, str]]
    ) -> dict[tuple[str, str], list]:
        """Every stream of ``device_ids`` as (device, stream) -> [mark, events, last_capture_time], the rows of
        ``pairs`` created when new; all locked till commit (PostgreSQL), in (device, stream) order."""
        q = (
            sa.select(
                streams.c.device_id,
                streams.c.stream_id,
                streams.c.acked_sequence,
                streams.c.events,
                streams.c.last_capture_time,
            )
            .where(streams.c.device_id.in_(device_ids))
            .order_by(streams.c.device_id, streams.c.stream_id)
        )
        if self._pg:
            q = q.with_for_update()
        state = {(d, s): [a, n, t] for d, s, a, n, t in self._rows(conn, q)}
        missing = [p for p in pairs if p not in state]
        if missing:  # new streams (another replica may create one meanwhile: DO NOTHING, then lock it)
            conn.exec_driver_sql(self._insert_streams_sql, missing)
            state.update((r, [0, 0, None]) for r in missing)
            again = {d for d, _ in missing}
            for d, s, a, n, t in self._rows(conn, q.where(streams.c.device_id.in_(sorted(again)))):
                state[(d, s)] = [a, n, t]
        return state

    def _rows(self, conn: sa.Connection, q: sa.Select) -> list[tuple]:
        """``q``'s rows inside ``_ingest_write``: on PostgreSQL through a driver cursor, whose fetch syncs the
        pipeline (a SQLAlchemy result cannot read rows there)."""
        if not self._pg:
            return [tuple(r) for r in conn.execute(q)]
        compiled = q.compile(dialect=conn.dialect, compile_kwargs={"render_postcompile": True})
        with _driver(conn).cursor() as cursor:
            cursor.execute(str(compiled), compiled.params)
            return cursor.fetchall()

    @staticmethod
    def _event_row(device_id: str, e: Event, now: float, precision: str) -> tuple:
        """The events row in _EVENT_COLUMNS order."""
        polygon = json.dumps([[float(x), float(y)] for x, y in e.polygon]) if e.polygon else "[]"
        return (
            device_id,
            e.stream_id,
            e.sequence,
            e.capture_time,
            now,
            e.type,
            e.track_id,
            e.text,
            normalize_text(e.text),
            e.confidence,
            polygon,
            e.frame_width,
            e.frame_height,
            e.bundle,
            e.backend,
            precision,
            e.previous_text,
            e.frame_sequence,
            _fields_json(e.fields),
        )

    def ingest(
        self, device_id: str, events_: Sequence[Event], gaps_: Sequence[Gap], status: DeviceStatus | None, now: float
    ) -> IngestResult:
        return self.ingest_many([(device_id, events_, gaps_, status)], now)[0]

    def ingest_many(self, reports: Sequence[Report], now: float) -> list[IngestResult]:
        """Several reports (of any devices) in one transaction: one commit, so one WAL flush, and a fixed number
        of statements for all of them (what lets the central go past one flush and a handful of round trips per
        report; see FleetCentral's group commit). Each report is judged as ``ingest`` would, in device order then
        arrival order, so two reports of one stream in a group behave as two in a row. Rows are locked in
        (device, stream) order and the commit-order lock last, so concurrent groups cannot deadlock."""
        order = sorted(range(len(reports)), key=lambda n: reports[n][0])  # stable: arrival order per device
        results: list[IngestResult | None] = [None] * len(reports)
        rows: list[tuple] = []
        gap_rows: list[tuple] = []
        changed: set[tuple[str, str]] = set()
        precisions: dict[tuple, str] = {}  # a batch's events mostly share one precision map: encode it once
        with self._ingest_write() as conn:
            device_ids = sorted({r[0] for r in reports})
            if self._pg:  # before any write, so the transaction's xid is taken under its devices' locks
                keys = sorted({_device_key(d) for d in device_ids})
                lock = "SELECT count(pg_advisory_xact_lock(%s::int4, k)) FROM unnest(%b::int4[]) AS k"
                conn.exec_driver_sql(lock, (DEVICE_LOCKS, keys))
            self._touch_devices(conn, [reports[n] for n in order], now)
            pairs = sorted(
                {(r[0], e.stream_id) for r in reports for e in r[1]}
                | {(r[0], g.stream_id) for r in reports for g in r[2]}
            )
            state = self._lock_streams(conn, device_ids, pairs)
            for n in order:
                device_id, events_, gaps_, _ = reports[n]
                if events_ or gaps_:
                    results[n] = self._judge(device_id, events_, gaps_, state, now, rows, gap_rows, changed, precisions)
            for n in order:  # a hello: every stream of the device, as the group leaves it
                device_id, events_, gaps_, _ = reports[n]
                if not events_ and not gaps_:
                    results[n] = IngestResult(acks={s: v[0] for (d, s), v in state.items() if d == device_id})
            if changed:
                moved = [(d, s, *state[(d, s)]) for d, s in sorted(changed)]
                self._many(
                    conn,
                    self._update_streams_sql,
                    moved if self._pg else [(a, n, last, d, s) for d, s, a, n, last in moved],
                )
            if gap_rows:
                conn.exec_driver_sql(self._insert_gaps_sql, gap_rows)
            if rows:
                self._many(conn, self._insert_events_sql, rows)
        return results  # type: ignore[return-value]

    def _judge(
        self,
        device_id: str,
        events_: Sequence[Event],
        gaps_: Sequence[Gap],
        state: dict[tuple[str, str], list],
        now: float,
        rows: list[tuple],
        gap_rows: list[tuple],
        changed: set[tuple[str, str]],
        precisions: dict[tuple, str],
    ) -> IngestResult:
        """One report against the streams' marks in ``state`` (moved on in place): its new events go to ``rows``,
        its gaps to ``gap_rows``, the streams it moved to ``changed``."""
        work: dict[str, list[tuple[int, int, Event | Gap]]] = {}
        for e in events_:
            work.setdefault(e.stream_id, []).append((e.sequence, 0, e))
        for g in gaps_:
            work.setdefault(g.stream_id, []).append((g.first, 1, g))
        acks: dict[str, int] = {}
        stored, duplicates, out_of_order = len(rows), 0, 0
        for sid in sorted(work):
            current = state[(device_id, sid)]
            mark, count, last_time = current
            for seq, _, item in sorted(work[sid], key=lambda t: (t[0], t[1])):  # at one sequence: event first
                if isinstance(item, Gap):
                    if item.first <= mark + 1 and item.last > mark:
                        gap_rows.append((device_id, sid, item.reason, mark + 1, item.last, now))
                        mark = item.last
                elif seq == mark + 1:
                    rows.append(self._event_row(device_id, item, now, _json_map(item.precision, precisions)))
                    mark, count = seq, count + 1
                    if last_time is None or item.capture_time > last_time:
                        last_time = item.capture_time
                elif seq <= mark:
                    duplicates += 1
                else:
                    out_of_order += 1
            acks[sid] = mark
            if mark != current[0]:
                current[:] = [mark, count, last_time]
                changed.add((device_id, sid))
        return IngestResult(acks=acks, stored=len(rows) - stored, duplicates=duplicates, out_of_order=out_of_order)

    def delete_device(self, device_id: str) -> DeleteResult:
        with self._write() as conn:
            lock = sa.select(devices.c.device_id).where(devices.c.device_id == device_id)
            existed = conn.execute(lock.with_for_update() if self._pg else lock).first() is not None
            deleted_events = conn.execute(events.delete().where(events.c.device_id == device_id)).rowcount
            conn.execute(gaps.delete().where(gaps.c.device_id == device_id))
            conn.execute(drops.delete().where(drops.c.device_id == device_id))
            deleted_streams = conn.execute(streams.delete().where(streams.c.device_id == device_id)).rowcount
            conn.execute(devices.delete().where(devices.c.device_id == device_id))
        return DeleteResult(deleted_events=deleted_events, deleted_streams=deleted_streams, device_existed=existed)

    def expire(self, now: float) -> int:
        """Removes events captured before now - retention_s, and audit gaps received before it, in one transaction;
        how many events. PostgreSQL drops each day's partition that ends by the cutoff (its events are counted off
        their streams first) and deletes rows only in the DEFAULT partition, so a day's events may outlive the
        retention by up to a day; SQLite deletes rows."""
        if self.retention_s <= 0:
            return 0
        cutoff = now - self.retention_s
        removed = 0
        with self._write() as conn:
            if self._pg:
                conn.execute(sa.text("SELECT pg_advisory_xact_lock(:k)"), {"k": partitions.PARTITION_LOCK})
                for name, start in sorted(partitions.day_partitions(conn).items(), key=lambda kv: kv[1]):
                    if start + partitions.DAY_S <= cutoff:
                        part = sa.table(name, *map(sa.column, _COUNT_COLUMNS))
                        removed += self._count_off(conn, sa.select(part.c.device_id, part.c.stream_id))
                        conn.execute(sa.text(f"DROP TABLE {name}"))
            rest = sa.table(partitions.DEFAULT if self._pg else "events", *map(sa.column, _COUNT_COLUMNS))
            old = rest.c.capture_time < cutoff
            if self._count_off(conn, sa.select(rest.c.device_id, rest.c.stream_id).where(old)):
                removed += conn.execute(rest.delete().where(old)).rowcount
            conn.execute(gaps.delete().where(gaps.c.receive_time < cutoff))
        return removed

    @staticmethod
    def _count_off(conn: sa.Connection, rows: sa.Select) -> int:
        """Takes the events ``rows`` selects (device_id, stream_id) off their streams' counts (before they are
        removed); how many."""
        sub = rows.subquery()
        per_stream = conn.execute(
            sa.select(sub.c.device_id, sub.c.stream_id, sa.func.count().label("n"))
            .group_by(sub.c.device_id, sub.c.stream_id)
            .order_by(sub.c.device_id, sub.c.stream_id)
        ).all()
        if per_stream:
            conn.execute(
                streams.update()
                .where(streams.c.device_id == sa.bindparam("d"), streams.c.stream_id == sa.bindparam("s"))
                .values(
                    events=streams.c.events - sa.bindparam("n"),
                    last_capture_time=sa.case(
                        (streams.c.events == sa.bindparam("n"), None), else_=streams.c.last_capture_time
                    ),
                ),
                [{"d": r.device_id, "s": r.stream_id, "n": r.n} for r in per_stream],
            )
        return sum(r.n for r in per_stream)

    # -- reads --------------------------------------------------------------------------------------------------

    def _acks(self, conn: sa.Connection, device_id: str) -> dict[str, int]:
        q = sa.select(streams.c.stream_id, streams.c.acked_sequence).where(streams.c.device_id == device_id)
        return {r.stream_id: r.acked_sequence for r in conn.execute(q)}

    def acks(self, device_id: str) -> dict[str, int]:
        with self._engine.connect() as conn:
            return self._acks(conn, device_id)

    def _where(self, flt: EventFilter) -> list[sa.ColumnElement[bool]]:
        c = events.c
        where: list[sa.ColumnElement[bool]] = []
        if flt.device_id:
            where.append(c.device_id == flt.device_id)
        if flt.stream_id:
            where.append(c.stream_id == flt.stream_id)
        if flt.start_time is not None:
            where.append(c.capture_time >= flt.start_time)
        if flt.end_time is not None:
            where.append(c.capture_time < flt.end_time)
        if flt.types:
            where.append(c.type.in_(list(flt.types)))
        if flt.text:
            text = normalize_text(flt.text)
            if flt.text_match == "PREFIX":
                where.append(c.normalized_text.like(_like_escape(text) + "%", escape="\\"))
            elif flt.text_match == "CONTAINS":
                where.append(c.normalized_text.like("%" + _like_escape(text) + "%", escape="\\"))
            else:
                where.append(c.normalized_text == text)
        if flt.min_confidence > 0:
            where.append(c.confidence >= flt.min_confidence)
        where.extend(self._has_field(*field_condition(f)) for f in flt.fields)
        return where

    def _has_field(self, name: str, value: str | None) -> sa.ColumnElement[bool]:
        """The event carries a field ``name`` (of normalized ``value`` when given): JSONB containment on
        PostgreSQL (the GIN index of migration 0004), json_each on SQLite."""
        if self._pg:
            wanted = {"name": name} if value is None else {"name": name, "normalized_value": value}
            return sa.type_coerce(events.c.fields, postgresql.JSONB).contains([wanted])
        each = sa.func.json_each(events.c.fields).table_valued("value")
        conditions = [sa.func.json_extract(each.c.value, "$.name") == name]
        if value is not None:
            conditions.append(sa.func.json_extract(each.c.value, "$.normalized_value") == value)
        return sa.exists().select_from(each).where(*conditions)

    @staticmethod
    def _stored(r: sa.Row) -> StoredEvent:
        event = Event(
            stream_id=r.stream_id,
            sequence=r.sequence,
            capture_time=r.capture_time,
            type=r.type,
            track_id=r.track_id,
            text=r.text,
            confidence=r.confidence,
            polygon=tuple((p[0], p[1]) for p in r.polygon or ()),
            frame_width=r.frame_width,
            frame_height=r.frame_height,
            bundle=r.bundle,
            backend=r.backend,
            precision=dict(r.precision or {}),
            previous_text=r.previous_text,
            frame_sequence=r.frame_sequence,
            fields=tuple(
                EventField(f["name"], f["value"], f["text"], f["confidence"], f.get("field_set", ""))
                for f in r.fields or ()
            ),
        )
        return StoredEvent(
            device_id=r.device_id,
            event=event,
            normalized_text=r.normalized_text,
            receive_time=r.receive_time,
            cursor=cursors.pack(r.xid, r.id),
        )

    def query(self, flt: EventFilter, page_size: int, page_token: str = "", newest_first: bool = False) -> Page:
        fp = tokens.fingerprint("query", _filter_key(flt), newest_first)
        q = sa.select(events).where(*self._where(flt))
        key = sa.tuple_(events.c.capture_time, events.c.id)
        if page_token:
            last = tokens.decode(page_token, fp)
            if not (
                isinstance(last, list)
                and len(last) == 2
                and isinstance(last[0], (int, float))
                and isinstance(last[1], int)
            ):
                raise ValueError("page token is not a token of this store")
            q = q.where(key < sa.tuple_(*last) if newest_first else key > sa.tuple_(*last))
        if newest_first:
            q = q.order_by(events.c.capture_time.desc(), events.c.id.desc())
        else:
            q = q.order_by(events.c.capture_time, events.c.id)
        size = max(1, page_size)
        with self._engine.connect() as conn:
            rows = conn.execute(q.limit(size + 1)).all()
        items = tuple(self._stored(r) for r in rows[:size])
        more = len(rows) > size
        last_id = cursors.unpack(items[-1].cursor)[1] if more else 0  # ids are unique: (capture_time, id) is a key
        token = tokens.encode([items[-1].event.capture_time, last_id], fp) if more else ""
        return Page(items=items, next_token=token)

    def events_after(self, cursor: int, flt: EventFilter, limit: int) -> list[StoredEvent]:
        """Events after ``cursor`` in cursor order; on PostgreSQL only those of transactions older than every
        running one (fleet.store.cursors), so later commits never land behind what this returns."""
        xid, id_ = cursors.unpack(cursor)
        if self._pg:
            after = sa.tuple_(events.c.xid, events.c.id) > sa.tuple_(sa.literal(xid), sa.literal(id_))
            q = sa.select(events).where(after, events.c.xid < sa.text(_XMIN)).order_by(events.c.xid, events.c.id)
        else:
            q = sa.select(events).where(events.c.id > id_).order_by(events.c.id)
        q = q.where(*self._where(flt)).limit(max(1, limit))
        with self._engine.connect() as conn:
            return [self._stored(r) for r in conn.execute(q)]

    def last_cursor(self) -> int:
        """A cursor after every event a watcher could read now (what is still in flight comes after it)."""
        with self._engine.connect() as conn:
            if self._pg:
                return cursors.pack(conn.execute(sa.text(f"SELECT {_XMIN}")).scalar_one() - 1, cursors.MAX_ID)
            return conn.execute(sa.select(sa.func.max(events.c.id))).scalar() or 0

    def devices(self, page_size: int, page_token: str = "") -> Page:
        fp = tokens.fingerprint("devices")
        q = sa.select(devices).order_by(devices.c.device_id)
        if page_token:
            after = tokens.decode(page_token, fp)
            if not isinstance(after, str):
                raise ValueError("page token is not a token of this store")
            q = q.where(devices.c.device_id > after)
        size = max(1, page_size)
        with self._engine.connect() as conn:
            rows = conn.execute(q.limit(size + 1)).all()
            page = rows[:size]
            ids = [r.device_id for r in page]
            by_device: dict[str, list[StreamInfo]] = {i: [] for i in ids}
            dropped: dict[str, dict[str, int]] = {i: {} for i in ids}
            if ids:
                for s in conn.execute(
                    sa.select(streams)
                    .where(streams.c.device_id.in_(ids))
                    .order_by(streams.c.device_id, streams.c.stream_id)
                ):
                    by_device[s.device_id].append(
                        StreamInfo(s.stream_id, s.acked_sequence, s.last_capture_time, s.events)
                    )
                for d in conn.execute(sa.select(drops).where(drops.c.device_id.in_(ids)).order_by(drops.c.reason)):
                    dropped[d.device_id][d.reason] = d.total
        items = tuple(
            DeviceInfo(
                device_id=r.device_id,
                last_seen=r.last_seen,
                status=DeviceStatus(
                    backlog_events=r.backlog_events,
                    backlog_bytes=r.backlog_bytes,
                    drops=dropped[r.device_id],
                    bundle=r.bundle,
                    backend=r.backend,
                    precision=dict(r.precision or {}),
                    software_version=r.software_version,
                    oldest_backlog_time=r.oldest_backlog_time,
                ),
                streams=tuple(by_device[r.device_id]),
                events=sum(s.events for s in by_device[r.device_id]),
            )
            for r in page
        )
        return Page(items=items, next_token=tokens.encode(page[-1].device_id, fp) if len(rows) > size else "")

    def stats(self, now: float) -> FleetStats:
        c = events.c
        recent = sa.func.sum(sa.case((c.receive_time >= now - _HOUR_S, 1), else_=0))
        with self._engine.connect() as conn:
            n_devices = conn.execute(sa.select(sa.func.count()).select_from(devices)).scalar_one()
            n_streams = conn.execute(sa.select(sa.func.count()).select_from(streams)).scalar_one()
            by_type = conn.execute(
                sa.select(
                    c.type,
                    sa.func.count().label("n"),
                    recent.label("recent"),
                    sa.func.min(c.capture_time).label("lo"),
                    sa.func.max(c.capture_time).label("hi"),
                ).group_by(c.type)
            ).all()
            dropped = conn.execute(
                sa.select(drops.c.reason, sa.func.sum(drops.c.total).label("n")).group_by(drops.c.reason)
            ).all()
        lows = [r.lo for r in by_type]
        highs = [r.hi for r in by_type]
        return FleetStats(
            devices=n_devices,
            streams=n_streams,
            events=sum(r.n for r in by_type),
            events_by_type={r.type: r.n for r in by_type},
            drops={r.reason: int(r.n) for r in dropped},
            events_last_hour=int(sum(r.recent or 0 for r in by_type)),
            oldest_capture_time=min(lows) if lows else None,
            newest_capture_time=max(highs) if highs else None,
            store=self.kind,
            retention_s=self.retention_s,
        )

    def sightings(
        self, flt: EventFilter, window_s: float, min_streams: int, page_size: int, page_token: str = ""
    ) -> Page:
        """Clusters the matching events in Python over one scan ordered by (normalized_text, capture_time) of at
        most SIGHTINGS_SCAN_LIMIT events (a broader filter is refused: FILTER_TOO_BROAD). The page token is an
        offset into the sightings ordered by first_seen, bound to the request."""
        fp = tokens.fingerprint("sightings", _filter_key(flt), float(window_s), int(min_streams))
        offset = tokens.decode(page_token, fp) if page_token else 0
        if not isinstance(offset, int) or offset < 0:
            raise ValueError("page token is not a token of this store")
        c = events.c
        q = (
            sa.select(c.normalized_text, c.capture_time, c.device_id, c.stream_id, c.text, c.confidence)
            .where(c.normalized_text != "", *self._where(flt))
            .order_by(c.normalized_text, c.capture_time, c.id)
            .limit(SIGHTINGS_SCAN_LIMIT + 1)
        )
        with self._engine.connect() as conn:
            rows = [Row(*r) for r in conn.execute(q)]
        if len(rows) > SIGHTINGS_SCAN_LIMIT:
            raise FleetRequestError(
                f"more than {SIGHTINGS_SCAN_LIMIT} events match; narrow the filter (time range, text)",
                "FILTER_TOO_BROAD",
            )
        found = sorted(cluster(rows, window_s, max(1, min_streams)), key=lambda s: (s.first_seen, s.normalized_text))
        size = max(1, page_size)
        page = tuple(found[offset : offset + size])
        more = offset + size < len(found)
        return Page(items=page, next_token=tokens.encode(offset + size, fp) if more else "")

    def close(self) -> None:
        self._engine.dispose()

    @staticmethod
    def tables() -> list[sa.Table]:
        """Every table of the store (tests check erasure against all of them)."""
        return list(metadata.sorted_tables)
