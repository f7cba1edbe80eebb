"""Result cache: identical Recognize requests (and BatchRecognize items, and RecognizeDocument calls) answered from
an in-process LRU bounded in bytes, or from Redis shared by replicas (``--cache-url redis://...``).

Key: sha256 of the image bytes (raw images: with size and pixel format), the request's options, and what
decides the answer on this server: bundle, precision per stage, backend, device, the engine's output-changing
settings, the server version and the redaction settings.

Where it sits (server/app.py): Audit -> Metrics -> Auth -> Limits -> **Cache** -> Redact -> Validation ->
servicer. So a cached answer is given only to a caller that passed authentication, scopes and its limits (its
pixels are charged as for a computed answer), and is audited like one. The cache stores what leaves the Redact
interceptor: the *redacted* response, so masked text never reaches the cache (nor Redis), and the redaction
settings are part of the key, so a replica that masks differently never gets another's answer. It replaces the
behavior rather than observing it, so it overrides ``Interceptor.wrap``; a call an inner layer failed comes back
as None and is neither cached nor marked.

A cached answer equals a fresh one except its ``timings``: every stage is 0 and ``total_ms`` is the lookup
time (a computed answer always has ``decode_ms > 0``). The trailing metadata key ``ocr-cache`` says ``hit``,
``miss`` or ``partial`` (a batch with some items from the cache). Failed items are never cached.

A document is cached whole: its key is the sha256 of its options and every byte of the file (the servicer needs
the whole file before its first page anyway, so holding the requests costs no latency), and its answer is every
response it got, pages and output files, when none of its pages failed and they fit ``MAX_DOCUMENT_ENTRY``.
"""

from __future__ import annotations

import contextlib
import hashlib
import logging
import time
from collections import OrderedDict
from collections.abc import AsyncIterator, Callable
from typing import Any, Protocol

import grpc

from clients.ocr_client.pb import ocr_pb2
from models.watch import content_id
from server import __version__
from server.interceptors import Behavior, Interceptor, call_failed, responses_of

__all__ = [
    "ResultCache",
    "LruCache",
    "RedisCache",
    "CacheInterceptor",
    "request_key",
    "make_cache",
    "CACHE_KEY",
    "engine_fingerprint",
]

log = logging.getLogger(__name__)
CACHE_KEY = "ocr-cache"  # trailing metadata: hit, miss, partial
_PREFIX = "ocr:result:v1:"
_DOCUMENT_PREFIX = "ocr:document:v1:"
MAX_DOCUMENT_ENTRY = 32 * 1024 * 1024  # a document's answers larger than this are not stored
_RECOGNIZE_DOCUMENT = "/ocr.v1.OcrService/RecognizeDocument"
# EngineConfig fields that change what an image reads as (threads, batch sizes and streams do not)
_OUTPUT_FIELDS = (
    "bundle",
    "backend",
    "device",
    "use_angle_cls",
    "det_limit_side_len",
    "det_limit_type",
    "det_max_side_len",
    "det_small_text_height",
    "rec_max_width",
    "rec_min_width",
    "rec_width_step",
    "cls_decided_lines",
    "rec_sure",
    "rec_padding_look",
    "text_score",
    "max_image_pixels",
    "min_image_side",
    "ov_precision_hint",
)


class ResultCache(Protocol):
    """Bytes by key; a failing store answers None / ignores the put (the call is then computed)."""

    async def get(self, key: str) -> bytes | None: ...

    async def put(self, key: str, value: bytes) -> None: ...

    async def close(self) -> None: ...


