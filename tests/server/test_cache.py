"""The result cache: a cached answer equals a fresh one but for its timings; it sits behind authentication and
limits; it keeps redaction; batches mix hits and computed items; two servers share answers through a real
Redis (Debian's redis-server on a loopback port); an unreachable Redis only costs the cache."""

from __future__ import annotations

import asyncio
import hashlib
import json
import urllib.request

import cv2
import grpc
import pytest
from prometheus_client.parser import text_string_to_metric_families

from clients.ocr_client.pb import ocr_pb2, ocr_pb2_grpc
from server.cache import CACHE_KEY, LruCache, request_key
from server.config import ServerConfig
from server.embedded import ServerThread
from tests.conftest import get_engine
from tests.rendered import line as rendered_line
from tests.server.images import word_pngs
from tests.services import free_port, start_redis

S = grpc.StatusCode


def req(image: bytes, skip: bool = True) -> ocr_pb2.RecognizeRequest:
    return ocr_pb2.RecognizeRequest(
        image=ocr_pb2.Image(content=image), options=ocr_pb2.RecognizeOptions(skip_detection=skip)
    )


def without_timings(response) -> bytes:
    copy = type(response)()
    copy.CopyFrom(response)
    copy.ClearField("timings")
    return copy.SerializeToString(deterministic=True)


def cache_of(call) -> str | None:
    return dict(call.trailing_metadata()).get(CACHE_KEY)


def lookups(server) -> dict[str, float]:
    with urllib.request.urlopen(f"http://127.0.0.1:{server.server.metrics_port}/metrics", timeout=10) as reply:
        text = reply.read().decode()
    return {
        s.labels["result"]: s.value
        for f in text_string_to_metric_families(text)
        if f.name == "ocr_cache_lookups"
        for s in f.samples
        if s.name == "ocr_cache_lookups_total"
    }


# ---- the LRU on its own ------------------------------------------------------------------------------------
def test_lru_is_bounded_in_bytes_and_evicts_least_recently_used() -> None:
    async def scenario():
        cache = LruCache(max_bytes=300)
        for key in "abc":
            await cache.put(key, bytes(99))  # 100 bytes with the key
        assert await cache.get("a") is not None  # a is now the most recent
        await cache.put("d", bytes(99))  # evicts b, the least recently used
        assert await cache.get("b") is None and await cache.get("a") is not None and len(cache) == 3
        assert cache.size <= 300
        await cache.put("huge", bytes(1000))  # larger than the whole cache: not stored
        assert await cache.get("huge") is None and cache.size <= 300

    asyncio.run(scenario())


def test_key_covers_image_options_and_server_fingerprint() -> None:
    a, b = word_pngs(2)
    base = request_key(req(a), "fp")
    assert base == request_key(req(a), "fp")
    assert base != request_key(req(b), "fp")
    assert base != request_key(req(a, skip=False), "fp")
    assert base != request_key(req(a), "fp-int8")
    assert request_key(ocr_pb2.RecognizeRequest(), "fp") is None  # no image: computed (and refused) as usual
    assert hashlib.sha256(a).hexdigest() not in base  # the key does not reveal the image's own hash


# ---- one server with tokens and redaction -------------------------------------------------------------------
TOKENS = [
    {"sha256": hashlib.sha256(b"reader").hexdigest(), "principal": "reader", "scopes": ["ocr.recognize"]},
    {
        "sha256": hashlib.sha256(b"slow").hexdigest(),
        "principal": "slow",
        "scopes": ["ocr.recognize"],
        "limits": {"calls_per_s": 0.01, "calls_burst": 1},
    },
]


@pytest.fixture(scope="module")
def cached(tmp_path_factory):
    root = tmp_path_factory.mktemp("cache")
    (root / "tokens.json").write_text(json.dumps({"tokens": TOKENS}))
    config = ServerConfig(
        host="127.0.0.1",
        port=0,
        cache=True,
        metrics_port=free_port(),
        tokens_file=str(root / "tokens.json"),
        redact="email",
    )
    server = ServerThread(get_engine, config)
    yield server
    server.stop()


@pytest.fixture(scope="module")
def stub(cached):
    with grpc.insecure_channel(cached.target) as channel:
        yield ocr_pb2_grpc.OcrServiceStub(channel)


READER = (("authorization", "Bearer reader"),)


