"""The central store (fleet.store) on a SQLite file and on a real PostgreSQL: migrations, idempotent ingest with
high-water marks and gaps, concurrent ingests, queries and their page tokens, the commit-order tail, devices,
stats, sightings, erasure and retention."""

from __future__ import annotations

import itertools
import random
import threading
import time
from dataclasses import replace

import pytest
import sqlalchemy as sa
from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext

from clients.ocr_client.fleet_types import DeviceStatus, Event, EventField, EventFilter, Gap
from fleet.store import open_store
from fleet.store.engine import (
    alembic_config,
    current_revision,
    head_revision,
    make_engine,
)
from fleet.store.partitions import AHEAD_DAYS, DAY_S, day_partitions, name_of
from fleet.store.schema import devices, events, metadata, streams
from fleet.store.store import SqlStore

T0 = 1_800_000_000.0
_replica_dbs = itertools.count(1)


def ev(
    stream: str, seq: int, t: float | None = None, text: str = "AB12", type: str = "APPEARED", confidence: float = 0.9
) -> Event:
    return Event(
        stream_id=stream,
        sequence=seq,
        capture_time=T0 + seq if t is None else t,
        type=type,
        track_id=seq,
        text=text,
        confidence=confidence,
        polygon=((1.0, 2.0), (3.0, 2.0), (3.0, 4.0)),
        frame_width=640,
        frame_height=480,
        bundle="ppocrv6-small",
        backend="openvino",
        precision={"det": "int8", "rec": "fp32"},
        previous_text="",
        frame_sequence=seq * 3,
    )


def run(store, device: str, events=(), gaps=(), status=None, now: float = T0 + 10_000):
    return store.ingest(device, list(events), list(gaps), status, now)


@pytest.fixture
def store(store_url):
    s = open_store(store_url)
    yield s
    s.close()


def schema_diff(conn: sa.Connection) -> list:
    """What the migrated database has that the metadata does not say, or lacks. On PostgreSQL the events table is
    partitioned (the partitions and the capture time in its keys are the migrations'; the metadata is SQLite's
    shape), and the check there is that the keys have exactly that one addition."""
    pg = conn.dialect.name == "postgresql"
    opts = {"include_name": lambda name, kind, _parent: not (pg and kind == "table" and name.startswith("events_"))}
    diff = compare_metadata(MigrationContext.configure(conn, opts=opts), metadata)
    if not pg:
        return diff
    unique = [d for d in diff if d[0] in ("add_constraint", "remove_constraint") and d[1].table.name == "events"]
    assert sorted((d[0], tuple(c.name for c in d[1].columns)) for d in unique) == [
        ("add_constraint", ("device_id", "stream_id", "sequence")),
        ("remove_constraint", ("device_id", "stream_id", "sequence", "capture_time")),
    ]
    pk = sa.inspect(conn).get_pk_constraint("events")["constrained_columns"]
    assert pk == ["id", "capture_time"]
    # the GIN index of the fields (migration 0004) is PostgreSQL's only; the metadata describes SQLite's shape
    gin = [d for d in diff if d[0] == "remove_index" and d[1].name == "ix_events_fields"]
    assert len(gin) == 1
    return [d for d in diff if d not in unique and d not in gin]


def test_migrations_reach_head_and_match_the_schema(store_url):
    open_store(store_url).close()
    engine = make_engine(store_url)
    try:
        with engine.connect() as conn:
            assert current_revision(conn) == head_revision()
            assert schema_diff(conn) == []
        open_store(store_url).close()  # a re-open of a database at head changes nothing
        with engine.begin() as conn:
            assert current_revision(conn) == head_revision()
            command.downgrade(alembic_config(conn), "base")
        with engine.connect() as conn:
            assert current_revision(conn) is None
            assert "events" not in sa.inspect(conn).get_table_names()
        store = open_store(store_url)  # an older database (here: none of the schema) is upgraded at open
        assert run(store, "d", [ev("s", 1)]).acks == {"s": 1}
        store.close()
    finally:
        engine.dispose()


def test_url_forms(tmp_path):
    store = open_store(str(tmp_path / "plain" / "fleet.db"))  # a plain path is a SQLite file
    assert store.kind == "sqlite" and (tmp_path / "plain" / "fleet.db").exists()
    store.close()
    with pytest.raises(ValueError):
        open_store("mysql://localhost/fleet")