class LruCache:
    """In-process, least recently used out first, bounded by the bytes of keys and values it holds."""

    def __init__(self, max_bytes: int) -> None:
        self.max_bytes = max_bytes
        self.size = 0
        self._items: OrderedDict[str, bytes] = OrderedDict()

    async def get(self, key: str) -> bytes | None:
        value = self._items.get(key)
        if value is not None:
            self._items.move_to_end(key)
        return value

    async def put(self, key: str, value: bytes) -> None:
        cost = len(key) + len(value)
        if cost > self.max_bytes:
            return
        old = self._items.pop(key, None)
        if old is not None:
            self.size -= len(key) + len(old)
        self._items[key] = value
        self.size += cost
        while self.size > self.max_bytes:
            k, v = self._items.popitem(last=False)
            self.size -= len(k) + len(v)

    def __len__(self) -> int:
        return len(self._items)

    async def close(self) -> None:
        self._items.clear()
        self.size = 0


class RedisCache:
    """Redis (``redis.asyncio``), entries expiring after ``ttl_s``. After a failure Redis is left alone for
    ``backoff_s`` so an outage costs each call at most one short timeout, not one per call."""

    def __init__(
        self,
        url: str,
        ttl_s: float,
        on_error: Callable[[], None] = lambda: None,
        timeout_s: float = 0.5,
        backoff_s: float = 5.0,
    ) -> None:
        import redis.asyncio as aioredis  # pinned in requirements.txt; imported only when a URL is given

        self._redis = aioredis.from_url(url, socket_timeout=timeout_s, socket_connect_timeout=timeout_s)
        self.url = url
        self.ttl_ms = max(1, int(ttl_s * 1000))
        self.on_error = on_error
        self.backoff_s = backoff_s
        self._down_until = 0.0

    def _failed(self, exc: Exception) -> None:
        self.on_error()
        if time.monotonic() >= self._down_until:
            log.warning(
                "result cache %s unreachable (%s); computing without it for %.0f s",
                self.url.split("@")[-1],
                type(exc).__name__,
                self.backoff_s,
            )
        self._down_until = time.monotonic() + self.backoff_s

    async def get(self, key: str) -> bytes | None:
        if time.monotonic() < self._down_until:
            return None
        try:
            value = await self._redis.get(key)
        except Exception as exc:  # redis.RedisError, OSError, timeouts: never fail the call
            self._failed(exc)
            return None
        return value if isinstance(value, bytes) else None  # bytes: the client is made without decode_responses

    async def put(self, key: str, value: bytes) -> None:
        if time.monotonic() < self._down_until:
            return
        try:
            await self._redis.set(key, value, px=self.ttl_ms)
        except Exception as exc:
            self._failed(exc)

    async def close(self) -> None:
        with contextlib.suppress(Exception):  # a failed close changes nothing: the cache is being dropped
            await self._redis.aclose()


def make_cache(url: str, max_bytes: int, ttl_s: float, on_error: Callable[[], None] = lambda: None) -> ResultCache:
    return RedisCache(url, ttl_s, on_error) if url else LruCache(max_bytes)


def engine_fingerprint(engine: Any, redaction: tuple = ()) -> str:
    """What, besides the request, decides the answer on this server (part of every key)."""
    config = engine.config
    fields = [f"{name}={getattr(config, name, '')!r}" for name in _OUTPUT_FIELDS]
    precision = ",".join(f"{k}={v}" for k, v in sorted(engine.precision.items()))
    p = engine.provenance
    bundle = getattr(engine, "bundle", None)
    contents = content_id(bundle.root, p.backend) if bundle is not None else ""
    return "|".join([__version__, p.bundle, contents, p.backend, p.device, precision, *fields, repr(redaction)])


def request_key(request: Any, fingerprint: str) -> str | None:
    """The cache key of one RecognizeRequest, or None when it carries no image (it is then computed)."""
    if not request.HasField("image"):
        return None
    image = request.image
    which = image.WhichOneof("source")
    h = hashlib.sha256()
    h.update(fingerprint.encode())
    h.update(b"\0options\0" + request.options.SerializeToString(deterministic=True))
    if which == "content":
        h.update(b"\0content\0")
        h.update(image.content)
    elif which == "raw":
        raw = image.raw
        h.update(f"\0raw\0{raw.width}x{raw.height}:{raw.pixel_format}\0".encode())
        h.update(raw.data)
    else:
        return None
    return _PREFIX + h.hexdigest()


