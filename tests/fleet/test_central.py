"""FleetCentral, the central's domain without gRPC: validation before anything is stored, the store off the event
loop, a database that goes away (STORE_UNAVAILABLE, then back), watch wake-ups, the retention loop, the observer."""

from __future__ import annotations

import asyncio
import time

import pytest

from clients.ocr_client.fleet_types import DeviceStatus, Event, EventFilter, Gap
from fleet.central import FleetCentral, Limits
from fleet.errors import FleetRequestError, StoreUnavailableError
from fleet.store import open_store

NOW = time.time()


def event(stream: str, sequence: int, at: float = NOW, **fields) -> Event:
    values = dict(type="APPEARED", track_id=sequence, text=f"AB{sequence:02d} CDE", confidence=0.8)
    values.update(fields)
    return Event(stream_id=stream, sequence=sequence, capture_time=at, **values)


def run(coro):
    return asyncio.run(coro)


async def _opened(url: str, **kwargs) -> FleetCentral:
    retention = kwargs.pop("retention_s", 0.0)
    central = FleetCentral(lambda: open_store(url, retention), **kwargs)
    await central.open()
    return central


@pytest.mark.parametrize(
    "bad, reason",
    [
        (dict(events=[event("s", 0)]), "EVENT_INVALID"),
        (dict(events=[event("s", 1, type="")]), "EVENT_INVALID"),
        (dict(events=[event("s", 1, confidence=float("nan"))]), "EVENT_INVALID"),
        (dict(events=[event("s", 1, at=float("nan"))]), "EVENT_INVALID"),
        (dict(events=[event("s", 1, text="x" * 1025)]), "EVENT_INVALID"),
        (dict(events=[event("", 1)]), "EVENT_INVALID"),
        (dict(events=[event("s", 1, polygon=((0.0, float("inf")),))]), "EVENT_INVALID"),
        (dict(gaps=[Gap("s", 3, 2, "EXPIRED")]), "GAP_INVALID"),
        (dict(gaps=[Gap("s", 1, 2, "")]), "GAP_INVALID"),
        (dict(status=DeviceStatus(backlog_events=-1)), "STATUS_INVALID"),
        (dict(status=DeviceStatus(drops={"LOST": 1})), "STATUS_INVALID"),
        (dict(events=[event("s", i) for i in range(1, 6)]), "REPORT_TOO_LARGE"),
        (dict(events=[event("s", 1, text="KX71\x00ABC")]), "EVENT_INVALID"),
    ],
)
def test_a_report_that_breaks_the_contract_stores_nothing(tmp_path, bad, reason) -> None:
    async def scenario():
        central = await _opened(f"sqlite:///{tmp_path / 'f.db'}", limits=Limits(max_events=4))
        try:
            good = [event("s", 1)]
            with pytest.raises(FleetRequestError) as caught:
                await central.report("cam", good + list(bad.get("events", ())), bad.get("gaps", ()), bad.get("status"))
            assert caught.value.reason == reason
            assert await central.acks("cam") == {}  # not even the good event of the refused report
        finally:
            await central.close()

    run(scenario())


def test_filters_and_questions_are_validated(tmp_path) -> None:
    async def scenario():
        central = await _opened(f"sqlite:///{tmp_path / 'f.db'}")
        try:
            for flt, size in [
                (EventFilter(types=("SEEN",)), 0),
                (EventFilter(text_match="LIKE"), 0),
                (EventFilter(start_time=10.0, end_time=5.0), 0),
                (EventFilter(), -1),
            ]:
                with pytest.raises(FleetRequestError) as caught:
                    await central.query(flt, size)
                assert caught.value.reason in ("FILTER_INVALID", "PAGE_SIZE_INVALID")
            with pytest.raises(FleetRequestError) as caught:
                await central.sightings(EventFilter(), window_s=0)
            assert caught.value.reason == "FILTER_INVALID"
            with pytest.raises(FleetRequestError) as caught:
                await central.query(EventFilter(), 10, "garbage-token")
            assert caught.value.reason == "PAGE_TOKEN_INVALID"
            with pytest.raises(FleetRequestError) as caught:
                async for _ in central.watch(EventFilter(), cursor="-1"):
                    pass
            assert caught.value.reason == "CURSOR_INVALID"
        finally:
            await central.close()

    run(scenario())


def test_a_database_that_goes_away_answers_store_unavailable_then_recovers(postgres) -> None:
    url = postgres.create_database("fleet_central_down")

    async def scenario():
        central = await _opened(url)
        try:
            assert (await central.report("cam", [event("s", 1)])).acks == {"s": 1}
            await asyncio.get_running_loop().run_in_executor(None, postgres.stop)
            try:
                with pytest.raises(StoreUnavailableError) as caught:
                    await central.report("cam", [event("s", 2)])
                assert caught.value.reason == "STORE_UNAVAILABLE"
            finally:
                await asyncio.get_running_loop().run_in_executor(None, postgres.start)
            for _ in range(50):  # the pool notices dead connections one by one: retry as an agent would
                try:
                    result = await central.report("cam", [event("s", 2)])
                    break
                except StoreUnavailableError:
                    await asyncio.sleep(0.1)
            assert result.acks == {"s": 2}
        finally:
            await central.close()

    run(scenario())


