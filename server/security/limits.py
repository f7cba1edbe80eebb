"""Limits per principal: token buckets for calls and for image pixels per second, and open streams at once;
past a limit the call ends RESOURCE_EXHAUSTED with its reason and a ``retry-after`` hint (``LimitInterceptor``)."""

from __future__ import annotations

import io
import time
import warnings
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from clients.ocr_client.pb import ocr_pb2
from server.errors import RateLimitedError
from server.interceptors import Call, Interceptor, document_page_of, images_of
from server.security.call import ANONYMOUS, current_call
from server.security.tokens import Limits, TokenFile

__all__ = [
    "TokenBucket",
    "PrincipalLimiter",
    "LimitInterceptor",
    "image_pixels",
    "document_page_pixels",
    "STREAM_METHODS",
]

# The long-lived calls --max-streams bounds ("open streams per principal"): a camera feed and a watch each hold the
# server for as long as the caller likes. An agent's ReportEvents is not one of them: each device holds one for as
# long as it runs (bounded by the devices), and on a server without credentials every agent is ``anonymous``.
STREAM_METHODS = frozenset({"/ocr.v1.OcrService/StreamRecognize", "/fleet.v1.FleetService/WatchEvents"})


@dataclass
class TokenBucket:
    """``rate`` tokens per second, at most ``capacity`` saved up. A take may overdraw a non-empty bucket (an
    image larger than the bucket still gets through after a quiet spell); the debt is paid back before the next."""

    rate: float
    capacity: float
    tokens: float = -1.0
    stamp: float = field(default_factory=time.monotonic)

    def __post_init__(self) -> None:
        if self.tokens < 0:
            self.tokens = self.capacity

    def take(self, amount: float, now: float | None = None, overdraw: bool = False) -> float:
        """0.0 when ``amount`` was taken, else the seconds until it could be (nothing is taken then)."""
        if self.rate <= 0:
            return 0.0
        now = time.monotonic() if now is None else now
        self.tokens = min(self.capacity, self.tokens + (now - self.stamp) * self.rate)
        self.stamp = now
        if self.tokens >= amount or (overdraw and self.tokens > 0):
            self.tokens -= amount
            return 0.0
        return (min(amount, self.capacity) - self.tokens) / self.rate if not overdraw else -self.tokens / self.rate

    def reshape(self, rate: float, capacity: float) -> None:
        """New limits (a changed tokens file) without forgetting what was spent."""
        if (rate, capacity) != (self.rate, self.capacity):
            self.rate, self.capacity = rate, capacity
            self.tokens = min(self.tokens, capacity)


@dataclass
class _State:
    calls: TokenBucket
    pixels: TokenBucket
    streams: int = 0


class PrincipalLimiter:
    """Buckets per principal, created on first use. Used on the event loop only (no locking)."""

    def __init__(self, defaults: Limits) -> None:
        self.defaults = defaults
        self._states: dict[str, _State] = {}

    def _state(self, principal: str, limits: Limits) -> _State:
        limits = limits.over(self.defaults)
        calls_cap = max(1.0, limits.calls_burst or 1.0)
        pixels_cap = (limits.pixels_per_s or 0.0) * (limits.pixels_burst_s or 1.0)
        state = self._states.get(principal)
        if state is None:
            state = self._states[principal] = _State(
                TokenBucket(limits.calls_per_s or 0.0, calls_cap), TokenBucket(limits.pixels_per_s or 0.0, pixels_cap)
            )
        else:
            state.calls.reshape(limits.calls_per_s or 0.0, calls_cap)
            state.pixels.reshape(limits.pixels_per_s or 0.0, pixels_cap)
        return state

    def take_call(self, principal: str, limits: Limits) -> float:
        """0.0, or seconds to wait before the next call is accepted."""
        return self._state(principal, limits).calls.take(1.0)

    def take_pixels(self, principal: str, limits: Limits, pixels: int) -> float:
        if pixels <= 0:
            return 0.0
        return self._state(principal, limits).pixels.take(float(pixels), overdraw=True)

    def open_stream(self, principal: str, limits: Limits) -> bool:
        """Counts one more open stream; False (and not counted) when the principal is at its limit."""
        state = self._state(principal, limits)
        most = limits.over(self.defaults).max_streams or 0
        if most and state.streams >= most:
            return False
        state.streams += 1
        return True

    def close_stream(self, principal: str) -> None:
        state = self._states.get(principal)
        if state is not None and state.streams > 0:
            state.streams -= 1

    def open_streams(self, principal: str) -> int:
        state = self._states.get(principal)
        return state.streams if state else 0


