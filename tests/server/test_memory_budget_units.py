"""MemoryBudget alone: arrival order, refusals and their reasons, cancellation, the no-wait path for frames."""

from __future__ import annotations

import asyncio
import time

import pytest

from server.memory_budget import (
    MIB,
    MemoryBudget,
    MemoryBudgetError,
    available_memory,
    default_budget,
    encoded_size,
    image_cost,
)


def run(coro):
    return asyncio.run(coro)


async def _hold(budget: MemoryBudget, cost: int, name: str, order: list[str], release: asyncio.Event, **kw) -> None:
    async with budget.reserve(cost, **kw):
        order.append(name)
        await release.wait()


def test_waiters_are_admitted_in_arrival_order_and_a_small_one_does_not_pass_a_large_one():
    async def main() -> list[str]:
        budget = MemoryBudget(100)
        order: list[str] = []
        gates = {name: asyncio.Event() for name in "abc"}
        a = asyncio.create_task(_hold(budget, 60, "a", order, gates["a"]))
        await asyncio.sleep(0)
        b = asyncio.create_task(_hold(budget, 50, "b", order, gates["b"]))
        await asyncio.sleep(0)
        c = asyncio.create_task(_hold(budget, 30, "c", order, gates["c"]))  # fits now, but b came first
        await asyncio.sleep(0.05)
        assert order == ["a"] and budget.waiters == 2 and budget.held == 60
        gates["a"].set()
        await asyncio.sleep(0.05)
        assert order == ["a", "b", "c"] and budget.held == 80 and budget.waiters == 0
        gates["b"].set()
        gates["c"].set()
        await asyncio.gather(a, b, c)
        assert budget.held == 0 and budget.admitted_total == 140
        return order

    assert run(main()) == ["a", "b", "c"]


def test_one_item_over_the_whole_budget_is_refused_at_once():
    async def main() -> None:
        budget = MemoryBudget(100)
        with pytest.raises(MemoryBudgetError) as refused:
            async with budget.reserve(101):
                pass
        assert refused.value.reason == "MEMORY_BUDGET_EXCEEDED"
        assert budget.held == 0 and budget.waiters == 0

    run(main())


def test_a_waiter_whose_deadline_would_pass_is_refused_and_the_next_goes_on():
    async def main() -> None:
        budget = MemoryBudget(100)
        order: list[str] = []
        release = asyncio.Event()
        holder = asyncio.create_task(_hold(budget, 100, "holder", order, release))
        await asyncio.sleep(0)
        late = asyncio.create_task(_hold(budget, 10, "late", order, asyncio.Event(), deadline=time.monotonic() + 0.1))
        after = asyncio.create_task(_hold(budget, 10, "after", order, release))
        with pytest.raises(MemoryBudgetError) as refused:
            await late
        assert refused.value.reason == "DEADLINE_BEFORE_ADMISSION"
        assert budget.waiters == 1
        release.set()
        await asyncio.gather(holder, after)
        assert order == ["holder", "after"] and budget.held == 0

    run(main())


def test_a_deadline_already_too_close_is_refused_without_waiting():
    async def main() -> None:
        budget = MemoryBudget(100)
        release = asyncio.Event()
        holder = asyncio.create_task(_hold(budget, 100, "holder", [], release))
        await asyncio.sleep(0)
        started = time.monotonic()
        with pytest.raises(MemoryBudgetError) as refused:
            async with budget.reserve(10, deadline=time.monotonic() - 1):
                pass
        assert refused.value.reason == "DEADLINE_BEFORE_ADMISSION"
        assert time.monotonic() - started < 5  # not held until some release (a loose bound: no timing claim)
        release.set()
        await holder

    run(main())


def test_a_cancelled_waiter_leaves_the_queue_and_unblocks_those_behind_it():
    async def main() -> None:
        budget = MemoryBudget(100)
        order: list[str] = []
        release = asyncio.Event()
        holder = asyncio.create_task(_hold(budget, 50, "holder", order, release))
        await asyncio.sleep(0)
        big = asyncio.create_task(_hold(budget, 80, "big", order, asyncio.Event()))
        await asyncio.sleep(0)
        small = asyncio.create_task(_hold(budget, 40, "small", order, release))
        await asyncio.sleep(0.05)
        assert order == ["holder"]
        big.cancel()  # the head of the queue goes away: the small one behind it fits beside the holder
        await asyncio.sleep(0.05)
        assert order == ["holder", "small"] and budget.waiters == 0
        release.set()
        await asyncio.gather(holder, small)
        assert budget.held == 0

    run(main())


def test_take_now_never_waits_and_never_passes_a_waiter():
    async def main() -> None:
        budget = MemoryBudget(100)
        with budget.take_now(40):
            assert budget.held == 40
        release = asyncio.Event()
        holder = asyncio.create_task(_hold(budget, 90, "holder", [], release))
        await asyncio.sleep(0)
        with pytest.raises(MemoryBudgetError) as busy, budget.take_now(20):
            pass
        assert busy.value.reason == "MEMORY_BUSY"
        waiter = asyncio.create_task(_hold(budget, 20, "waiter", [], release))
        await asyncio.sleep(0.05)
        with pytest.raises(MemoryBudgetError), budget.take_now(5):  # it would fit, but someone waits ahead of it
            pass
        release.set()
        await asyncio.gather(holder, waiter)
        assert budget.held == 0

    run(main())


def test_no_budget_admits_everything_at_once():
    async def main() -> None:
        budget = MemoryBudget(0)
        async with budget.reserve(10**12), budget.reserve(10**12):
            with budget.take_now(10**12):
                assert budget.waiters == 0

    run(main())


def test_cost_grows_with_pixels_and_the_detector_input_and_headers_are_read_without_decoding():
    from tests.server.images import png_header_only

    small = image_cost(640, 480, (480, 640))
    page = image_cost(2480, 3508, (1984, 1408))
    assert page > small >= MIB
    assert image_cost(2480, 3508, None) < page  # detection skipped: no detector run to pay for
    assert encoded_size(png_header_only(4000, 3000)) == (4000, 3000)  # no pixel data behind the header at all
    assert encoded_size(b"not an image") is None


def test_the_default_budget_is_a_share_of_available_memory_within_its_cap_and_above_its_floor():
    assert available_memory() > 0
    assert 0 < default_budget(share=0.25, cap=512 * MIB) <= 512 * MIB
    assert default_budget(share=0.25, cap=10**15) <= available_memory()
    assert default_budget(floor=10**13, share=0.25, cap=512 * MIB) == 10**13  # the largest page always fits
