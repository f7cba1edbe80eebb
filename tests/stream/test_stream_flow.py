"""Flow control: LATEST_ONLY / QUEUE / ALL semantics, thread and asyncio waiters, close and cancel."""

from __future__ import annotations

import asyncio
import threading
import time

import pytest

from edge_runtime.stream.flow import FlowCancelled, FlowClosed, FlowMode, FlowQueue


def drain(flow: FlowQueue) -> list:
    out = []
    while True:
        try:
            out.append(flow.get(timeout=0))
        except (TimeoutError, FlowClosed):
            return out


def test_latest_only_keeps_the_newest_and_counts_drops():
    flow = FlowQueue(FlowMode.LATEST_ONLY)
    for i in range(5):
        assert flow.put(i)
    delivery = flow.get()
    assert delivery.item == 4
    assert (delivery.dropped_total, delivery.dropped_since_last) == (4, 4)
    flow.put(5)
    assert flow.get().dropped_since_last == 0
    assert flow.stats().dropped == 4


def test_queue_drops_the_oldest_when_full():
    flow = FlowQueue(FlowMode.QUEUE, size=3)
    for i in range(7):
        assert flow.put(i)
    flow.close()
    items = drain(flow)
    assert [d.item for d in items] == [4, 5, 6]
    assert items[0].dropped_since_last == 4 and items[-1].dropped_total == 4


def test_all_never_drops_and_blocks_the_producer_when_full():
    flow = FlowQueue(FlowMode.ALL, size=2)
    assert flow.put(0) and flow.put(1)
    assert flow.put(2, timeout=0.05) is False  # back-pressure: the producer would wait
    released = threading.Event()

    def producer():
        flow.put(2)
        released.set()

    thread = threading.Thread(target=producer)
    thread.start()
    assert not released.wait(0.1)
    assert flow.get().item == 0
    assert released.wait(2)
    thread.join()
    flow.close()
    assert [d.item for d in drain(flow)] == [1, 2]
    assert flow.stats().dropped == 0


def test_queue_wait_is_measured():
    flow = FlowQueue(FlowMode.ALL)
    flow.put("x")
    time.sleep(0.05)
    assert flow.get().queue_wait_ms >= 40


def test_close_lets_the_consumer_drain_then_ends():
    flow = FlowQueue(FlowMode.QUEUE, size=4)
    flow.put(1)
    flow.close()
    assert flow.get().item == 1
    with pytest.raises(FlowClosed):
        flow.get()
    with pytest.raises(FlowClosed):
        flow.put(2)


def test_cancel_discards_and_wakes_thread_waiters_at_once():
    flow = FlowQueue(FlowMode.ALL, size=1)
    flow.put(0)
    errors: list[BaseException] = []

    def wait(call):
        try:
            call()
        except BaseException as exc:
            errors.append(exc)

    empty = FlowQueue(FlowMode.LATEST_ONLY)
    threads = [
        threading.Thread(target=wait, args=(lambda: flow.put(1),)),
        threading.Thread(target=wait, args=(empty.get,)),
    ]
    for t in threads:
        t.start()
    time.sleep(0.05)
    started = time.monotonic()
    flow.cancel()
    empty.cancel()
    for t in threads:
        t.join(2)
    assert time.monotonic() - started < 1
    assert len(errors) == 2 and all(isinstance(e, FlowCancelled) for e in errors)
    assert flow.stats().waiting == 0


def test_asyncio_producer_and_consumer():
    async def scenario():
        flow = FlowQueue(FlowMode.ALL, size=2)

        async def produce():
            for i in range(10):
                await flow.aput(i)
            flow.close()

        task = asyncio.create_task(produce())
        got = []
        while True:
            try:
                got.append((await flow.aget()).item)
            except FlowClosed:
                break
            await asyncio.sleep(0)
        await task
        return got

    assert asyncio.run(scenario()) == list(range(10))


def test_thread_producer_feeds_asyncio_consumer():
    async def scenario():
        flow = FlowQueue(FlowMode.LATEST_ONLY)

        def produce():
            for i in range(50):
                flow.put(i)
                time.sleep(0.002)
            flow.close()

        thread = threading.Thread(target=produce)
        thread.start()
        got = []
        while True:
            try:
                delivery = await flow.aget()
            except FlowClosed:
                break
            got.append(delivery)
            await asyncio.sleep(0.02)  # a slow consumer
        thread.join()
        return got

    got = asyncio.run(scenario())
    assert got[-1].item == 49
    assert got[-1].dropped_total == 50 - len(got) > 0
    assert sum(d.dropped_since_last for d in got) == got[-1].dropped_total


def test_cancelling_an_awaiting_task_leaves_no_waiter():
    async def scenario():
        flow = FlowQueue(FlowMode.LATEST_ONLY)
        task = asyncio.create_task(flow.aget())
        await asyncio.sleep(0.01)
        assert len(flow._async_getters) == 1
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
        return flow

    flow = asyncio.run(scenario())
    assert flow._async_getters == [] and flow._async_putters == []