def test_ingest_and_replay_is_idempotent(store):
    report = [ev("gate-1", i) for i in range(1, 6)] + [ev("gate-2", i) for i in range(1, 3)]
    first = run(store, "dev", report)
    assert (first.acks, first.stored, first.duplicates, first.out_of_order) == ({"gate-1": 5, "gate-2": 2}, 7, 0, 0)
    again = run(store, "dev", report)
    assert (again.acks, again.stored, again.duplicates) == (first.acks, 0, 7)
    assert len(store.query(EventFilter(), 100).items) == 7
    assert run(store, "dev").acks == {"gate-1": 5, "gate-2": 2}  # an empty report: every stream's mark
    assert store.acks("dev") == {"gate-1": 5, "gate-2": 2} and store.acks("nobody") == {}
    stored = store.query(EventFilter(stream_id="gate-1"), 1).items[0]
    assert stored.event == ev("gate-1", 1) and stored.normalized_text == "AB12" and stored.device_id == "dev"


def test_out_of_order_beyond_a_hole_is_not_stored(store):
    result = run(store, "dev", [ev("s", 1), ev("s", 2), ev("s", 4), ev("s", 5)])
    assert (result.acks, result.stored, result.out_of_order) == ({"s": 2}, 2, 2)
    assert [e.event.sequence for e in store.query(EventFilter(), 10).items] == [1, 2]
    assert run(store, "dev", [ev("s", 3), ev("s", 4), ev("s", 5)]).acks == {"s": 5}
    assert run(store, "dev", [ev("t", 2)]).acks == {"t": 0}  # a new stream starts at 1


def test_gaps_advance_the_mark(store):
    result = run(store, "dev", [ev("s", 1), ev("s", 2), ev("s", 8)], [Gap("s", 3, 7, "OUTBOX_FULL")])
    assert (result.acks, result.stored) == ({"s": 8}, 2 + 1)
    assert run(store, "dev", [], [Gap("s", 3, 7, "OUTBOX_FULL")]).acks == {"s": 8}  # a resent gap: no change
    assert run(store, "dev", [], [Gap("s", 20, 30, "EXPIRED")]).acks == {"s": 8}  # beyond a hole: ignored
    assert run(store, "dev", [], [Gap("s", 5, 12, "EXPIRED")]).acks == {"s": 12}  # overlapping: passes on
    assert run(store, "dev", [ev("s", 10)]).duplicates == 1  # declared dropped: never stored later
    assert [e.event.sequence for e in store.query(EventFilter(), 10).items] == [1, 2, 8]


def test_concurrent_ingests_store_every_sequence_once_and_the_tail_misses_none(store):
    total, errors, seen = 300, [], []
    done = threading.Event()

    def agent(device: str, seed: int) -> None:  # resends from its last ack, with random overlap, until done
        rnd = random.Random(seed)
        try:
            mark = 0
            while mark < total:
                start = max(1, mark + 1 - rnd.randint(0, 15))
                batch = [ev("cam", i) for i in range(start, min(total, start + rnd.randint(1, 25)) + 1)]
                mark = run(store, device, batch).acks["cam"]
        except Exception as exc:  # pragma: no cover - reported below
            errors.append(exc)

    def watcher() -> None:
        cursor = 0
        while True:
            finished = done.is_set()
            batch = store.events_after(cursor, EventFilter(), 200)
            seen.extend(e.cursor for e in batch)
            cursor = batch[-1].cursor if batch else cursor
            if finished and not batch:
                return

    threads = [threading.Thread(target=agent, args=(d, i)) for i, d in enumerate(["one", "one", "two", "two"])]
    tail = threading.Thread(target=watcher)
    tail.start()
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    done.set()
    tail.join()
    assert errors == []
    for device in ("one", "two"):
        page = store.query(EventFilter(device_id=device), 1000)
        assert sorted(e.event.sequence for e in page.items) == list(range(1, total + 1))
    assert seen == sorted(set(seen)) and len(seen) == 2 * total  # commit order: none missed, none twice


