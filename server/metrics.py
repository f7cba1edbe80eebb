"""Prometheus metrics of the server: one registry per server, filled by ``MetricsInterceptor`` and read from the
data plane at scrape time, served over HTTP on ``--metrics-port``.

Names follow Prometheus' naming guide (``ocr_`` prefix, base units, ``_total``, ``_seconds``); every label has
a bounded set of values (method, code, reason, stage, result, type, state), never an image id or a text.

    ocr_calls_total{method,code,reason}            calls that ended, by gRPC status and error reason
    ocr_call_duration_seconds{method}              unary calls, as the server saw them (streams: frames below)
    ocr_inflight_calls{method}                     calls in progress
    ocr_pending_work                               the autoscaling signal: images of unary calls in progress +
                                                   open streams (each works on one frame at a time)
    ocr_inflight_images, ocr_open_streams          its two parts
    ocr_recognition_queue_lines                    text lines waiting for a recognizer batch
    ocr_stage_duration_seconds{stage}              decode, queue, det, cls, rec, total of each computed image:
                                                   the very StageTimings its response carries (cache hits, whose
                                                   timings are zero, are not observed)
    ocr_batch_size{stage}                          rec: text lines per recognizer run; det: images per detector
                                                   run (1 today: detection is not batched)
    ocr_lines_per_image, ocr_characters_per_image, ocr_image_pixels
    ocr_stream_frames_total{result}                read, unchanged (no model ran), failed, dropped (flow control)
    ocr_stream_frame_duration_seconds              per read or unchanged frame (decode to answer)
    ocr_stream_events_total{type}                  APPEARED, UPDATED, STABLE, DISAPPEARED
    ocr_cache_lookups_total{result}                hit, miss; ocr_cache_errors_total: a shared cache unreachable
    ocr_cache_size_bytes                           the in-process LRU's size
    ocr_ready                                      1 when models are loaded and the server is not draining
    ocr_server_info{version,bundle,backend,device,precision_det,precision_cls,precision_rec}
    ocr_memory_limit_bytes                         --max-rss-mb (0: none); process_resident_memory_bytes beside it
    ocr_memory_budget_bytes                        the memory budget (--memory-budget-mb; 0: none), and of it:
    ocr_memory_held_bytes, ocr_memory_waiters      bytes held by images in progress; images waiting for theirs
    ocr_memory_admitted_bytes_total                bytes admitted since start
    ocr_model_generation                           1 for the models loaded at start, +1 per swap without a restart
    ocr_model_changes_total{result}                model changes swapped in or refused (the old ones kept serving)
    ocr_model_optimize_progress                    the background INT8/BF16 build's share done (0..1)
    ocr_model_optimize_state{state}                1 for its state: off, checking, up_to_date, building, published,
                                                   failed

    ocr_fleet_events_total{result}                 events of fleet reports: stored, duplicate, out_of_order
    ocr_fleet_report_commit_seconds                a fleet report from validation to commit
    ocr_fleet_device_last_seen_timestamp_seconds{device}  last report of each device (bounded: the
                                                   FLEET_DEVICES_TRACKED most recent devices)

The edge agent's own metrics are ``ocr_outbox_*`` (fleet/agent).
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any
from wsgiref.simple_server import WSGIServer

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, PlatformCollector, ProcessCollector
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, HistogramMetricFamily, InfoMetricFamily
from prometheus_client.registry import Collector

from clients.ocr_client.pb import ocr_pb2
from edge_runtime.stages import TIMING_FIELDS
from server import __version__, tracing
from server.interceptors import Call, Interceptor, document_page_of, images_of, outcome
from server.model_status import OPTIMIZE_STATES

__all__ = ["ServerMetrics", "MetricsInterceptor", "start_metrics_http", "BATCH_BUCKETS"]

SECONDS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0)
BATCH_BUCKETS = (1, 2, 4, 8, 16, 32, 64, 128)
FLEET_DEVICES_TRACKED = 10_000  # devices with an ocr_fleet_device_last_seen_timestamp_seconds series
_STREAM_RECOGNIZE = "/ocr.v1.OcrService/StreamRecognize"  # each open one is a unit of ocr_pending_work
_EVENT_TYPES = ("APPEARED", "UPDATED", "STABLE", "DISAPPEARED")
_EVENT_NAMES = {ocr_pb2.TextEventType.Value(f"TEXT_EVENT_TYPE_{t}"): t for t in _EVENT_TYPES}
_SOURCE_NAMES = {ocr_pb2.TextSource.Value(f"TEXT_SOURCE_{s.upper()}"): s for s in ("ocr", "text_layer", "mixed")}


class ServerMetrics:
    """Every metric of one server, in its own registry (several servers may live in one process: tests)."""

    def __init__(self, registry: CollectorRegistry | None = None, process: bool = True) -> None:
        self.registry = registry or CollectorRegistry(auto_describe=True)
        r = self.registry
        if process:
            ProcessCollector(registry=r)
            PlatformCollector(registry=r)
        self.calls = Counter(
            "ocr_calls",
            "Calls that ended, by method, gRPC status code and error reason.",
            ("method", "code", "reason"),
            registry=r,
        )
        self.call_duration = Histogram(
            "ocr_call_duration_seconds", "Unary calls from arrival to answer.", ("method",), buckets=SECONDS, registry=r
        )
        self.inflight = Gauge("ocr_inflight_calls", "Calls in progress.", ("method",), registry=r)
        self.stage = Histogram(
            "ocr_stage_duration_seconds",
            "Time per pipeline stage of each computed image, from the StageTimings it answers.",
            ("stage",),
            buckets=SECONDS,
            registry=r,
        )
        self.lines = Histogram(
            "ocr_lines_per_image",
            "Text lines found per answered image.",
            buckets=(0, 1, 2, 5, 10, 20, 50, 100, 200, 500),
            registry=r,
        )
        self.characters = Histogram(
            "ocr_characters_per_image",
            "Characters read per answered image.",
            buckets=(0, 10, 50, 100, 250, 500, 1000, 2500, 5000, 10000),
            registry=r,
        )
        self.pixels = Histogram(
            "ocr_image_pixels",
            "Pixels (width x height) of each answered image.",
            buckets=(1e4, 1e5, 3e5, 1e6, 2e6, 5e6, 1e7, 2e7, 4e7),
            registry=r,
        )
        self.frames = Counter(
            "ocr_stream_frames",
            "Stream frames: read, unchanged (no model ran), failed, or dropped by flow control.",
            ("result",),
            registry=r,
        )
        self.frame_duration = Histogram(
            "ocr_stream_frame_duration_seconds",
            "Stream frames read or found unchanged, decode to answer.",
            buckets=SECONDS,
            registry=r,
        )
        self.events = Counter("ocr_stream_events", "Text events of streams, by type.", ("type",), registry=r)
        self.document_pages = Counter(
            "ocr_document_pages",
            "Document pages answered, by where their text came from (ocr, text_layer, mixed) or failed.",
            ("source",),
            registry=r,
        )
        self.document_page_duration = Histogram(
            "ocr_document_page_duration_seconds",
            "Document pages answered, rendering to answer, by where their text came from.",
            ("source",),
            buckets=SECONDS,
            registry=r,
        )
        self.cache_lookups = Counter(
            "ocr_cache_lookups", "Result cache lookups, by result (hit, miss).", ("result",), registry=r
        )
        self.cache_errors = Counter(
            "ocr_cache_errors", "Shared cache operations that failed (the call was computed instead).", registry=r
        )
        self.cache_size = Gauge("ocr_cache_size_bytes", "Bytes held by the in-process result cache.", registry=r)
        self.memory_limit = Gauge(
            "ocr_memory_limit_bytes",
            "The resident memory past which the server drains and exits (0: none).",
            registry=r,
        )
        self.fleet_events = Counter(
            "ocr_fleet_events",
            "Events of fleet reports, by what the store did with them "
            "(stored, duplicate: already stored, out_of_order: beyond a hole, not stored).",
            ("result",),
            registry=r,
        )
        self.fleet_commit = Histogram(
            "ocr_fleet_report_commit_seconds",
            "Fleet reports from validation to commit (the acknowledgement follows at once).",
            buckets=SECONDS,
            registry=r,
        )
        self.fleet_last_seen = Gauge(
            "ocr_fleet_device_last_seen_timestamp_seconds",
            "When each device last reported to this server (at most FLEET_DEVICES_TRACKED devices, the most recent).",
            ("device",),
            registry=r,
        )
        self._last_seen: dict[str, None] = {}  # devices with a last-seen series, least recently reported first
        for result in ("stored", "duplicate", "out_of_order"):
            self.fleet_events.labels(result)
        for result in ("read", "unchanged", "failed", "dropped"):
            self.frames.labels(result)
        for kind in _EVENT_TYPES:
            self.events.labels(kind)
        for result in ("hit", "miss"):
            self.cache_lookups.labels(result)
        self._lock = threading.Lock()
        self.inflight_images = 0
        self.open_streams = 0
        self._plane_collector: Collector | None = None

    # ---- observation hooks ----------------------------------------------------------------------------
    def observe_response(self, response: Any) -> None:
        """One RecognizeResponse (a unary answer or a batch item): stage timings, lines, characters, pixels."""
        if response.HasField("error"):
            return
        t = response.timings
        if t.decode_ms > 0:  # computed now; a cached answer's stages are all zero
            for stage, field in TIMING_FIELDS.items():
                self.stage.labels(stage).observe(getattr(t, field) / 1000.0)
        self.lines.observe(len(response.lines))
        self.characters.observe(sum(len(line.text) for line in response.lines))
        self.pixels.observe(response.image_width * response.image_height)

    def observe_document(self, response: Any) -> None:
        """One RecognizeDocumentResponse: a page, by its text source (an output chunk is not counted)."""
        page = document_page_of(response)
        if page is None:
            return
        if page.HasField("error"):
            self.document_pages.labels("failed").inc()
            return
        source = _SOURCE_NAMES.get(page.text_source, "unknown")
        self.document_pages.labels(source).inc()
        self.document_page_duration.labels(source).observe(page.timings.total_ms / 1000.0)

    def observe_frame(self, response: Any, dropped_before: int) -> int:
        """One StreamRecognizeResponse; returns the stream's frames_dropped so far."""
        for event in response.events:
            kind = _EVENT_NAMES.get(event.type, "UNSPECIFIED")
            self.events.labels(kind if kind in _EVENT_TYPES else "UNSPECIFIED").inc()
        if response.frames_dropped > dropped_before:
            self.frames.labels("dropped").inc(response.frames_dropped - dropped_before)
        if response.HasField("error"):
            self.frames.labels("failed").inc()
        elif response.HasField("timings"):  # the end-of-stream flush carries no timings and is no frame
            t = response.timings
            self.frames.labels("read" if t.detection_ms > 0 or t.recognition_ms > 0 else "unchanged").inc()
            self.frame_duration.observe(t.total_ms / 1000.0)
        return max(dropped_before, response.frames_dropped)

    def observe_fleet_report(self, device: str, result: Any, seconds: float, now: float) -> None:
        """One committed fleet report (``FleetCentral``'s observer). The last-seen series are bounded: past
        FLEET_DEVICES_TRACKED devices the one that reported least recently loses its series."""
        self.fleet_events.labels("stored").inc(result.stored)
        self.fleet_events.labels("duplicate").inc(result.duplicates)
        self.fleet_events.labels("out_of_order").inc(result.out_of_order)
        self.fleet_commit.observe(seconds)
        with self._lock:
            self._last_seen.pop(device, None)
            self._last_seen[device] = None
            if len(self._last_seen) > FLEET_DEVICES_TRACKED:
                oldest = next(iter(self._last_seen))
                del self._last_seen[oldest]
                self.fleet_last_seen.remove(oldest)
            self.fleet_last_seen.labels(device).set(now)

    def add_work(self, images: int, streams: int) -> None:
        with self._lock:
            self.inflight_images += images
            self.open_streams += streams

    def bind(self, plane: Any, ready: Callable[[], bool] | None = None) -> None:
        """Read the data plane (batcher, engine, detector runs) at scrape time."""
        if self._plane_collector is not None:
            self.registry.unregister(self._plane_collector)
        self._plane_collector = _PlaneCollector(self, plane, ready)
        self.registry.register(self._plane_collector)