def test_a_store_not_open_is_unavailable(tmp_path) -> None:
    central = FleetCentral(lambda: open_store(f"sqlite:///{tmp_path / 'f.db'}"))
    with pytest.raises(StoreUnavailableError):
        run(central.stats())


def test_a_local_commit_wakes_a_watcher_at_once(tmp_path) -> None:
    async def scenario():
        central = await _opened(f"sqlite:///{tmp_path / 'f.db'}", poll_s=60.0)  # no polling within the test
        try:
            got: list = []

            async def tail():
                async for stored in central.watch(EventFilter(device_id="cam")):
                    got.append(stored.event.sequence)
                    if len(got) == 2:
                        return

            watcher = asyncio.create_task(tail())
            await asyncio.sleep(0.2)
            await central.report("cam", [event("s", 1), event("s", 2)])
            await asyncio.wait_for(watcher, 10)  # woken by the commit, not by the 60 s poll
            assert got == [1, 2]
        finally:
            await central.close()

    run(scenario())


def test_the_retention_loop_deletes_what_outlived_it_and_observers_see_commits(tmp_path) -> None:
    seen: list = []

    async def scenario():
        central = await _opened(
            f"sqlite:///{tmp_path / 'f.db'}",
            retention_s=3600.0,
            expire_every_s=0.05,
            observe=lambda device, result, seconds, now: seen.append((device, result.stored)),
        )
        try:
            await central.report("cam", [event("s", 1, at=NOW - 7200), event("s", 2, at=NOW - 60)])
            for _ in range(100):
                page = await central.query(EventFilter(device_id="cam"))
                if len(page.items) == 1:
                    break
                await asyncio.sleep(0.05)
            assert [e.event.sequence for e in page.items] == [2]
            assert (await central.stats()).retention_s == 3600.0
            assert await central.acks("cam") == {"s": 2}  # expiry never moves a stream's mark back
        finally:
            await central.close()

    run(scenario())
    assert seen == [("cam", 2)]


class _CountingStore:
    """The real store, its transactions counted (and one device's reports made to fail, when named), to see what
    the group commit does; every call goes through to the database."""

    def __init__(self, store, poison: str = "") -> None:
        self._store, self.poison, self.groups = store, poison, []

    def __getattr__(self, name):
        return getattr(self._store, name)

    def ingest_many(self, reports, now):
        self.groups.append([r[0] for r in reports])
        if self.poison in (r[0] for r in reports):
            raise RuntimeError("a report the database refuses")
        return self._store.ingest_many(reports, now)


def test_reports_that_arrive_together_commit_together_and_each_device_keeps_its_order(store_url) -> None:
    counting: list[_CountingStore] = []

    def opened():
        counting.append(_CountingStore(open_store(store_url)))
        return counting[0]

    async def scenario():
        central = FleetCentral(opened)
        await central.open()
        try:
            # 40 devices x 5 requests, each request submitted before the previous one is answered (pipelined)
            futures = [
                central.submit(
                    f"dev-{d:02d}",
                    [event(f"cam-{k % 2}", k // 2 + 1) for k in range(2 * r, 2 * r + 2)],
                    status=DeviceStatus(backlog_events=5 - r),
                )
                for r in range(5)
                for d in range(40)
            ]
            hello = central.submit("dev-00", [])
            results = await asyncio.gather(*futures)
            # no report overtook an earlier one of its device: nothing out of order, nothing doubled
            assert all(r.stored == 2 and not r.duplicates and not r.out_of_order for r in results)
            assert (await hello).acks == {"cam-0": 5, "cam-1": 5}  # all its requests were submitted before it
            groups = counting[0].groups
            assert sum(map(len, groups)) == 201 and len(groups) < 201 / 4  # far fewer commits than reports
            page = await central.query(EventFilter(device_id="dev-07"), 100)
            assert sorted((e.event.stream_id, e.event.sequence) for e in page.items) == sorted(
                (f"cam-{s}", q) for s in range(2) for q in range(1, 6)
            )
            devices = {d.device_id: d for d in (await central.devices(100)).items}
            assert len(devices) == 40 and devices["dev-00"].status.backlog_events == 1  # the last status won
        finally:
            await central.close()

    run(scenario())


def test_a_report_that_fails_its_group_fails_alone(tmp_path) -> None:
    counting: list[_CountingStore] = []

    def opened():
        counting.append(_CountingStore(open_store(f"sqlite:///{tmp_path / 'f.db'}"), poison="bad"))
        return counting[0]

    async def scenario():
        central = FleetCentral(opened)
        await central.open()
        try:
            futures = [central.submit(name, [event("cam", 1)]) for name in ("a", "b", "bad", "c", "d", "e")]
            results = await asyncio.gather(*futures, return_exceptions=True)
            failed = [
                name
                for name, r in zip(["a", "b", "bad", "c", "d", "e"], results, strict=True)
                if isinstance(r, Exception)
            ]
            assert failed == ["bad"]
            assert all(r.stored == 1 for r in results if not isinstance(r, Exception))
            assert any(len(g) > 1 and "bad" in g for g in counting[0].groups)  # it failed a group first
            assert await central.acks("c") == {"cam": 1} and await central.acks("bad") == {}
        finally:
            await central.close()

    run(scenario())
