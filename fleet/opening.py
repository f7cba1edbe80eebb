"""Opening the central's store with patience: a database that is not up yet (or unreachable for a while) is tried
again with backoff, while the central stays NOT_SERVING, instead of the process exiting at start."""

from __future__ import annotations

import asyncio
import logging
import random
from collections.abc import Awaitable, Callable
from typing import TypeVar

__all__ = ["open_patiently"]

log = logging.getLogger(__name__)
T = TypeVar("T")


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__


async def open_patiently(
    open_once: Callable[[], Awaitable[T]],
    transient: tuple[type[BaseException], ...],
    *,
    first_delay_s: float = 0.5,
    max_delay_s: float = 10.0,
) -> T:
    """``await open_once()`` until it succeeds; a ``transient`` error (the database refused, timed out, went
    away) is logged and tried again after a jittered, doubling delay up to ``max_delay_s``. Any other error (a bad
    URL, a failed migration) is raised at once. Cancelling the task (the server stopping) ends the waiting.

    Kubernetes starts the central and its PostgreSQL in any order: a central that exited would crash-loop with a
    growing restart delay, one that waits serves as soon as the database does (its readiness probe, the
    NOT_SERVING health, keeps traffic away meanwhile)."""
    delay = first_delay_s
    attempt = 1
    while True:
        try:
            return await open_once()
        except transient as exc:
            wait = delay * random.uniform(0.8, 1.2)
            log.warning(
                "fleet store unreachable (attempt %d: %s); trying again in %.1f s, FleetService NOT_SERVING until then",
                attempt,
                _first_line(exc),
                wait,
            )
            await asyncio.sleep(wait)
            delay = min(max_delay_s, delay * 2)
            attempt += 1