class _PlaneCollector(Collector):
    def __init__(self, metrics: ServerMetrics, plane: Any, ready: Callable[[], bool] | None) -> None:
        self.metrics = metrics
        self.plane = plane
        self.ready = ready

    def describe(self) -> Iterable:
        return []  # described at collect time (the info metric's labels are known only after loading)

    def collect(self) -> Iterable:
        m, plane = self.metrics, self.plane
        queued = int(getattr(plane, "queued_lines", 0))
        yield GaugeMetricFamily(
            "ocr_pending_work",
            "Images of unary calls in progress plus open streams: the autoscaling signal.",
            value=m.inflight_images + m.open_streams,
        )
        yield GaugeMetricFamily(
            "ocr_inflight_images", "Images of Recognize and BatchRecognize calls in progress.", value=m.inflight_images
        )
        yield GaugeMetricFamily("ocr_open_streams", "StreamRecognize calls open.", value=m.open_streams)
        yield GaugeMetricFamily(
            "ocr_recognition_queue_lines", "Text lines waiting for a recognizer batch.", value=queued
        )
        memory = getattr(plane, "memory", None)
        if memory is not None:
            yield GaugeMetricFamily(
                "ocr_memory_budget_bytes", "Bytes images in progress may hold (0: no budget).", value=memory.capacity
            )
            yield GaugeMetricFamily(
                "ocr_memory_held_bytes", "Bytes of the memory budget held by work in progress.", value=memory.held
            )
            yield CounterMetricFamily(
                "ocr_memory_admitted_bytes",
                "Bytes admitted by the memory budget since start.",
                value=memory.admitted_total,
            )
            yield GaugeMetricFamily(
                "ocr_memory_waiters",
                "Images waiting, in order, for their bytes of the memory budget.",
                value=memory.waiters,
            )
        ready = self.ready() if self.ready is not None else bool(getattr(plane, "ready", False))
        yield GaugeMetricFamily(
            "ocr_ready", "1 when the models are loaded and the server is not draining.", value=1.0 if ready else 0.0
        )
        family = HistogramMetricFamily(
            "ocr_batch_size",
            "Items per model run: text lines per recognizer batch (rec), images per detector run (det).",
            labels=("stage",),
        )
        for stage in ("rec", "det"):
            counts = plane.run_sizes(stage) if hasattr(plane, "run_sizes") else {}
            family.add_metric([stage], _buckets(counts), sum_value=float(sum(k * v for k, v in counts.items())))
        yield family
        status = getattr(plane, "model_status", None)
        if status is not None:
            yield GaugeMetricFamily(
                "ocr_model_generation", "1 for the models loaded at start, +1 per swap.", value=status.generation
            )
            changes = CounterMetricFamily(
                "ocr_model_changes", "Model changes swapped in or refused, since start.", labels=("result",)
            )
            for result, count in status.changes.items():
                changes.add_metric([result], count)
            yield changes
            yield GaugeMetricFamily(
                "ocr_model_optimize_progress",
                "Share done of the background INT8/BF16 build and gate (0..1).",
                value=status.optimize.progress,
            )
            state = GaugeMetricFamily(
                "ocr_model_optimize_state", "1 for the background build's state.", labels=("state",)
            )
            for name in OPTIMIZE_STATES:
                state.add_metric([name], 1.0 if status.optimize.state == name else 0.0)
            yield state
        engine = getattr(plane, "engine", None)
        if engine is not None:
            p = engine.provenance
            info = InfoMetricFamily("ocr_server", "What serves: version, bundle, backend, device, precision per stage.")
            labels = {"version": __version__, "bundle": p.bundle, "backend": p.backend, "device": p.device}
            labels.update(
                {
                    f"precision_{stage}": precision
                    for stage, precision in p.precision.items()
                    if stage in ("det", "cls", "rec")
                }
            )
            info.add_metric([], labels)
            yield info


