"""The central's domain: FleetCentral validates reports and questions, runs the (synchronous) store in a thread
pool, tails commits for WatchEvents and expires old events. Free of gRPC: server/fleet_service.py is its transport.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import math
import time
from collections.abc import AsyncIterator, Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import Any, TypeVar

from clients.ocr_client.fleet_types import (
    DROP_REASONS,
    EVENT_TYPES,
    TEXT_MATCHES,
    DeleteResult,
    DeviceStatus,
    Event,
    EventFilter,
    FleetStats,
    Gap,
    IngestResult,
    Page,
    StoredEvent,
)
from fleet.errors import FleetRequestError, StoreUnavailableError
from fleet.model import FleetStore, field_condition
from fleet.opening import open_patiently

_T = TypeVar("_T")

__all__ = [
    "FleetCentral",
    "Limits",
    "validate_report",
    "validate_filter",
    "page_size_of",
    "cursor_of",
    "DEFAULT_PAGE_SIZE",
    "MAX_PAGE_SIZE",
]

log = logging.getLogger(__name__)
DEFAULT_PAGE_SIZE = 100
MAX_PAGE_SIZE = 1000
MAX_ID = 128  # characters of a device or stream id
MAX_TEXT = 1024  # characters of an event's text
MAX_POLYGON = 16  # points of an event's polygon
MAX_FIELDS = 32  # key fields of one event
MAX_FIELD_NAME = 64  # characters of a field's name
MAX_FILTER_FIELDS = 16  # field conditions of one filter
WATCH_BATCH = 500  # events read from the store at once by one watcher

IngestObserver = Callable[[str, IngestResult, float, float], None]  # device, result, seconds, now


class Limits:
    """How much one report may carry (``max_events``: events and gaps of one request)."""

    def __init__(self, max_events: int = 1000) -> None:
        self.max_events = max_events


def _bad(message: str, reason: str = "EVENT_INVALID") -> FleetRequestError:
    return FleetRequestError(message, reason)


def _check_id(value: str, what: str, reason: str) -> None:
    if not 1 <= len(value) <= MAX_ID:
        raise _bad(f"{what} must be 1 to {MAX_ID} characters (got {len(value)})", reason)


def validate_report(
    device_id: str, events: Sequence[Event], gaps: Sequence[Gap], status: DeviceStatus | None, max_events: int
) -> None:
    """Refuse a report that breaks the contract, before anything of it is stored."""
    if not device_id:
        raise _bad("the report names no device (device_id) and the call carries no identity", "DEVICE_ID_MISSING")
    _check_id(device_id, "device_id", "DEVICE_ID_INVALID")
    if "\x00" in device_id:
        raise _bad("device_id must not contain NUL characters", "DEVICE_ID_INVALID")
    if len(events) + len(gaps) > max_events:
        raise _bad(
            f"{len(events)} events and {len(gaps)} gaps in one report; the limit is {max_events}", "REPORT_TOO_LARGE"
        )
    for i, e in enumerate(events):
        where = f"event {i} (stream {e.stream_id[:MAX_ID]!r}, sequence {e.sequence})"
        _check_id(e.stream_id, f"{where}: stream_id", "EVENT_INVALID")
        if e.sequence < 1:
            raise _bad(f"{where}: sequence must be >= 1")
        if e.type not in EVENT_TYPES:
            raise _bad(f"{where}: type must be one of {', '.join(EVENT_TYPES)}")
        if not (0.0 <= e.confidence <= 1.0):  # also refuses NaN
            raise _bad(f"{where}: confidence must be within 0..1")
        if len(e.text) > MAX_TEXT or len(e.previous_text) > MAX_TEXT:
            raise _bad(f"{where}: text is longer than {MAX_TEXT} characters")
        if "\x00" in "".join(
            (e.stream_id, e.text, e.previous_text, e.bundle, e.backend, *e.precision.keys(), *e.precision.values())
        ):
            raise _bad(f"{where}: texts must not contain NUL characters (PostgreSQL cannot store them)")
        if len(e.polygon) > MAX_POLYGON or not all(math.isfinite(c) for p in e.polygon for c in p):
            raise _bad(f"{where}: polygon must have at most {MAX_POLYGON} finite points")
        if not math.isfinite(e.capture_time) or e.frame_width < 0 or e.frame_height < 0:
            raise _bad(f"{where}: capture time must be set and frame size must not be negative")
        _check_fields(e, where)
    for i, g in enumerate(gaps):
        _check_id(g.stream_id, f"gap {i}: stream_id", "GAP_INVALID")
        if not 1 <= g.first <= g.last:
            raise _bad(f"gap {i}: needs 1 <= first_sequence <= last_sequence", "GAP_INVALID")
        if g.reason not in DROP_REASONS:
            raise _bad(f"gap {i}: reason must be one of {', '.join(DROP_REASONS)}", "GAP_INVALID")
    if status is not None:
        if status.backlog_events < 0 or status.backlog_bytes < 0:
            raise _bad("status: backlog must not be negative", "STATUS_INVALID")
        for reason, count in status.drops.items():
            if reason not in DROP_REASONS or count < 0:
                raise _bad(f"status: drops need a known reason and a count >= 0 ({reason})", "STATUS_INVALID")


def _check_fields(e: Event, where: str) -> None:
    if len(e.fields) > MAX_FIELDS:
        raise _bad(f"{where}: more than {MAX_FIELDS} fields")
    for f in e.fields:
        if not 1 <= len(f.name) <= MAX_FIELD_NAME or "=" in f.name:
            raise _bad(f"{where}: a field name must be 1 to {MAX_FIELD_NAME} characters without '='")
        if max(len(f.value), len(f.text)) > MAX_TEXT or len(f.field_set) > MAX_ID:
            raise _bad(f"{where}: field {f.name!r}: value or text longer than {MAX_TEXT} characters")
        if not (0.0 <= f.confidence <= 1.0):
            raise _bad(f"{where}: field {f.name!r}: confidence must be within 0..1")
        if "\x00" in f.name + f.value + f.text + f.field_set:
            raise _bad(f"{where}: field {f.name!r}: texts must not contain NUL characters")


def validate_filter(flt: EventFilter) -> None:
    """Refuse a filter no event could be asked with (unknown type or match, confidence outside 0..1, ...)."""
    unknown = [t for t in flt.types if t not in EVENT_TYPES]
    if unknown:
        raise _bad(f"filter: unknown event type(s) {', '.join(unknown)}", "FILTER_INVALID")
    if flt.text_match not in TEXT_MATCHES:
        raise _bad(f"filter: text_match must be one of {', '.join(TEXT_MATCHES)}", "FILTER_INVALID")
    if not (0.0 <= flt.min_confidence <= 1.0):
        raise _bad("filter: min_confidence must be within 0..1", "FILTER_INVALID")
    if flt.start_time is not None and flt.end_time is not None and flt.end_time < flt.start_time:
        raise _bad("filter: end_time is before start_time", "FILTER_INVALID")
    if len(flt.device_id) > MAX_ID or len(flt.stream_id) > MAX_ID or len(flt.text) > MAX_TEXT:
        raise _bad("filter: device_id, stream_id or text too long", "FILTER_INVALID")
    if len(flt.fields) > MAX_FILTER_FIELDS:
        raise _bad(f"filter: more than {MAX_FILTER_FIELDS} field conditions", "FILTER_INVALID")
    for condition in flt.fields:
        name, _ = field_condition(condition)
        if not 1 <= len(name) <= MAX_FIELD_NAME or len(condition.partition("=")[2]) > MAX_TEXT:
            raise _bad(f"filter: field condition {condition[:80]!r} is not NAME or NAME=VALUE", "FILTER_INVALID")


def page_size_of(page_size: int) -> int:
    """AIP-158: 0 means the default, larger than the maximum is coerced to it, negative is an error."""
    if page_size < 0:
        raise _bad("page_size must not be negative", "PAGE_SIZE_INVALID")
    return min(page_size or DEFAULT_PAGE_SIZE, MAX_PAGE_SIZE)


def cursor_of(text: str) -> int | None:
    """A WatchEvents cursor (None: from now on)."""
    if not text:
        return None
    if not text.isdigit() or len(text) > 39 or int(text) >> 127:  # a packed (xid, id) is below 2**127
        raise _bad("cursor must be the `cursor` of a StoredEvent", "CURSOR_INVALID")
    return int(text)


def _store_errors() -> tuple[type[BaseException], ...]:
    """The exceptions that mean "the database is unreachable", not "the request is wrong"."""
    try:
        from sqlalchemy.exc import DisconnectionError, InterfaceError, OperationalError
    except ImportError:  # pragma: no cover - the store needs SQLAlchemy
        return (ConnectionError,)
    return (OperationalError, InterfaceError, DisconnectionError, ConnectionError)


class _Hub:
    """Wakes watchers when this process commits: each waits on the Event current when it last read."""

    def __init__(self) -> None:
        self._event = asyncio.Event()

    def waiter(self) -> asyncio.Event:
        return self._event

    def notify(self) -> None:
        self._event.set()
        self._event = asyncio.Event()


# A queued report: (device_id, events, gaps, status), when it came, and the future its commit settles.
_Queued = tuple[tuple, float, asyncio.Future]


class _GroupCommit:
    """Reports that arrive while earlier ones are committing share the next transaction (``ingest_many``): one
    commit, one WAL flush, for many devices. The store commits one transaction at a time on PostgreSQL (the
    commit-order lock) and on SQLite (one writer), each waiting for its flush (about 3 ms on this box's disk), so
    without groups the central acknowledges at most some 300 reports/s whatever the CPU. Up to ``concurrency``
    groups are in flight, so one group's row work overlaps the previous one's flush; a device's report waits
    while an earlier one of that device is in a group still committing, so each device's reports are judged in
    the order they came. A group that fails for another reason than an unreachable store is retried report by
    report, so one report's fault stays its own.
    """

    def __init__(self, run: Callable, max_reports: int = 256, max_events: int = 10_000, concurrency: int = 2) -> None:
        self._run = run
        self.max_reports = max_reports
        self.max_events = max_events
        self.concurrency = concurrency
        self._queue: list[_Queued] = []
        self._running = 0
        self._busy: dict[str, int] = {}  # device -> its reports in groups still committing

    def submit(self, report: tuple, now: float) -> asyncio.Future:
        """Queue ``report`` (device_id, events, gaps, status); the future resolves after its commit."""
        future = asyncio.get_running_loop().create_future()
        self._queue.append((report, now, future))
        self._start()
        return future

    def _start(self) -> None:
        while self._queue and self._running < self.concurrency:
            group: list[_Queued] = []
            rest: list[_Queued] = []
            held: set[str] = set()
            events = 0
            for item in self._queue:
                device, size = item[0][0], len(item[0][1]) + len(item[0][2])
                full = group and (len(group) >= self.max_reports or events + size > self.max_events)
                if full or device in held or device in self._busy:
                    held.add(device)  # its later reports wait too: a device's reports keep their order
                    rest.append(item)
                    continue
                group.append(item)
                events += size
            if not group:
                return
            self._queue = rest
            for report, _, _ in group:
                self._busy[report[0]] = self._busy.get(report[0], 0) + 1
            self._running += 1
            asyncio.get_running_loop().create_task(self._commit(group))

    async def _commit(self, group: list[_Queued]) -> None:
        try:
            await self._ingest(group)
        finally:
            self._running -= 1
            for report, _, _ in group:
                left = self._busy[report[0]] - 1
                if left:
                    self._busy[report[0]] = left
                else:
                    del self._busy[report[0]]
            self._start()

    async def _ingest(self, group: list[_Queued]) -> None:
        now = max(now for _, now, _ in group)
        try:
            results = await self._run(lambda s: s.ingest_many([report for report, _, _ in group], now))
        except StoreUnavailableError as exc:
            for _, _, future in group:
                _settle(future, exc=exc)
            return
        except Exception as exc:
            if len(group) == 1:
                _settle(group[0][2], exc=exc)
                return
            log.warning("a group of %d reports failed (%s): committing them one by one", len(group), type(exc).__name__)
            for item in group:
                await self._ingest([item])
            return
        for (_, _, future), result in zip(group, results, strict=True):  # one result per report
            _settle(future, result)


def _settle(future: asyncio.Future, result: IngestResult | None = None, exc: BaseException | None = None) -> None:
    """Answer a waiting report (unless its call was cancelled meanwhile: what committed stays committed)."""
    if not future.done():
        if exc is not None:
            future.set_exception(exc)
        else:
            future.set_result(result)


class FleetCentral:
    """Every operation of the central, over one FleetStore opened by ``open_store`` (a callable, so that opening
    and migrating, which block, happen in ``open()`` off the event loop).

    ``poll_s``: how often a watcher looks for commits other replicas made (a local commit wakes it at once);
    ``expire_every_s``: how often events past the store's retention are deleted (never when retention is 0) and, on
    PostgreSQL, the daily partitions ahead are made.
    ``observe(device, result, seconds, now)`` is called after each committed report (metrics).
    """

    def __init__(
        self,
        open_store: Callable[[], FleetStore],
        *,
        limits: Limits | None = None,
        threads: int = 4,
        poll_s: float = 1.0,
        expire_every_s: float = 60.0,
        observe: IngestObserver | None = None,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self._open_store = open_store
        self.limits = limits or Limits()
        self.poll_s = poll_s
        self.expire_every_s = expire_every_s
        self.observe = observe
        self.clock = clock
        self.store: FleetStore | None = None
        self._pool = ThreadPoolExecutor(max_workers=max(1, threads), thread_name_prefix="fleet-store")
        self._hub: _Hub | None = None
        self._expiry: asyncio.Task | None = None
        self._errors = _store_errors()
        self._group = _GroupCommit(self._run)

    @property
    def ready(self) -> bool:
        return self.store is not None

    async def open(self) -> None:
        """Open (and migrate) the store, then start the retention loop; an unreachable database is tried again
        until it answers (fleet.opening)."""
        loop = asyncio.get_running_loop()
        self._hub = _Hub()
        self.store = await open_patiently(lambda: loop.run_in_executor(self._pool, self._open_store), self._errors)
        if self.store.retention_s > 0 or self.store.kind == "postgresql":  # PostgreSQL: partitions made ahead too
            self._expiry = loop.create_task(self._expire_loop(self.store.retention_s))

    async def close(self) -> None:
        if self._expiry is not None:
            self._expiry.cancel()
        store, self.store = self.store, None
        if store is not None:
            await asyncio.get_running_loop().run_in_executor(self._pool, store.close)
        self._pool.shutdown(wait=False)

    async def _run(self, fn: Callable[..., _T], *args: Any) -> _T:
        store = self.store
        if store is None:
            raise StoreUnavailableError("the fleet store is not open")
        try:
            return await asyncio.get_running_loop().run_in_executor(self._pool, lambda: fn(store, *args))
        except self._errors as exc:
            log.warning("fleet store unavailable: %s", str(exc).splitlines()[0] if str(exc) else type(exc).__name__)
            raise StoreUnavailableError(f"the fleet store is unavailable ({type(exc).__name__})") from None

    # ---- reports ----------------------------------------------------------------------------------------
    def submit(
        self, device_id: str, events: Sequence[Event], gaps: Sequence[Gap] = (), status: DeviceStatus | None = None
    ) -> asyncio.Future:
        """Validate now (raising FleetRequestError before anything is queued), then queue the report for the next
        group commit (_GroupCommit); the returned future resolves with its IngestResult after the commit (its acks
        may be sent then). Reports of one device are judged in the order they were submitted, so a transport may
        submit a call's next request while the previous one commits."""
        validate_report(device_id, events, gaps, status, self.limits.max_events)
        if self.store is None:
            raise StoreUnavailableError("the fleet store is not open")
        now = self.clock()
        started = time.perf_counter()
        committed = self._group.submit((device_id, events, gaps, status), now)

        def done(future: asyncio.Future) -> None:
            if future.cancelled() or future.exception() is not None:
                return
            result = future.result()
            if result.stored and self._hub is not None:
                self._hub.notify()
            if self.observe is not None:
                self.observe(device_id, result, time.perf_counter() - started, now)

        committed.add_done_callback(done)
        return asyncio.shield(committed)  # a cancelled caller does not undo a commit, nor its notification

    async def report(
        self, device_id: str, events: Sequence[Event], gaps: Sequence[Gap] = (), status: DeviceStatus | None = None
    ) -> IngestResult:
        """Validate, then commit one report (in a group with others that arrive meanwhile); returns after the
        commit."""
        return await self.submit(device_id, events, gaps, status)

    async def acks(self, device_id: str) -> dict[str, int]:
        return await self._run(lambda s: s.acks(device_id))

    # ---- questions ----------------------------------------------------------------------------------------
    async def query(
        self, flt: EventFilter, page_size: int = 0, page_token: str = "", newest_first: bool = False
    ) -> Page:
        validate_filter(flt)
        size = page_size_of(page_size)
        return await self._paged(lambda s: s.query(flt, size, page_token, newest_first))

    async def devices(self, page_size: int = 0, page_token: str = "") -> Page:
        size = page_size_of(page_size)
        return await self._paged(lambda s: s.devices(size, page_token))

    async def sightings(
        self, flt: EventFilter, window_s: float = 300.0, min_streams: int = 1, page_size: int = 0, page_token: str = ""
    ) -> Page:
        validate_filter(flt)
        if not (window_s > 0 and math.isfinite(window_s)) or min_streams < 0:
            raise _bad("window must be positive and min_streams must not be negative", "FILTER_INVALID")
        size = page_size_of(page_size)
        return await self._paged(lambda s: s.sightings(flt, window_s, max(1, min_streams), size, page_token))

    async def _paged(self, call: Callable[[FleetStore], Page]) -> Page:
        try:
            return await self._run(call)
        except ValueError as exc:  # the store's word for a token of another query (or none of its own)
            raise _bad(f"page_token does not belong to this request: {exc}", "PAGE_TOKEN_INVALID") from None

    async def stats(self) -> FleetStats:
        now = self.clock()
        return await self._run(lambda s: s.stats(now))

    async def delete_device(self, device_id: str) -> DeleteResult:
        _check_id(device_id, "device_id", "DEVICE_ID_MISSING" if not device_id else "DEVICE_ID_INVALID")
        return await self._run(lambda s: s.delete_device(device_id))

    async def watch(self, flt: EventFilter, cursor: str = "") -> AsyncIterator[StoredEvent]:
        """Events matching ``flt`` committed after ``cursor``, then each new one as it is committed, forever. Without
        a cursor: the stored events captured since ``flt.start_time`` first when it is set (one walk in commit
        order, so nothing is missed or repeated where the replay meets the tail), else only what comes from now on.
        Local commits wake the tail at once; other replicas' within ``poll_s``."""
        validate_filter(flt)
        position = cursor_of(cursor)
        if position is None and flt.start_time is not None:
            position = 0  # replay the stored events the filter's start time selects, then follow
        if position is None:
            position = await self._run(lambda s: s.last_cursor())
        while True:
            assert self._hub is not None
            woken = self._hub.waiter()  # taken before reading, so a commit in between is not missed
            batch = await self._run(lambda s, after: s.events_after(after, flt, WATCH_BATCH), position)
            for stored in batch:
                position = max(position, stored.cursor)
                yield stored
            if len(batch) >= WATCH_BATCH:
                continue
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(woken.wait(), self.poll_s)

    # ---- retention ----------------------------------------------------------------------------------------
    async def expire_once(self) -> int:
        """One retention round: the partitions ahead made (PostgreSQL), then what outlived the retention removed."""
        now = self.clock()
        made = await self._run(lambda s: s.make_partitions(now))
        if made:
            log.info("fleet store: partitions %s made", ", ".join(made))
        return await self._run(lambda s: s.expire(now))

    async def _expire_loop(self, retention_s: float) -> None:
        while True:
            try:
                removed = await self.expire_once()
                if removed:
                    log.info("retention: %d events older than %.0f s deleted", removed, retention_s)
            except StoreUnavailableError:
                pass  # logged by _run; the next round tries again
            except Exception:
                log.exception("retention round failed")
            await asyncio.sleep(self.expire_every_s)
