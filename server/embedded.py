"""An OCR server in a background thread with its own event loop: for tests, notebooks and embedding."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Callable, Coroutine
from typing import Any, TypeVar

from server.app import OcrServer, build_server
from server.config import ServerConfig
from server.plane import OcrPlane

T = TypeVar("T")

__all__ = ["ServerThread"]


class ServerThread:
    """Runs ``build_server(config, engine_factory)`` in a thread; ``port``, ``server`` and ``plane`` for tests."""

    def __init__(self, engine_factory: Callable, config: ServerConfig | None = None, wait: bool = True) -> None:
        self.config = config or ServerConfig(host="127.0.0.1", port=0)
        self._factory = engine_factory
        self.loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self.loop.run_forever, name="ocr-test-server", daemon=True)
        self._thread.start()
        self.server: OcrServer
        self.server, self.port = self.call(self._build())
        self.target = f"127.0.0.1:{self.port}"
        if wait:
            assert self.call(self.server.wait_loaded(300)), f"models failed to load: {self.server.load_error}"

    async def _build(self) -> tuple[OcrServer, int]:
        server, port = build_server(self.config, self._factory)
        await server.start()
        return server, port

    @property
    def plane(self) -> OcrPlane:
        return self.server.plane

    def call(self, coro: Coroutine[Any, Any, T], timeout: float | None = 600) -> T:
        """Run a coroutine on the server's loop and return its result."""
        return asyncio.run_coroutine_threadsafe(coro, self.loop).result(timeout)

    def stop(self, grace: float | None = 0) -> None:
        try:
            self.call(self.server.stop(grace), timeout=60)
        finally:
            self.loop.call_soon_threadsafe(self.loop.stop)
            self._thread.join(10)
