"""Live model changes: the served bundle's files are polled, and when they change (a new version, a newly gated
precision from ``python -m quantize``, run by hand or by ``server.optimizer``) the new models are loaded beside
the serving ones, checked (every sha256, then a smoke image) and warmed, and swapped in at one point in time
(``OcrPlane.swap``): calls in flight finish on the old models, none fails. A change that does not load or check
keeps the old models serving; its reason is logged once and kept for ``GetServerInfo`` and the metrics.

A rollback is a change like any other: put the old files (or gate record) back.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path

from edge_runtime.pipeline import OcrEngine
from edge_runtime.smoke import smoke_check
from models import load_bundle
from models.watch import fingerprint, problems
from server.model_status import ModelStatus
from server.plane import OcrPlane

__all__ = ["ModelWatcher"]

log = logging.getLogger(__name__)


class ModelWatcher:
    """Polls the files of the plane's bundle every ``poll_s`` seconds; see the module docstring.

    A change is acted on once the fingerprint holds still for one more poll (a copy or ``python -m quantize``'s
    two renames are not caught half-way); a refused fingerprint is not tried again until the files change."""

    def __init__(self, plane: OcrPlane, poll_s: float) -> None:
        self.plane = plane
        self.factory: Callable[[], OcrEngine] = plane.engine_factory
        self.poll_s = poll_s
        self.status: ModelStatus = plane.model_status
        self._wake = asyncio.Event()
        self._tried = ""  # last fingerprint acted on (swapped in or refused)

    def wake(self) -> None:
        """Look now (SIGHUP), instead of at the next poll."""
        self._wake.set()

    def _where(self) -> tuple[Path, str] | None:
        engine = self.plane.engine
        if engine is None:
            return None
        return engine.bundle.root, engine.backend

    async def run(self) -> None:
        where = self._where()
        if where is None:
            return
        self._tried = await asyncio.to_thread(fingerprint, *where)
        pending = ""
        while True:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), self.poll_s)
            woken = self._wake.is_set()
            self._wake.clear()
            if self.plane.draining:
                return
            where = self._where()
            if where is None:
                continue
            now = await asyncio.to_thread(fingerprint, *where)
            if now == self._tried:
                pending = ""
                continue
            if now != pending and not woken:  # changed since the last look: wait until it holds still
                pending = now
                continue
            pending = ""
            await self.change(now)

    async def change(self, now: str) -> bool:
        """Load, check and swap in what the files hold now; False (old models keep serving) when refused."""
        self._tried = now
        started = time.perf_counter()
        serving = self.plane.engine
        try:
            engine = await asyncio.to_thread(self._load_checked)
        except _RefusedError as refused:
            self.status.changes["refused"] += 1
            self.status.last_error_reason = refused.reason
            self.status.last_change = f"refused: {refused.message}; the previous models keep serving"
            log.error("model change refused: %s [%s]; the old models keep serving", refused.message, refused.reason)
            return False
        if self.plane.draining:
            return False
        generation = self.plane.swap(engine)
        self.status.serving_since = datetime.now(UTC)
        self.status.changes["swapped"] += 1
        self.status.last_error_reason = ""
        before = _describe(serving) if serving is not None else "nothing"
        self.status.last_change = f"swapped {before} for {_describe(engine)}"
        log.info(
            "models swapped without a restart (generation %d, %.1f s to load, check and warm): %s; was %s",
            generation.number,
            time.perf_counter() - started,
            _describe(engine),
            before,
        )
        for stage, precision in engine.precision.items():
            log.info("stage %s serves %s: %s", stage, precision, engine.precision_reasons.get(stage, ""))
        return True

    def _load_checked(self) -> OcrEngine:
        """On a worker thread: verify the files, build the engine, warm it up and smoke-check it."""
        serving = self.plane.engine
        if serving is not None:
            found = problems(serving.bundle.root, serving.backend)
            if found:
                raise _RefusedError("MODEL_FILES_INVALID", "the bundle's files do not verify: " + "; ".join(found))
        load_bundle.cache_clear()  # the bundle's files or its record changed: read them anew
        try:
            engine = self.factory()
            engine.warm_up()
        except Exception as exc:  # whatever the new files do wrong, the serving models stay
            reason = getattr(exc, "reason", "") or "MODEL_LOAD_FAILED"
            raise _RefusedError(reason, f"loading the new models failed: {type(exc).__name__}: {exc}") from exc
        failed = smoke_check(engine)
        if failed:
            raise _RefusedError("MODEL_CHECK_FAILED", failed)
        return engine


class _RefusedError(Exception):
    def __init__(self, reason: str, message: str) -> None:
        super().__init__(message)
        self.reason, self.message = reason, message


def _describe(engine: OcrEngine) -> str:
    stages = ", ".join(f"{stage} {precision}" for stage, precision in engine.precision.items())
    return f"{engine.bundle.id} on {engine.backend} ({stages})"
