"""OpenTelemetry spans, one per call with a child per pipeline stage, only where ``OTEL_EXPORTER_OTLP_ENDPOINT``
is set and the ``opentelemetry`` SDK and OTLP exporter are importable (they are not in requirements.txt:
install ``opentelemetry-sdk`` and ``opentelemetry-exporter-otlp-proto-grpc`` into the image to use it).
Otherwise ``tracer()`` is None and calls pay nothing.

Stage spans are laid out from the StageTimings the response carries (queue, decode, det, cls, rec in
call order, ``edge_runtime.stages``, ending when the call ends), so a trace agrees with the response and the metrics.
"""

from __future__ import annotations

import logging
import os
import time
from typing import Any

from edge_runtime.stages import STAGE_FIELDS

__all__ = ["tracer", "record_call"]

log = logging.getLogger(__name__)
_tracer: Any = None
_tried = False


def tracer() -> Any:
    """The server's tracer, or None (no endpoint configured, or the packages are missing)."""
    global _tracer, _tried
    if _tried:
        return _tracer
    _tried = True
    if not os.environ.get("OTEL_EXPORTER_OTLP_ENDPOINT"):
        return None
    try:
        from opentelemetry import trace
        from opentelemetry.exporter.otlp.proto.grpc.trace_exporter import OTLPSpanExporter
        from opentelemetry.sdk.resources import Resource
        from opentelemetry.sdk.trace import TracerProvider
        from opentelemetry.sdk.trace.export import BatchSpanProcessor
    except ImportError as exc:
        log.warning("OTEL_EXPORTER_OTLP_ENDPOINT is set but OpenTelemetry is not installed (%s): no traces", exc)
        return None
    provider = TracerProvider(
        resource=Resource.create({"service.name": os.environ.get("OTEL_SERVICE_NAME", "edge-ocr")})
    )
    provider.add_span_processor(BatchSpanProcessor(OTLPSpanExporter()))
    trace.set_tracer_provider(provider)
    _tracer = trace.get_tracer("edge-ocr.server")
    log.info("tracing to %s", os.environ["OTEL_EXPORTER_OTLP_ENDPOINT"])
    return _tracer


def record_call(method: str, started_ns: int, request_id: str | None, code: str, responses: list) -> None:
    """One finished call as a span, with a child span per stage of each computed image."""
    t = tracer()
    if t is None:
        return
    ended = time.time_ns()
    span = t.start_span(
        f"ocr.v1.OcrService/{method}",
        start_time=started_ns,
        attributes={"rpc.method": method, "rpc.grpc.status_code": code, "ocr.request_id": request_id or ""},
    )
    from opentelemetry import trace

    ctx = trace.set_span_in_context(span)
    for response in responses:
        timings = response.timings
        if timings.decode_ms <= 0:
            continue
        at = max(started_ns, ended - int(timings.total_ms * 1e6))
        for stage, field in STAGE_FIELDS.items():
            length = int(getattr(timings, field) * 1e6)
            if length > 0:
                child = t.start_span(f"ocr.{stage}", context=ctx, start_time=at)
                child.end(end_time=at + length)
                at += length
    span.end(end_time=ended)
