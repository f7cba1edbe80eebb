"""FleetCentral, the central's domain without gRPC: validation before anything is stored, the store off the event
loop, a database that goes away (STORE_UNAVAILABLE, then back), watch wake-ups, the retention loop, the observer."""

from __future__ import annotations

import asyncio
import time

import pytest

from fleet.central import FleetCentral, Limits
from fleet.errors import FleetRequestError, StoreUnavailableError
from fleet.model import DeviceStatus, Event, EventFilter, Gap
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


@pytest.mark.parametrize("bad, reason", [
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
])
def test_a_report_that_breaks_the_contract_stores_nothing(tmp_path, bad, reason) -> None:
    async def scenario():
        central = await _opened(f"sqlite:///{tmp_path / 'f.db'}", limits=Limits(max_events=4))
        try:
            good = [event("s", 1)]
            with pytest.raises(FleetRequestError) as caught:
                await central.report("cam", good + list(bad.get("events", ())), bad.get("gaps", ()),
                                     bad.get("status"))
            assert caught.value.reason == reason
            assert await central.acks("cam") == {}  # not even the good event of the refused report
        finally:
            await central.close()

    run(scenario())


def test_filters_and_questions_are_validated(tmp_path) -> None:
    async def scenario():
        central = await _opened(f"sqlite:///{tmp_path / 'f.db'}")
        try:
            for flt, size in [(EventFilter(types=("SEEN",)), 0), (EventFilter(text_match="LIKE"), 0),
                              (EventFilter(start_time=10.0, end_time=5.0), 0), (EventFilter(), -1)]:
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
        central = await _opened(f"sqlite:///{tmp_path / 'f.db'}", retention_s=3600.0, expire_every_s=0.05,
                                observe=lambda device, result, seconds, now: seen.append((device, result.stored)))
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