def _stored(response: Any) -> bytes:
    """A response as cached: everything but its timings."""
    copy = ocr_pb2.RecognizeResponse()
    copy.CopyFrom(response)
    copy.ClearField("timings")
    return copy.SerializeToString(deterministic=True)


def _answer(data: bytes, lookup_s: float) -> Any:
    response = ocr_pb2.RecognizeResponse.FromString(data)
    response.timings.CopyFrom(ocr_pb2.StageTimings(total_ms=lookup_s * 1000))
    return response


class CacheInterceptor(Interceptor):
    """Answers Recognize and BatchRecognize items from ``cache``; computes (and stores) the others.

    ``fingerprint()`` returns None until the models are loaded (nothing is cached then); ``max_batch_images``
    keeps an oversized batch going to the servicer whole, so it is refused as BATCH_TOO_LARGE."""

    def __init__(
        self,
        cache: ResultCache,
        fingerprint: Callable[[], str | None],
        max_batch_images: int,
        on_lookup: Callable[[bool], None] = lambda hit: None,
        document_limits: tuple[int, int] = (0, 0),
    ) -> None:
        self.document_limits = document_limits  # bytes and pages per document: they decide which pages answer
        self.cache = cache
        self.fingerprint = fingerprint
        self.max_batch_images = max_batch_images
        self.on_lookup = on_lookup

    def applies(self, method: str) -> bool:
        return method in ("/ocr.v1.OcrService/Recognize", "/ocr.v1.OcrService/BatchRecognize", _RECOGNIZE_DOCUMENT)

    def wrap(self, method: str, behavior: Behavior, request_streaming: bool, response_streaming: bool) -> Behavior:
        if method == _RECOGNIZE_DOCUMENT and request_streaming and response_streaming:
            return self._document(behavior)
        if request_streaming or response_streaming:
            return behavior
        batch = method.endswith("/BatchRecognize")

        async def unary(request: Any, context: grpc.aio.ServicerContext) -> Any:
            fingerprint = self.fingerprint()
            if fingerprint is None or not hasattr(request, "DESCRIPTOR"):  # loading, or malformed bytes
                return await behavior(request, context)
            if batch:
                return await self._batch(request, context, behavior, fingerprint)
            key = request_key(request, fingerprint)
            if key is None:
                return await behavior(request, context)
            started = time.perf_counter()
            data = await self.cache.get(key)
            self.on_lookup(data is not None)
            if data is not None:
                _mark(context, "hit")
                return _answer(data, time.perf_counter() - started)
            response = await behavior(request, context)
            if response is None:  # the call failed (an inner layer set its status)
                return None
            if not response.HasField("error"):
                await self.cache.put(key, _stored(response))
            _mark(context, "miss")
            return response

        return unary

    async def _batch(
        self,
        request: ocr_pb2.BatchRecognizeRequest,
        context: grpc.aio.ServicerContext,
        behavior: Behavior,
        fingerprint: str,
    ) -> ocr_pb2.BatchRecognizeResponse | None:
        items = request.requests
        if len(items) > self.max_batch_images:
            return await behavior(request, context)
        started = time.perf_counter()
        keys = [request_key(item, fingerprint) for item in items]
        found: dict[int, bytes] = {}
        for i, key in enumerate(keys):
            data = await self.cache.get(key) if key is not None else None
            if key is not None:
                self.on_lookup(data is not None)
            if data is not None:
                found[i] = data
        lookup_s = time.perf_counter() - started
        if not found:
            response = await behavior(request, context)
            if response is None:  # the call failed (an inner layer set its status)
                return None
        else:
            missing = [i for i in range(len(items)) if i not in found]
            computed = []
            if missing:  # only the items the cache lacks go to the servicer
                rest = ocr_pb2.BatchRecognizeRequest(requests=[items[i] for i in missing])
                answered = await behavior(rest, context)
                if answered is None:
                    return None
                computed = list(answered.responses)
            merged: list[Any] = [None] * len(items)
            for i, data in found.items():
                merged[i] = _answer(data, lookup_s)
            for i, item in zip(missing, computed, strict=True):  # one answer per item sent
                merged[i] = item
            response = ocr_pb2.BatchRecognizeResponse(responses=merged)
        for i, item in enumerate(response.responses):
            key = keys[i]
            if i not in found and key is not None and not item.HasField("error"):
                await self.cache.put(key, _stored(item))
        _mark(context, "hit" if len(found) == len(items) else "partial" if found else "miss")
        return response

    def _document(self, behavior: Behavior) -> Behavior:
        async def document(requests: AsyncIterator[Any], context: grpc.aio.ServicerContext) -> AsyncIterator[Any]:
            fingerprint = self.fingerprint()
            held: list[Any] = []
            key: str | None = None
            if fingerprint is not None:
                digest = hashlib.sha256(f"{fingerprint}\0{self.document_limits}\0".encode())
                async for request in requests:
                    held.append(request)
                    if not hasattr(request, "DESCRIPTOR"):  # malformed or over-size: the servicer refuses it
                        break
                    data = request.SerializeToString(deterministic=True)
                    digest.update(len(data).to_bytes(8, "big") + data)
                else:
                    key = _DOCUMENT_PREFIX + digest.hexdigest()
            if key is not None:
                started = time.perf_counter()
                stored = await self.cache.get(key)
                self.on_lookup(stored is not None)
                if stored is not None:
                    _mark(context, "hit")
                    for response in _document_answers(stored, time.perf_counter() - started):
                        yield response
                    return
            kept: list[bytes] | None = [] if key is not None else None
            size = 0
            async for response in responses_of(behavior, _replay(held, requests), context):
                if kept is not None:
                    if response.WhichOneof("response") == "page" and response.page.HasField("error"):
                        kept = None  # failed pages are never cached
                    else:
                        data = _stored_document_response(response)
                        size += len(data) + 8
                        kept = kept + [data] if size <= MAX_DOCUMENT_ENTRY else None
                yield response
            if key is not None and kept is not None and not call_failed(context):
                await self.cache.put(key, b"".join(len(d).to_bytes(8, "big") + d for d in kept))
            if key is not None:
                _mark(context, "miss")

        return document