def _buckets(counts: dict[int, int]) -> list[tuple[str, float]]:
    out, total = [], 0
    for bound in BATCH_BUCKETS:
        total = sum(v for k, v in counts.items() if k <= bound)
        out.append((str(float(bound)), float(total)))
    out.append(("+Inf", float(sum(counts.values()))))
    return out


@dataclass
class _Counted:
    """A call as the metrics see it: what it added to the work gauges, when it started (unary calls)."""

    call: Call
    streams: int
    started: float
    started_ns: int
    images: int = 0
    dropped: int = 0
    response: Any = None


class MetricsInterceptor(Interceptor[_Counted]):
    """Counts every call (outside authentication, so refusals count too) and observes what its answers carry.
    Health probes pass untouched."""

    def __init__(self, metrics: ServerMetrics) -> None:
        self.metrics = metrics
        self.traced = tracing.tracer() is not None  # OTEL_EXPORTER_OTLP_ENDPOINT and the SDK; else free

    async def start(self, call: Call) -> _Counted:
        streams = 1 if call.method == _STREAM_RECOGNIZE else 0
        counted = _Counted(call, streams, time.perf_counter(), time.time_ns() if self.traced else 0)
        self.metrics.inflight.labels(call.name).inc()
        self.metrics.add_work(0, streams)
        return counted

    async def on_request(self, counted: _Counted, request: Any) -> None:
        if not counted.call.request_streaming and counted.call.method.startswith("/ocr.v1."):
            counted.images = len(images_of(request))
            self.metrics.add_work(counted.images, 0)

    def on_response(self, counted: _Counted, response: Any) -> Any:
        m = self.metrics
        if counted.streams:
            counted.dropped = m.observe_frame(response, counted.dropped)
        elif counted.call.response_streaming:
            m.observe_document(response)  # counts only RecognizeDocument's pages
        else:
            counted.response = response
            kind = response.DESCRIPTOR.full_name if hasattr(response, "DESCRIPTOR") else ""
            if kind == "ocr.v1.RecognizeResponse":
                m.observe_response(response)
            elif kind == "ocr.v1.BatchRecognizeResponse":
                for item in response.responses:
                    m.observe_response(item)
        return response

    def finish(self, counted: _Counted, error: BaseException | None) -> None:
        m, call = self.metrics, counted.call
        m.add_work(-counted.images, -counted.streams)
        m.inflight.labels(call.name).dec()
        code, reason = outcome(call.context, error)
        m.calls.labels(call.name, code, reason).inc()
        if not call.response_streaming:
            m.call_duration.labels(call.name).observe(time.perf_counter() - counted.started)
            if self.traced:
                _trace(call.name, counted.started_ns, code, counted.response)


def _trace(name: str, started_ns: int, code: str, response: Any) -> None:
    from server.logs import request_id

    kind = response.DESCRIPTOR.full_name if hasattr(response, "DESCRIPTOR") else ""
    responses = (
        [response]
        if kind == "ocr.v1.RecognizeResponse"
        else (list(response.responses) if kind == "ocr.v1.BatchRecognizeResponse" else [])
    )
    tracing.record_call(name, started_ns, request_id(), code, responses)


def start_metrics_http(metrics: ServerMetrics, host: str, port: int) -> tuple[WSGIServer, int]:
    """Serve ``/metrics`` on ``host:port`` in a daemon thread; returns (http server, bound port)."""
    from prometheus_client import start_http_server

    httpd, _thread = start_http_server(port, host.strip("[]") or "0.0.0.0", registry=metrics.registry)
    return httpd, httpd.server_port
