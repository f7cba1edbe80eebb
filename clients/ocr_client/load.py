"""Closed-loop load generation: N workers call one function back to back; throughput and latency percentiles."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

__all__ = ["run_load", "summarize"]


def summarize(latencies_s: Sequence[float], wall_s: float, errors: int = 0) -> dict[str, Any]:
    ms = np.asarray(latencies_s, dtype=np.float64) * 1000
    done = len(ms)
    pct = (lambda q: round(float(np.percentile(ms, q)), 2)) if done else (lambda q: None)
    return {
        "requests": done,
        "errors": errors,
        "wall_s": round(wall_s, 3),
        "throughput_rps": round(done / wall_s, 3) if wall_s > 0 else None,
        "p50_ms": pct(50),
        "p95_ms": pct(95),
        "p99_ms": pct(99),
        "mean_ms": round(float(ms.mean()), 2) if done else None,
    }


def run_load(
    call: Callable[[Any], Any], items: Sequence[Any], concurrency: int, requests: int, warmup: int = 0
) -> dict[str, Any]:
    """``requests`` calls of ``call(item)`` (items taken round-robin) from ``concurrency`` threads at once.

    ``warmup`` calls run first and are not counted. A call that raises counts as an error, not a latency.
    """
    for k in range(warmup):
        call(items[k % len(items)])
    lock = threading.Lock()
    counter = iter(range(requests))
    latencies: list[float] = []
    errors = [0]

    def worker() -> None:
        while True:
            with lock:
                k = next(counter, None)
            if k is None:
                return
            t0 = time.perf_counter()
            try:
                call(items[k % len(items)])
            except Exception:
                with lock:
                    errors[0] += 1
                continue
            with lock:
                latencies.append(time.perf_counter() - t0)

    threads = [threading.Thread(target=worker, daemon=True) for _ in range(max(1, concurrency))]
    started = time.perf_counter()
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    result = summarize(latencies, time.perf_counter() - started, errors[0])
    result["concurrency"] = concurrency
    return result