async def _replay(held: list[Any], rest: AsyncIterator[Any]) -> AsyncIterator[Any]:
    """The requests the cache read to make its key, then those it did not."""
    for request in held:
        yield request
    async for request in rest:
        yield request


def _stored_document_response(response: Any) -> bytes:
    copy = ocr_pb2.RecognizeDocumentResponse()
    copy.CopyFrom(response)
    if copy.WhichOneof("response") == "page":
        copy.page.ClearField("timings")
    return copy.SerializeToString(deterministic=True)


def _document_answers(data: bytes, lookup_s: float) -> list[Any]:
    """A stored document's responses; each page's timings say only the lookup's time, as a cached image's do."""
    out, at = [], 0
    while at < len(data):
        size = int.from_bytes(data[at : at + 8], "big")
        response = ocr_pb2.RecognizeDocumentResponse.FromString(data[at + 8 : at + 8 + size])
        if response.WhichOneof("response") == "page":
            response.page.timings.CopyFrom(ocr_pb2.StageTimings(total_ms=lookup_s * 1000))
        out.append(response)
        at += 8 + size
    return out


def _mark(context: grpc.aio.ServicerContext, value: str) -> None:
    kept = tuple((k, v) for k, v in (context.trailing_metadata() or ()) if k != CACHE_KEY)
    context.set_trailing_metadata(kept + ((CACHE_KEY, value),))