def image_pixels(image: ocr_pb2.Image) -> int:
    """Pixels of an ocr.v1.Image from its header (raw: width x height; encoded: the file header, no decode);
    0 when the header is unreadable (decoding will refuse it anyway)."""
    which = image.WhichOneof("source")
    if which == "raw":
        return max(0, image.raw.width) * max(0, image.raw.height)
    if which == "content" and image.content:
        from PIL import Image

        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                with Image.open(io.BytesIO(image.content)) as img:  # reads the header only
                    return img.width * img.height
        except Exception:
            return 0
    return 0


def document_page_pixels(response: Any) -> int:
    """Pixels of the page a RecognizeDocumentResponse carries (0 for an output chunk or any other message)."""
    page = document_page_of(response)
    return 0 if page is None else max(0, page.width) * max(0, page.height)


@dataclass
class _Charged:
    """A call as the limits see it: whose, under which limits, and whether it holds a stream slot."""

    name: str
    limits: Limits
    stream: bool = False


class LimitInterceptor(Interceptor[_Charged]):
    """Calls per second, image pixels per second (from headers) and open streams, per principal (the one the
    AuthInterceptor outside it found); past a limit the call ends RESOURCE_EXHAUSTED with a reason and a
    ``retry-after`` hint."""

    def __init__(
        self, defaults: Limits, tokens: TokenFile | None, max_image_pixels: Callable[[], int] = lambda: 40_000_000
    ) -> None:
        self.limiter = PrincipalLimiter(defaults)
        self.tokens = tokens
        self.max_image_pixels = max_image_pixels  # larger images are refused from the header: they cost nothing

    async def start(self, call: Call) -> _Charged:
        info = current_call()
        name = info.principal.name if info is not None and info.principal is not None else ANONYMOUS
        charged = _Charged(name, self.tokens.limits(name) if self.tokens is not None else Limits())
        wait = self.limiter.take_call(name, charged.limits)
        if wait:
            raise RateLimitedError(f"{name} is over its call rate", "RATE_LIMITED", wait)
        if call.method in STREAM_METHODS:
            if not self.limiter.open_stream(name, charged.limits):
                most = charged.limits.over(self.limiter.defaults).max_streams
                raise RateLimitedError(f"{name} has {most} streams open, its limit", "TOO_MANY_STREAMS", 1.0)
            charged.stream = True
        return charged

    async def on_request(self, charged: _Charged, request: Any) -> None:
        """Charges the pixels a request's images declare in their headers (of streamed requests only camera frames
        carry any). A frame over the rate ends its stream."""
        images = images_of(request)
        if not images:
            return
        cap = self.max_image_pixels()
        self._charge(charged, sum(p for p in map(image_pixels, images) if p <= cap))

    def on_response(self, charged: _Charged, response: Any) -> Any:
        """Charges a document's pages as they are answered (their pixels are known only once rendered): a page that
        finds the principal's pixel bucket empty ends the call; the pages before it were answered."""
        pixels = document_page_pixels(response)
        if pixels:
            self._charge(charged, pixels)
        return response

    def _charge(self, charged: _Charged, pixels: int) -> None:
        """``pixels`` on the call's audit line and against its principal's pixel rate (PIXEL_RATE_LIMITED past it)."""
        info = current_call()
        if info is not None:
            info.pixels += pixels
        wait = self.limiter.take_pixels(charged.name, charged.limits, pixels)
        if wait:
            raise RateLimitedError(f"{charged.name} is over its pixel rate", "PIXEL_RATE_LIMITED", wait)

    def finish(self, charged: _Charged, error: BaseException | None) -> None:
        if charged.stream:
            self.limiter.close_stream(charged.name)