def test_query_filters(store):
    run(
        store,
        "d1",
        [
            ev("a", 1, T0 + 1, "KX71 ABC", "APPEARED", 0.95),
            ev("a", 2, T0 + 2, "kx71-abd", "UPDATED", 0.60),
            ev("b", 1, T0 + 3, "ZZ%_9", "STABLE", 0.80),
        ],
    )
    run(store, "d2", [ev("a", 1, T0 + 4, "XKX71", "DISAPPEARED", 0.99)])

    def keys(**kw) -> list[tuple[str, str, int]]:
        return [(e.device_id, e.event.stream_id, e.event.sequence) for e in store.query(EventFilter(**kw), 50).items]

    assert keys() == [("d1", "a", 1), ("d1", "a", 2), ("d1", "b", 1), ("d2", "a", 1)]
    assert keys(device_id="d2") == [("d2", "a", 1)]
    assert keys(stream_id="a") == [("d1", "a", 1), ("d1", "a", 2), ("d2", "a", 1)]
    assert keys(device_id="d1", stream_id="b") == [("d1", "b", 1)]
    assert keys(start_time=T0 + 2, end_time=T0 + 4) == [("d1", "a", 2), ("d1", "b", 1)]  # [start, end)
    assert keys(types=("UPDATED", "STABLE")) == [("d1", "a", 2), ("d1", "b", 1)]
    assert keys(text="kx71abc") == [("d1", "a", 1)]
    assert keys(text="KX71", text_match="PREFIX") == [("d1", "a", 1), ("d1", "a", 2)]
    assert keys(text="kx-71", text_match="CONTAINS") == [("d1", "a", 1), ("d1", "a", 2), ("d2", "a", 1)]
    assert keys(text="%", text_match="CONTAINS") == keys()  # normalizes to "": matches every text
    assert keys(text="Z_", text_match="PREFIX") == [("d1", "b", 1)]  # "_" is not a LIKE wildcard here ("Z")
    assert keys(min_confidence=0.9) == [("d1", "a", 1), ("d2", "a", 1)]
    assert keys(text="nothing") == []


def test_field_filters(store):
    """--field NAME and NAME=VALUE: every condition must hold, the value compared normalized; a page token is bound
    to its conditions; events without fields match no condition."""

    def with_fields(e: Event, *fields: tuple[str, str]) -> Event:
        return replace(e, fields=tuple(EventField(n, v, v.lower(), 0.9, "shipping") for n, v in fields))

    run(
        store,
        "d1",
        [
            with_fields(ev("a", 1, T0 + 1), ("container", "CSQU3054383"), ("total", "12.50")),
            with_fields(ev("a", 2, T0 + 2), ("container", "MSKU1234565")),
            with_fields(ev("a", 3, T0 + 3), ("total", "99.00")),
            ev("a", 4, T0 + 4),
        ],
    )

    def seqs(*conditions: str, size: int = 50) -> list[int]:
        return [e.event.sequence for e in store.query(EventFilter(fields=conditions), size).items]

    assert seqs() == [1, 2, 3, 4]
    assert seqs("container") == [1, 2]
    assert seqs("container=csqu 305438-3") == [1]  # normalized, as texts are
    assert seqs("total=12.50", "container") == [1]
    assert seqs("total=12.50", "container=MSKU1234565") == []
    assert seqs("total", "container") == [1]
    assert seqs("tax") == [] and seqs("CONTAINER") == []  # names are exact
    assert seqs("container=") == []  # an empty value is a value: no field has it
    first = store.query(EventFilter(fields=("container",)), 1)
    assert [e.event.sequence for e in first.items] == [1] and first.next_token
    rest = store.query(EventFilter(fields=("container",)), 1, first.next_token)
    assert [e.event.sequence for e in rest.items] == [2] and not rest.next_token
    with pytest.raises(ValueError):
        store.query(EventFilter(fields=("total",)), 1, first.next_token)
    assert seqs("total=99") == []  # "99.00" normalizes to "9900"
    (stored,) = store.query(EventFilter(fields=("total=99.00",)), 5).items
    assert stored.event.fields == (EventField("total", "99.00", "99.00", 0.9, "shipping"),)
    assert store.query(EventFilter(stream_id="a", fields=("container",)), 5).items[0].event.fields[1].name == "total"
    assert [e.event.sequence for e in store.events_after(0, EventFilter(fields=("container",)), 10)] == [1, 2]


