"""PostgreSQL's daily partitions of ``events``: made ahead of the clock, dropped whole by retention.

A day's partition ``events_pYYYYMMDD`` covers capture times [00:00, 24:00) UTC of that day. The store makes
today's and the next ``AHEAD_DAYS`` days' at open and at every retention round, so events as they are captured
land in a day's partition; what none covers (events stored before partitioning, a device clock days off) lands in
``events_default``. Should the DEFAULT partition hold rows of a day about to get its partition (a clock running
days ahead), they move into it in the same transaction. Replicas make partitions one at a time (an advisory lock).
"""

from __future__ import annotations

import datetime as dt
import re

import sqlalchemy as sa

__all__ = ["AHEAD_DAYS", "DAY_S", "PARTITION_LOCK", "ensure", "day_partitions", "name_of"]

AHEAD_DAYS = 3
DAY_S = 86_400.0
PARTITION_LOCK = 7_114_013  # advisory lock key: one replica at a time creates or drops partitions
DEFAULT = "events_default"
_NAME = re.compile(r"^events_p(\d{8})$")


def _day_start(t: float) -> float:
    return (t // DAY_S) * DAY_S


def name_of(day_start: float) -> str:
    return "events_p" + dt.datetime.fromtimestamp(day_start, dt.UTC).strftime("%Y%m%d")


def day_partitions(conn: sa.Connection) -> dict[str, float]:
    """Each day's partition of events and the capture time it starts at."""
    rows = conn.execute(
        sa.text(
            "SELECT c.relname FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid "
            "WHERE i.inhparent = 'events'::regclass"
        )
    ).scalars()
    found = {}
    for name in rows:
        match = _NAME.match(name)
        if match:
            day = dt.datetime.strptime(match.group(1), "%Y%m%d").replace(tzinfo=dt.UTC)
            found[name] = day.timestamp()
    return found


def ensure(conn: sa.Connection, now: float, ahead_days: int = AHEAD_DAYS) -> list[str]:
    """Make the partitions of today and the next ``ahead_days`` days that are missing; their names."""
    conn.execute(sa.text("SELECT pg_advisory_xact_lock(:k)"), {"k": PARTITION_LOCK})
    have = day_partitions(conn)
    made = []
    for n in range(ahead_days + 1):
        lo = _day_start(now) + n * DAY_S
        name = name_of(lo)
        if name in have:
            continue
        hi = lo + DAY_S
        bounds = f"FOR VALUES FROM ({lo!r}) TO ({hi!r})"
        strays = sa.text(f"SELECT 1 FROM {DEFAULT} WHERE capture_time >= :lo AND capture_time < :hi LIMIT 1")
        if conn.execute(strays, {"lo": lo, "hi": hi}).first() is None:
            conn.execute(sa.text(f"CREATE TABLE {name} PARTITION OF events {bounds}"))
        else:  # the DEFAULT partition already holds rows of that day: move them, then attach
            conn.execute(sa.text(f"LOCK TABLE {DEFAULT} IN ACCESS EXCLUSIVE MODE"))
            conn.execute(sa.text(f"CREATE TABLE {name} (LIKE events INCLUDING DEFAULTS)"))
            conn.execute(
                sa.text(
                    f"WITH moved AS (DELETE FROM {DEFAULT} WHERE capture_time >= :lo AND capture_time < :hi "
                    f"RETURNING *) INSERT INTO {name} SELECT * FROM moved"
                ),
                {"lo": lo, "hi": hi},
            )
            conn.execute(sa.text(f"ALTER TABLE events ATTACH PARTITION {name} {bounds}"))
        made.append(name)
    return made
