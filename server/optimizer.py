"""Serve first, optimise in the background: where this host has no gate record for the served backend (a fresh
clone, a changed CPU, new code or models), the server starts on what resolves now (FP32, or the last published
choice) and runs ``python -m quantize`` for that backend as a child process at the lowest priority and on one
thread, so calls keep their speed. The child publishes its record with two renames; ``server.models_watch``
picks it up like a record published by hand and swaps the models in without a restart.

Its progress (the child's ``progress`` lines, ``quantize.progress``) is logged every ``LOG_EVERY`` of the way
and kept in ``OptimizeStatus`` for ``GetServerInfo`` and the metrics.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import sys
from collections.abc import Sequence

from quantize.progress import parse_line
from server.model_status import OptimizeStatus

__all__ = ["Optimizer"]

log = logging.getLogger(__name__)
LOG_EVERY = 0.1  # log the child's progress each time it passes another tenth
TAIL = 20  # lines of the child's output kept for a failure's message


class Optimizer:
    """One background build for ``bundle_id`` on ``backend``; ``run()`` until it ends, ``stop()`` kills it."""

    def __init__(self, bundle_id: str, backend: str, status: OptimizeStatus, extra_args: Sequence[str] = ()) -> None:
        self.bundle_id = bundle_id
        self.backend = backend
        self.status = status
        self.extra_args = tuple(extra_args)
        self._child: asyncio.subprocess.Process | None = None

    def command(self) -> list[str]:
        return [
            sys.executable,
            "-m",
            "quantize",
            "--bundle",
            self.bundle_id,
            "--backend",
            self.backend,
            "--threads",
            "1",
            "--progress",
            "lines",
            *self.extra_args,
        ]

    async def run(self) -> None:
        status = self.status
        status.backend = self.backend
        status.state, status.detail = "checking", "is a build for this host's inputs there?"
        try:
            from quantize.build import pending

            needed, why = await asyncio.to_thread(pending, self.bundle_id, self.backend)
        except Exception as exc:  # no rendered sets, an unreadable record: say so, serve on
            status.state, status.detail = "failed", f"cannot tell whether a build is needed: {exc}"
            log.error("background INT8 build not started: %s", status.detail)
            return
        if not needed and not self.extra_args:
            status.state, status.progress, status.detail = "up_to_date", 1.0, why
            log.info("INT8/BF16 candidates of %s on %s: %s", self.bundle_id, self.backend, why)
            return
        status.state, status.progress, status.detail = "building", 0.0, why
        log.info(
            "building and gating INT8/BF16 candidates of %s on %s in the background (nice 19, one thread): %s; "
            "the models are swapped in without a restart when the gate publishes",
            self.bundle_id,
            self.backend,
            why,
        )
        env = dict(os.environ, OMP_NUM_THREADS="1", PYTHONUNBUFFERED="1")
        self._child = await asyncio.create_subprocess_exec(
            *self.command(),
            stdin=asyncio.subprocess.DEVNULL,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.STDOUT,
            env=env,
            preexec_fn=_lowest_priority,
        )
        tail: list[str] = []
        logged = 0.0
        assert self._child.stdout is not None
        async for raw in self._child.stdout:
            line = raw.decode("utf-8", "replace").rstrip()
            if not line:
                continue
            parsed = parse_line(line)
            if parsed is None:
                tail = (tail + [line])[-TAIL:]
                log.debug("quantize: %s", line)
                continue
            status.progress, status.phase, status.eta_s = parsed
            if status.progress >= logged + LOG_EVERY:
                logged = status.progress - status.progress % LOG_EVERY
                log.info(
                    "background INT8 build %.0f %% (%s)%s",
                    100 * status.progress,
                    status.phase,
                    f", about {status.eta_s / 60:.0f} min left" if status.eta_s else "",
                )
        code = await self._child.wait()
        self._child = None
        if code == 0:
            status.state, status.progress, status.eta_s = "published", 1.0, 0.0
            status.detail = tail[-1] if tail else "built and gated"
            log.info("background INT8 build done: %s", status.detail)
        else:
            status.state = "failed"
            status.detail = (tail[-1] if tail else "") or f"python -m quantize exited with status {code}"
            log.error("background INT8 build failed (exit %d): %s; serving on as before", code, status.detail)

    async def stop(self) -> None:
        """Kill a build still running (a server that stops does not leave it behind)."""
        child = self._child
        if child is None or child.returncode is not None:
            return
        with contextlib.suppress(ProcessLookupError):
            child.terminate()
        try:
            await asyncio.wait_for(child.wait(), 5)
        except TimeoutError:
            with contextlib.suppress(ProcessLookupError):
                child.kill()
            await child.wait()


def _lowest_priority() -> None:
    """In the child, before exec: the lowest CPU priority, so serving always comes first."""
    os.nice(19)