def test_pagination_both_ways_and_foreign_tokens(store):
    # Ties on capture_time are ordered by cursor, so pages neither skip nor repeat them.
    run(store, "d", [ev("s", i, T0 + i // 3) for i in range(1, 24)])
    for newest_first in (False, True):
        got, token, pages = [], "", 0
        while True:
            page = store.query(EventFilter(), 5, token, newest_first=newest_first)
            got += [e.event.sequence for e in page.items]
            pages += 1
            token = page.next_token
            if not token:
                break
        expected = list(range(1, 24))
        assert got == (expected[::-1] if newest_first else expected) and pages == 5
    token = store.query(EventFilter(), 5).next_token
    with pytest.raises(ValueError):
        store.query(EventFilter(), 5, token, newest_first=True)  # another order
    with pytest.raises(ValueError):
        store.query(EventFilter(stream_id="s"), 5, token)  # another filter
    with pytest.raises(ValueError):
        store.devices(5, token)
    for bad in ("garbage!", "e30=", token[:-4]):
        with pytest.raises(ValueError):
            store.query(EventFilter(), 5, bad)


def test_events_after_is_commit_order(store):
    assert store.events_after(0, EventFilter(), 10) == [] == store.events_after(store.last_cursor(), EventFilter(), 1)
    run(store, "d", [ev("s", 1, T0 + 50), ev("s", 2, T0 + 10)])
    run(store, "e", [ev("s", 1, T0 + 5, "OTHER")])
    after = store.events_after(0, EventFilter(), 10)
    assert [(e.device_id, e.event.sequence) for e in after] == [("d", 1), ("d", 2), ("e", 1)]
    assert store.last_cursor() >= after[-1].cursor  # PostgreSQL: below every running transaction, not an event's
    assert [e.device_id for e in store.events_after(after[0].cursor, EventFilter(text="other"), 10)] == ["e"]
    assert len(store.events_after(0, EventFilter(), 2)) == 2
    assert store.events_after(store.last_cursor(), EventFilter(), 10) == []


def test_devices_with_streams_and_drops_replaced(store):
    status = DeviceStatus(
        backlog_events=7,
        backlog_bytes=900,
        drops={"OUTBOX_FULL": 3, "EXPIRED": 1},
        bundle="ppocrv6-small",
        backend="openvino",
        precision={"det": "int8"},
        software_version="0.1.0",
        oldest_backlog_time=T0 + 1,
    )
    run(store, "b-dev", [ev("cam", 1), ev("cam", 2)], status=status, now=T0 + 100)
    run(store, "b-dev", [], status=status, now=T0 + 150)  # the same totals again: nothing is added up
    run(store, "b-dev", [], status=DeviceStatus(drops={"OUTBOX_FULL": 5}), now=T0 + 200)
    run(store, "a-dev", [ev("x", 1), ev("y", 1)], now=T0 + 300)
    run(store, "c-dev", [], now=T0 + 400)
    first = store.devices(2)
    assert [d.device_id for d in first.items] == ["a-dev", "b-dev"] and first.next_token
    second = store.devices(2, first.next_token)
    assert [d.device_id for d in second.items] == ["c-dev"] and second.next_token == ""
    a, b = first.items
    assert [(s.stream_id, s.acked_sequence, s.events) for s in a.streams] == [("x", 1, 1), ("y", 1, 1)]
    assert a.events == 2 and a.last_seen == T0 + 300
    assert b.status.drops == {"OUTBOX_FULL": 5, "EXPIRED": 1} and b.last_seen == T0 + 200
    assert b.status.backlog_events == 0 and b.status.software_version == ""  # the latest status is what counts
    assert b.streams[0].last_capture_time == T0 + 2 and b.events == 2
    run(store, "b-dev", [], status=status, now=T0 + 500)
    b = store.devices(1, store.devices(1).next_token).items[0]
    assert b.status == status and second.items[0].streams == ()
    with pytest.raises(ValueError):
        store.devices(2, store.query(EventFilter(), 1, "").next_token or "eyJrIjoxfQ==")


def test_stats(store):
    run(
        store,
        "d1",
        [ev("a", 1, T0, type="APPEARED"), ev("a", 2, T0 + 9, type="STABLE")],
        now=T0 + 10,
        status=DeviceStatus(drops={"OUTBOX_FULL": 2}),
    )
    run(
        store,
        "d2",
        [ev("b", 1, T0 + 5, type="APPEARED")],
        now=T0 + 5000,
        status=DeviceStatus(drops={"OUTBOX_FULL": 1, "EXPIRED": 4}),
    )
    stats = store.stats(now=T0 + 5000)
    assert (stats.devices, stats.streams, stats.events) == (2, 2, 3)
    assert stats.events_by_type == {"APPEARED": 2, "STABLE": 1}
    assert stats.drops == {"OUTBOX_FULL": 3, "EXPIRED": 4}
    assert stats.events_last_hour == 1  # committed at T0 + 5000; the others more than an hour before
    assert (stats.oldest_capture_time, stats.newest_capture_time) == (T0, T0 + 9)
    assert stats.store == store.kind and stats.retention_s == 0.0


def test_sightings_group_one_plate_across_streams(store):
    run(
        store,
        "north",
        [
            ev("gate-1", 1, T0 + 0, "KX71 ABC", confidence=0.7),
            ev("gate-1", 2, T0 + 4, "KX71 ABC", confidence=0.9),
            ev("gate-2", 1, T0 + 30, "kx71-abc", confidence=0.8),
            ev("gate-2", 2, T0 + 3600, "kx71-abc", confidence=0.8),  # an hour later: a second visit
            ev("gate-2", 3, T0 + 40, "", confidence=0.8),  # no text: never a sighting
            ev("gate-2", 4, T0 + 50, "OTHER 1", confidence=0.5),
        ],
    )
    run(store, "south", [ev("lane-9", 1, T0 + 90, "KX71ABC", confidence=0.6)])
    page = store.sightings(EventFilter(), window_s=300, min_streams=1, page_size=10)
    plates = [(s.normalized_text, s.first_seen, len(s.places)) for s in page.items]
    assert plates == [("KX71ABC", T0, 3), ("OTHER1", T0 + 50, 1), ("KX71ABC", T0 + 3600, 1)]
    first = page.items[0]
    assert first.last_seen == T0 + 90
    assert [
        (p.device_id, p.stream_id, p.first_seen, p.last_seen, p.events, p.text, p.confidence) for p in first.places
    ] == [
        ("north", "gate-1", T0, T0 + 4, 2, "KX71 ABC", 0.9),
        ("north", "gate-2", T0 + 30, T0 + 30, 1, "kx71-abc", 0.8),
        ("south", "lane-9", T0 + 90, T0 + 90, 1, "KX71ABC", 0.6),
    ]
    assert [s.first_seen for s in store.sightings(EventFilter(), 300, 3, 10).items] == [T0]
    narrow = store.sightings(EventFilter(), window_s=20, min_streams=1, page_size=10)  # 4 s apart, then 26 s
    assert [len(s.places) for s in narrow.items if s.normalized_text == "KX71ABC"] == [1, 1, 1, 1]
    only = store.sightings(EventFilter(text="kx71abc"), 300, 1, 1)
    assert [s.first_seen for s in only.items] == [T0] and only.next_token
    rest = store.sightings(EventFilter(text="kx71abc"), 300, 1, 1, only.next_token)
    assert [s.first_seen for s in rest.items] == [T0 + 3600] and rest.next_token == ""
    with pytest.raises(ValueError):
        store.sightings(EventFilter(text="kx71abc"), 60, 1, 1, only.next_token)  # another window


def test_delete_device_leaves_nothing_of_it(store):
    status = DeviceStatus(drops={"OUTBOX_FULL": 2})
    for device in ("gone", "kept"):
        run(store, device, [ev("s", 1), ev("s", 3), ev("t", 1)], [Gap("s", 2, 2, "OUTBOX_FULL")], status)
    result = store.delete_device("gone")
    assert (result.deleted_events, result.deleted_streams, result.device_existed) == (3, 2, True)
    engine = store._engine
    with engine.connect() as conn:
        for table in metadata.sorted_tables:
            column = table.c.device_id
            assert conn.execute(sa.select(sa.func.count()).where(column == "gone")).scalar() == 0, table.name
            assert conn.execute(sa.select(sa.func.count()).where(column == "kept")).scalar() > 0, table.name
    assert store.delete_device("gone") == type(result)(0, 0, False)
    assert run(store, "gone", [ev("s", 1)]).acks == {"s": 1}  # the device may report again, from scratch


def test_expire(store_url):
    store = open_store(store_url, retention_s=100)
    try:
        run(store, "d", [ev("s", i, T0 + i * 10) for i in range(1, 11)], now=T0 + 1)
        run(store, "e", [ev("s", 1, T0 + 5)], now=T0 + 1)
        assert store.expire(now=T0 + 100 + 45) == 5  # captured before T0 + 45: d 1..4 and e 1
        assert [e.event.sequence for e in store.query(EventFilter(device_id="d"), 50).items] == list(range(5, 11))
        devices = {d.device_id: d for d in store.devices(10).items}
        assert devices["d"].events == 6 and devices["d"].streams[0].acked_sequence == 10
        assert devices["e"].events == 0 and devices["e"].streams[0].last_capture_time is None
        assert store.stats(T0).events == 6 and store.stats(T0).retention_s == 100
        assert store.expire(now=T0 + 145) == 0
        assert run(store, "e", [ev("s", 1, T0 + 5)]).duplicates == 1  # expired is not forgotten: no re-store
    finally:
        store.close()
    forever = open_store(store_url)
    assert forever.expire(now=T0 + 10**9) == 0 and forever.stats(T0).events == 6
    forever.close()


def _raw_row(store, device: str, event: Event) -> dict:
    """An events row as a replica's ingest writes it (xid and id from their defaults)."""
    columns = [c.name for c in events.columns if c.name not in ("id", "xid")]
    values = dict(zip(columns, store._event_row(device, event, T0, "{}"), strict=True))
    values["polygon"], values["precision"] = [], {}
    return values


def test_a_watcher_moving_between_replicas_misses_nothing_behind_a_long_transaction(postgres):
    """Two replicas (stores) commit while a third transaction, holding a lower id, stays open: a watcher that asks
    each replica in turn never sees the later ids before the lower one is committed, and sees every row once."""
    url = postgres.create_database(f"fleet_replicas_{next(_replica_dbs)}")
    one, two = open_store(url), open_store(url)
    seen: list[tuple[int, str, int]] = []
    cursor = 0

    def watch(replica) -> None:
        nonlocal cursor
        batch = replica.events_after(cursor, EventFilter(), 100)
        seen.extend((e.cursor, e.device_id, e.event.sequence) for e in batch)
        cursor = batch[-1].cursor if batch else cursor

    try:
        run(one, "d1", [ev("s", i) for i in (1, 2, 3)])
        watch(two)
        with two._engine.connect() as slow:  # a replica's transaction that took its id, then stalls
            slow.begin()
            slow.execute(sa.insert(events).values(_raw_row(two, "late", ev("s", 1))))
            slow_id = slow.execute(sa.select(sa.func.max(events.c.id))).scalar_one()
            run(two, "d2", [ev("s", i) for i in (1, 2, 3)])
            run(one, "d1", [ev("s", i) for i in (4, 5)])
            for replica in (one, two):
                watch(replica)  # the later commits wait behind the open transaction
            assert [(d, n) for _, d, n in seen] == [("d1", 1), ("d1", 2), ("d1", 3)]
            later_ids = [s.cursor & ((1 << 64) - 1) for s in one.query(EventFilter(device_id="d2"), 10).items]
            assert slow_id < min(later_ids)  # a row with a lower id is committed later: an id cursor would skip it
            slow.commit()
        watch(one)
        watch(two)
        assert sorted((d, n) for _, d, n in seen) == sorted(
            [("d1", n) for n in range(1, 6)] + [("d2", n) for n in (1, 2, 3)] + [("late", 1)]
        )
        assert [c for c, _, _ in seen] == sorted({c for c, _, _ in seen})  # none twice, in cursor order
        assert seen[3][1] == "late"  # right after what was read before it committed
    finally:
        one.close()
        two.close()


def test_two_replicas_ingest_at_once_and_a_moving_watcher_keeps_each_streams_order(postgres):
    """Agents resend to either replica at random while a watcher alternates between them: every sequence stored
    once, the watcher sees every event once, and in each stream in sequence order (the cursor is per-stream order
    even though commits of the replicas run in parallel)."""
    url = postgres.create_database(f"fleet_replicas_{next(_replica_dbs)}")
    replicas = [open_store(url), open_store(url)]
    total, errors, seen = 200, [], []
    done = threading.Event()

    def agent(device: str, seed: int) -> None:
        rnd = random.Random(seed)
        try:
            mark = 0
            while mark < total:
                start = max(1, mark + 1 - rnd.randint(0, 10))
                batch = [ev("cam", i) for i in range(start, min(total, start + rnd.randint(1, 20)) + 1)]
                mark = run(rnd.choice(replicas), device, batch).acks["cam"]
        except Exception as exc:  # pragma: no cover - reported below
            errors.append(exc)

    def watcher() -> None:
        cursor, turn = 0, 0
        while True:
            finished = done.is_set()
            batch = replicas[turn % 2].events_after(cursor, EventFilter(), 50)
            turn += 1
            seen.extend((e.cursor, e.device_id, e.event.sequence) for e in batch)
            cursor = batch[-1].cursor if batch else cursor
            if finished and not batch:
                return

    threads = [threading.Thread(target=agent, args=(d, i)) for i, d in enumerate(["one", "one", "two", "three"])]
    tail = threading.Thread(target=watcher)
    try:
        tail.start()
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        done.set()
        tail.join()
        assert errors == []
        assert [c for c, _, _ in seen] == sorted({c for c, _, _ in seen}) and len(seen) == 3 * total
        for device in ("one", "two", "three"):
            assert [n for _, d, n in seen if d == device] == list(range(1, total + 1))
    finally:
        for replica in replicas:
            replica.close()


def test_retention_drops_whole_day_partitions(postgres):
    url = postgres.create_database(f"fleet_parts_{next(_replica_dbs)}")
    store = open_store(url, retention_s=2 * DAY_S)
    day = (T0 // DAY_S) * DAY_S
    try:
        made = store.make_partitions(day)
        assert made == [name_of(day + n * DAY_S) for n in range(AHEAD_DAYS + 1)] and store.make_partitions(day) == []
        run(store, "d", [ev("s", 1, day + 10), ev("s", 2, day + 20), ev("s", 3, day + DAY_S + 5)])
        run(store, "stray", [ev("past", 1, day - 5 * DAY_S), ev("ahead", 1, day + 30 * DAY_S)])

        def where() -> dict[tuple[str, int], str]:
            with store._engine.connect() as conn:
                rows = conn.execute(sa.text("SELECT stream_id, sequence, tableoid::regclass::text FROM events"))
                return {(s, n): part for s, n, part in rows}

        assert where() == {
            ("s", 1): name_of(day),
            ("s", 2): name_of(day),
            ("s", 3): name_of(day + DAY_S),
            ("past", 1): "events_default",
            ("ahead", 1): "events_default",
        }
        before = {e.event.stream_id: e.cursor for e in store.query(EventFilter(device_id="stray"), 10).items}
        assert name_of(day + 30 * DAY_S) in store.make_partitions(day + 30 * DAY_S)  # its stray moves in
        assert where()[("ahead", 1)] == name_of(day + 30 * DAY_S)
        after = {e.event.stream_id: e.cursor for e in store.query(EventFilter(device_id="stray"), 10).items}
        assert after == before  # a moved row keeps its cursor

        # cutoff = day + 1 d + 1 h: day's partition ends before it (dropped whole); the next one straddles it (kept,
        # with its event captured before the cutoff); the DEFAULT partition's rows before it are deleted.
        assert store.expire(now=day + 3 * DAY_S + 3600) == 2 + 1
        assert name_of(day) not in day_partitions_of(store) and name_of(day + DAY_S) in day_partitions_of(store)
        assert set(where()) == {("s", 3), ("ahead", 1)}
        devices = {d.device_id: d for d in store.devices(10).items}
        assert devices["d"].events == 1 and devices["d"].streams[0].acked_sequence == 3
        assert {s.stream_id: s.events for s in devices["stray"].streams} == {"past": 0, "ahead": 1}
        assert store.stats(T0).events == 2
        assert run(store, "d", [ev("s", 1, day + 10)]).duplicates == 1  # dropped is not forgotten: no re-store
    finally:
        store.close()


def day_partitions_of(store) -> dict[str, float]:
    with store._engine.connect() as conn:
        return day_partitions(conn)


def test_a_devices_later_transaction_has_the_later_cursor(postgres):
    """PostgreSQL gives a transaction its xid at its first write. Group B (devices a, b, d) updates device "a", so
    it has its xid, then waits for device "b"'s row; meanwhile report A of device "d" would commit. Then B's
    later event of "d" (its sequence 2) would have the smaller xid and sort before A's sequence 1. The device
    locks come before any write, so A waits for B and the watcher reads "d"'s events in sequence order."""
    url = postgres.create_database(f"fleet_order_{next(_replica_dbs)}")
    store = open_store(url)
    waiting = sa.text(
        "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() AND wait_event_type = 'Lock'"
    )
    try:
        run(store, "a", [ev("s", 1)])
        run(store, "b", [ev("s", 1)])
        with store._engine.connect() as holder, store._engine.connect() as probe:
            holder.begin()
            holder.execute(sa.text("SELECT 1 FROM devices WHERE device_id = 'b' FOR UPDATE"))
            group = [(d, [ev("s", 2)], [], None) for d in ("a", "b")] + [("d", [ev("s", 1), ev("s", 2)], [], None)]
            group_b = threading.Thread(target=store.ingest_many, args=(group, T0))
            group_b.start()

            def waiters() -> int:
                n = probe.execute(waiting).scalar_one()
                probe.rollback()  # a new transaction: pg_stat_activity is a snapshot per transaction
                return n

            deadline = time.monotonic() + 30
            while waiters() < 1 and time.monotonic() < deadline:
                time.sleep(0.02)
            assert group_b.is_alive()  # B waits for "b"
            report_a = threading.Thread(target=run, args=(store, "d", [ev("s", 1)]))
            report_a.start()
            while report_a.is_alive() and waiters() < 2 and time.monotonic() < deadline:
                time.sleep(0.02)
            holder.rollback()
            group_b.join(30)
            report_a.join(30)
        tail = [e.event.sequence for e in store.events_after(0, EventFilter(device_id="d"), 10)]
        assert tail == [1, 2]
    finally:
        store.close()


def test_an_older_database_keeps_its_events_ids_and_cursors(store_url):
    """Events stored before the cursor's xid (and, on PostgreSQL, before partitioning) are kept with xid 0: an old
    cursor (a plain id) resumes where it was, and new events continue the id sequence after them."""
    engine = make_engine(store_url)
    try:
        with engine.begin() as conn:
            command.upgrade(alembic_config(conn), "0001")
        columns = [c.name for c in events.columns if c.name not in ("id", "xid", "fields")]  # 0001's columns
        old_events = sa.table("events", *map(sa.column, columns))
        with engine.begin() as conn:
            conn.execute(sa.insert(devices).values(device_id="old", first_seen=T0, last_seen=T0))
            conn.execute(sa.insert(streams).values(device_id="old", stream_id="s", acked_sequence=3, events=3))
            for n in (1, 2, 3):
                row = SqlStore._event_row("old", ev("s", n), T0, "{}")[: len(columns)]  # fields come last
                conn.execute(sa.insert(old_events).values(dict(zip(columns, row, strict=True))))
    finally:
        engine.dispose()
    store = open_store(store_url)
    try:
        before = store.events_after(0, EventFilter(), 10)
        assert [e.event.sequence for e in before] == [1, 2, 3]
        assert all(e.cursor < 1 << 64 for e in before)  # xid 0: the cursor is the id it was
        assert store.events_after(before[0].cursor, EventFilter(), 10) == before[1:]
        assert run(store, "old", [ev("s", 3), ev("s", 4)]).acks == {"s": 4}
        (new,) = store.events_after(before[-1].cursor, EventFilter(), 10)
        assert new.event.sequence == 4 and new.cursor & ((1 << 64) - 1) > before[-1].cursor
    finally:
        store.close()


def test_query_pages_continue_on_another_replica(postgres):
    """A QueryEvents token carries its whole position: pages asked of two replicas in turn read as one listing."""
    url = postgres.create_database(f"fleet_pages_{next(_replica_dbs)}")
    replicas = [open_store(url), open_store(url)]
    try:
        run(replicas[0], "d", [ev("s", i, T0 + i // 3) for i in range(1, 24)])
        for newest_first in (False, True):
            got, token, turn = [], "", 0
            while True:
                page = replicas[turn % 2].query(EventFilter(), 5, token, newest_first=newest_first)
                got += [e.event.sequence for e in page.items]
                token, turn = page.next_token, turn + 1
                if not token:
                    break
            assert got == (list(range(23, 0, -1)) if newest_first else list(range(1, 24))) and turn == 5
    finally:
        for replica in replicas:
            replica.close()
