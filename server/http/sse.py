"""A server-streaming call as server-sent events: one ``data:`` line of proto3 JSON per message.

Each event's ``id`` is the message's resume cursor where it has one (WatchEventsResponse.event.cursor), so a
browser's EventSource, or any client sending ``Last-Event-ID``, resumes where it left off. A failure after the
stream began is a last ``event: error`` with the JSON error body (the status line was sent already).
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from typing import Any

from aiohttp import web
from google.protobuf.message import Message

from server.http.errors import HttpError
from server.http.transcode import to_json

__all__ = ["stream_events", "cursor_of", "HEARTBEAT_S"]

HEARTBEAT_S = 15.0  # a comment line this often keeps idle proxies from closing a quiet stream


def cursor_of(message: Message) -> str:
    """The resume cursor a message carries (``cursor`` of it or of its ``event``), or ""."""
    for holder in (message, getattr(message, "event", None)):
        cursor = getattr(holder, "cursor", None)
        if isinstance(cursor, str) and cursor:
            return cursor
    return ""


def _event(message: Message) -> bytes:
    cursor = cursor_of(message)
    head = f"id: {cursor}\n" if cursor and "\n" not in cursor else ""
    return f"{head}data: {to_json(message)}\n\n".encode()


async def stream_events(
    request: web.Request,
    messages: AsyncIterator[Message],
    first: Message | None,
    headers: dict[str, str],
    fail: Any,
) -> web.StreamResponse:
    """Send ``first`` (already read, or None when the stream has not answered yet) and then every message of
    ``messages`` as events; ``fail(exc)`` turns a failure into an HttpError."""
    response = web.StreamResponse(
        headers={"content-type": "text/event-stream", "cache-control": "no-cache", "x-accel-buffering": "no", **headers}
    )
    await response.prepare(request)
    if first is not None:
        await response.write(_event(first))
    iterator = aiter(messages)
    pending: asyncio.Task[Message] | None = None
    try:
        while True:
            if pending is None:
                pending = asyncio.ensure_future(anext(iterator))
            done, _ = await asyncio.wait({pending}, timeout=HEARTBEAT_S)
            if not done:
                await response.write(b": keep-alive\n\n")
                continue
            task, pending = pending, None
            try:
                message = task.result()
            except StopAsyncIteration:
                break
            await response.write(_event(message))
    except (ConnectionResetError, asyncio.CancelledError):
        raise
    except Exception as exc:  # the stream failed after it began: say so in-band
        error: HttpError = fail(exc)
        with contextlib.suppress(ConnectionResetError):
            await response.write(f"event: error\ndata: {error.json()}\n\n".encode())
    finally:
        if pending is not None:
            pending.cancel()
    return response