def test_a_cached_answer_equals_a_fresh_one_but_for_its_timings(cached, stub) -> None:
    image = cv2.imencode(".png", rendered_line("cache me 4711"))[1].tobytes()
    before = lookups(cached)
    fresh, first = stub.Recognize.with_call(req(image), metadata=READER, timeout=60)
    again, second = stub.Recognize.with_call(req(image), metadata=READER, timeout=60)
    assert (cache_of(first), cache_of(second)) == ("miss", "hit")
    assert fresh.lines and without_timings(again) == without_timings(fresh)
    assert fresh.timings.decode_ms > 0 and fresh.timings.recognition_ms > 0
    t = again.timings  # the timings say it was cached: no stage ran, total is the lookup
    assert (t.decode_ms, t.queue_ms, t.detection_ms, t.classification_ms, t.recognition_ms) == (0, 0, 0, 0, 0)
    assert 0 < t.total_ms < fresh.timings.total_ms
    after = lookups(cached)
    assert after["hit"] - before.get("hit", 0) == 1 and after["miss"] - before.get("miss", 0) == 1
    other, third = stub.Recognize.with_call(req(image, skip=False), metadata=READER, timeout=60)
    assert cache_of(third) == "miss"  # other options, other key


def test_a_cached_answer_does_not_bypass_authentication_or_limits(cached, stub) -> None:
    image = word_pngs(3)[2]
    stub.Recognize(req(image), metadata=READER, timeout=60)  # now cached
    for metadata, code, reason in [
        ((), S.UNAUTHENTICATED, "TOKEN_MISSING"),
        ((("authorization", "Bearer nobody"),), S.UNAUTHENTICATED, "TOKEN_INVALID"),
    ]:
        with pytest.raises(grpc.RpcError) as refused:
            stub.Recognize(req(image), metadata=metadata, timeout=60)
        assert refused.value.code() == code
        assert dict(refused.value.trailing_metadata())["ocr-error-reason"] == reason
    slow = (("authorization", "Bearer slow"),)
    stub.Recognize(req(image), metadata=slow, timeout=60)  # its one call of the burst
    with pytest.raises(grpc.RpcError) as limited:
        stub.Recognize(req(image), metadata=slow, timeout=60)
    assert limited.value.code() == S.RESOURCE_EXHAUSTED
    assert dict(limited.value.trailing_metadata())["ocr-error-reason"] == "RATE_LIMITED"


def test_cached_answers_stay_redacted(cached, stub) -> None:
    image = cv2.imencode(".png", rendered_line("mail bob@example.com"))[1].tobytes()
    fresh = stub.Recognize(req(image), metadata=READER, timeout=60)
    again, call = stub.Recognize.with_call(req(image), metadata=READER, timeout=60)
    assert cache_of(call) == "hit"
    assert "[EMAIL]" in fresh.text and "example.com" not in fresh.text
    assert without_timings(again) == without_timings(fresh)
    # what the cache holds is the redacted answer: the address is nowhere in it
    lru = cached.server.cache
    assert all(b"example.com" not in value for value in lru._items.values())


def test_batches_mix_cached_and_computed_items(cached, stub) -> None:
    a, b, c = word_pngs(6)[3:6]
    stub.Recognize(req(a), metadata=READER, timeout=60)  # a is cached
    batch = ocr_pb2.BatchRecognizeRequest(requests=[req(b), req(a), req(b"junk"), req(c)])
    mixed, call = stub.BatchRecognize.with_call(batch, metadata=READER, timeout=120)
    assert cache_of(call) == "partial"
    assert [r.HasField("error") for r in mixed.responses] == [False, False, True, False]
    assert mixed.responses[2].error.reason == "IMAGE_UNDECODABLE"
    assert mixed.responses[1].timings.decode_ms == 0 and mixed.responses[0].timings.decode_ms > 0
    again, call = stub.BatchRecognize.with_call(
        ocr_pb2.BatchRecognizeRequest(requests=[req(b), req(a), req(c)]), metadata=READER, timeout=120
    )
    assert cache_of(call) == "hit"
    assert [without_timings(r) for r in again.responses] == [without_timings(mixed.responses[i]) for i in (0, 1, 3)]


def test_an_oversized_batch_is_still_refused(cached, stub) -> None:
    image = word_pngs(1)[0]
    stub.Recognize(req(image), metadata=READER, timeout=60)
    limit = cached.config.max_batch_images
    with pytest.raises(grpc.RpcError) as refused:
        stub.BatchRecognize(
            ocr_pb2.BatchRecognizeRequest(requests=[req(image)] * (limit + 1)), metadata=READER, timeout=60
        )
    assert refused.value.code() == S.INVALID_ARGUMENT
    assert dict(refused.value.trailing_metadata())["ocr-error-reason"] == "BATCH_TOO_LARGE"


def _document(data: bytes, formats=()):
    yield ocr_pb2.RecognizeDocumentRequest(options=ocr_pb2.DocumentOptions(formats=formats))
    for start in range(0, len(data), 5000):
        yield ocr_pb2.RecognizeDocumentRequest(chunk=data[start : start + 5000])


def _document_call(stub, data: bytes, formats=()):
    call = stub.RecognizeDocument(_document(data, formats), metadata=READER, timeout=300)
    responses = list(call)
    return responses, call


def _without_page_timings(responses) -> list[bytes]:
    out = []
    for r in responses:
        copy = ocr_pb2.RecognizeDocumentResponse()
        copy.CopyFrom(r)
        copy.page.ClearField("timings")
        out.append(copy.SerializeToString(deterministic=True))
    return out


def test_documents_are_cached_whole_and_redacted(cached, stub) -> None:
    from tests.edge_runtime.document.pdfs import Picture, Text, make_pdf, scan

    data = make_pdf(
        [
            [Text("Write to bob@example.com today", 72, 700)],
            [Picture(scan("MAIL ann@example.org", size=(900, 200)), 72, 500, 450, 100)],
        ]
    )
    formats = [ocr_pb2.OUTPUT_FORMAT_TEXT, ocr_pb2.OUTPUT_FORMAT_HOCR]
    fresh, first = _document_call(stub, data, formats)
    again, second = _document_call(stub, data, formats)
    assert (cache_of(first), cache_of(second)) == ("miss", "hit")
    assert _without_page_timings(again) == _without_page_timings(fresh)
    pages = [r.page for r in fresh if r.WhichOneof("response") == "page"]
    assert len(pages) == 2 and pages[0].timings.total_ms > 0
    assert all(r.page.timings.detection_ms == 0 for r in again if r.WhichOneof("response") == "page")
    everything = b"".join(r.SerializeToString() for r in fresh)
    assert b"[EMAIL]" in everything and b"example.com" not in everything  # pages and output files alike
    assert all(b"example.com" not in value for value in cached.server.cache._items.values())
    other, third = _document_call(stub, data, [ocr_pb2.OUTPUT_FORMAT_TEXT])
    assert cache_of(third) == "miss"  # other options, other key
    with pytest.raises(grpc.RpcError) as refused:  # a searchable PDF would carry the page itself
        _document_call(stub, data, [ocr_pb2.OUTPUT_FORMAT_PDF])
    assert refused.value.code() == S.FAILED_PRECONDITION
    assert dict(refused.value.trailing_metadata())["ocr-error-reason"] == "OUTPUT_NOT_REDACTABLE"


# ---- replicas sharing Redis ---------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def redis(tmp_path_factory):
    service = start_redis(tmp_path_factory.mktemp("redis"))
    yield service
    service.stop()


def test_two_servers_share_answers_through_redis(redis) -> None:
    config = ServerConfig(host="127.0.0.1", port=0, cache=True, cache_url=redis.url, cache_ttl_s=60)
    one, two = ServerThread(get_engine, config), ServerThread(get_engine, config)
    image = cv2.imencode(".png", rendered_line("shared 2024"))[1].tobytes()
    try:
        with grpc.insecure_channel(one.target) as a, grpc.insecure_channel(two.target) as b:
            fresh, first = ocr_pb2_grpc.OcrServiceStub(a).Recognize.with_call(req(image), timeout=60)
            shared, second = ocr_pb2_grpc.OcrServiceStub(b).Recognize.with_call(req(image), timeout=60)
        assert (cache_of(first), cache_of(second)) == ("miss", "hit")
        assert without_timings(shared) == without_timings(fresh) and shared.timings.decode_ms == 0
    finally:
        one.stop()
        two.stop()
    import redis as redis_client

    keys = redis_client.Redis.from_url(redis.url).keys("ocr:result:*")
    assert len(keys) == 1 and 0 < redis_client.Redis.from_url(redis.url).pttl(keys[0]) <= 60_000


def test_an_unreachable_redis_costs_only_the_cache() -> None:
    config = ServerConfig(
        host="127.0.0.1", port=0, cache=True, cache_url=f"redis://127.0.0.1:{free_port()}/0", metrics_port=free_port()
    )
    server = ServerThread(get_engine, config)
    try:
        with grpc.insecure_channel(server.target) as channel:
            stub = ocr_pb2_grpc.OcrServiceStub(channel)
            for _ in range(2):
                response, call = stub.Recognize.with_call(req(word_pngs(1)[0]), timeout=60)
                assert response.lines and cache_of(call) == "miss"
        with urllib.request.urlopen(f"http://127.0.0.1:{server.server.metrics_port}/metrics", timeout=10) as r:
            assert "ocr_cache_errors_total 1.0" in r.read().decode()  # one failure, then Redis is left alone
    finally:
        server.stop()
