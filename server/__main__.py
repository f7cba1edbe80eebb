"""`python -m server`: serve ocr.v1.OcrService and/or the fleet central (fleet.v1.FleetService). Flags override
OCR_* environment variables, which override defaults."""

from __future__ import annotations

import argparse
import asyncio
import os
import sys
from typing import NoReturn

from edge_runtime.arguments import OneLineParser
from edge_runtime.config import BACKENDS, DEVICES, PRECISIONS, EngineConfig, from_env
from edge_runtime.errors import ConfigurationError
from fleet.duration import parse_duration
from server.config import DEFAULT_HTTP_PORT, LOG_FORMATS, ROLES, ServerConfig


def _duration(text: str) -> float:
    try:
        return parse_duration(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def parse_args(argv: list[str]) -> tuple[ServerConfig, EngineConfig]:
    parser = _Parser(prog="python -m server", description=__doc__)
    add = parser.add_argument
    add("--host", help="address to bind (OCR_HOST; default [::] with credentials, localhost without)")
    add("--port", type=int, help="port, 0 for any free one (OCR_PORT, default 50051)")
    add("--bundle", help="model bundle id (OCR_BUNDLE)")
    add("--backend", choices=BACKENDS, help="OCR_BACKEND, default auto")
    add("--device", choices=DEVICES, help="OCR_DEVICE, default cpu")
    add("--precision", choices=PRECISIONS, help="OCR_PRECISION, default auto (INT8 where built and gated)")
    add("--threads", type=int, help="intra-op threads per model run, 0 = all cores (OCR_THREADS)")
    add("--max-image-pixels", type=int, help="largest image in pixels (OCR_MAX_IMAGE_PIXELS)")
    add("--max-message-bytes", type=int, help="largest request message (OCR_MAX_MESSAGE_BYTES, default 64 MiB)")
    add("--max-concurrent-rpcs", type=int, help="OCR calls at once (OCR_MAX_CONCURRENT_RPCS, default 64)")
    add("--max-batch-images", type=int, help="images per BatchRecognize (OCR_MAX_BATCH_IMAGES, default 64)")
    add("--max-document-bytes", type=int, help="largest RecognizeDocument file (OCR_MAX_DOCUMENT_BYTES, 100 MiB)")
    add("--max-document-pages", type=int, help="pages read per document (OCR_MAX_DOCUMENT_PAGES, default 2000)")
    add("--batch-max-delay-ms", type=float, help="dynamic batching wait (OCR_BATCH_MAX_DELAY_MS, default 3)")
    add("--batch-max-size", type=int, help="lines per recognizer batch, 0 = engine's (OCR_BATCH_MAX_SIZE)")
    add("--grace-s", type=float, help="drain time on SIGTERM (OCR_GRACE_S, default 30)")
    add("--log-level", help="OCR_LOG_LEVEL, default INFO")
    sec = parser.add_argument_group("security (see README: Security and privacy)")
    add = sec.add_argument
    add("--tls-cert", help="PEM server certificate; with --tls-key serves TLS (OCR_TLS_CERT)")
    add("--tls-key", help="PEM key of --tls-cert (OCR_TLS_KEY)")
    add("--tls-client-ca", help="PEM CA: clients must show a certificate it signed, mutual TLS (OCR_TLS_CLIENT_CA)")
    add(
        "--tokens-file",
        help="JSON/TOML file of sha256-hashed tokens, principals, scopes, limits; re-read when "
        "changed (OCR_TOKENS_FILE)",
    )
    add(
        "--insecure",
        action="store_true",
        default=None,
        help="allow a non-loopback address without credentials: anyone may call (OCR_INSECURE=1)",
    )
    add(
        "--cert-scopes",
        help="scopes of a client certificate the tokens file does not name "
        "(OCR_CERT_SCOPES, default ocr.recognize,ocr.stream)",
    )
    add("--open-reflection", action="store_true", default=None, help="reflection without credentials")
    add("--open-server-info", action="store_true", default=None, help="GetServerInfo without credentials")
    add("--calls-per-s", type=float, help="default calls/s per principal, 0 = no limit (OCR_CALLS_PER_S, 50)")
    add("--calls-burst", type=float, help="default call burst per principal (OCR_CALLS_BURST, 100)")
    add("--pixels-per-s", type=float, help="default image pixels/s per principal (OCR_PIXELS_PER_S, 5e7)")
    add(
        "--max-streams",
        type=int,
        help="default open streams per principal: camera streams and fleet watches (OCR_MAX_STREAMS, 4)",
    )
    add("--audit-log", help="one JSON line per call to this file (rotated) or '-' for stdout (OCR_AUDIT_LOG)")
    add("--audit-max-bytes", type=int, help="rotate the audit file past this size (OCR_AUDIT_MAX_BYTES, 16 MiB)")
    add("--audit-keep", type=int, help="rotated audit files kept (OCR_AUDIT_KEEP, 5)")
    add("--audit-text", action="store_true", default=None, help="also log recognized text (after redaction)")
    add("--redact", help="mask in responses: comma list of email,phone,card (OCR_REDACT)")
    add(
        "--redact-pattern",
        action="append",
        help="a regular expression to mask too (repeatable; OCR_REDACT_PATTERNS: one per line)",
    )
    ops = parser.add_argument_group("operations (see README: Operations)")
    add = ops.add_argument
    add(
        "--metrics-port",
        type=int,
        help="Prometheus /metrics over HTTP on this port, 0 = off (OCR_METRICS_PORT, "
        "default 0; the container image uses 9464)",
    )
    add("--metrics-host", help="address of the metrics port (OCR_METRICS_HOST, default 127.0.0.1)")
    add(
        "--health-port",
        type=int,
        help="plain-text grpc.health.v1 only, for probes when the main port has TLS; 0 = off (OCR_HEALTH_PORT)",
    )
    add("--health-host", help="address of the health port (OCR_HEALTH_HOST, default 127.0.0.1)")
    add(
        "--http-port",
        type=int,
        help=f"HTTP/JSON API, OpenAPI and console (docs/http.md) on this port, 0 = off (OCR_HTTP_PORT, default "
        f"{DEFAULT_HTTP_PORT}); the same auth, TLS and client CA as the gRPC port",
    )
    add("--http-host", help="address of the HTTP port (OCR_HTTP_HOST; default: as --host)")
    add("--log-format", choices=LOG_FORMATS, help="text or json lines with request_id (OCR_LOG_FORMAT, text)")
    add(
        "--cache",
        action=argparse.BooleanOptionalAction,
        default=None,
        help="answer identical requests from the result cache (OCR_CACHE=1; off by default so benchmarks and "
        "tests measure work; on in the container image)",
    )
    add(
        "--cache-url",
        help="redis://host:port/db: a result cache shared by replicas (OCR_CACHE_URL; default: in-process LRU)",
    )
    add("--cache-max-bytes", type=int, help="size of the in-process LRU (OCR_CACHE_MAX_BYTES, 64 MiB)")
    add("--cache-ttl-s", type=float, help="lifetime of a Redis entry (OCR_CACHE_TTL_S, 3600)")
    add(
        "--max-rss-mb",
        type=float,
        help="past this resident memory: drain and exit with status 3, for the "
        "orchestrator to restart it; 0 = none (OCR_MAX_RSS_MB)",
    )
    memory = parser.add_argument_group("memory (see docs/memory.md)")
    memory.add_argument(
        "--memory-budget-mb",
        type=float,
        help="MiB that images in progress may hold; more wait in order; 0 = no budget, -1 = a quarter of the "
        "memory left after loading, 640 at most, one A4 page at 300 dpi at least (OCR_MEMORY_BUDGET_MB, default -1)",
    )
    models = parser.add_argument_group("models: live changes and the background gate (see docs/int8.md)")
    add = models.add_argument
    add(
        "--model-poll-s",
        type=float,
        help="look at the bundle's files this often and swap a change in without a restart; SIGHUP: now; "
        "0 = never (OCR_MODEL_POLL_S, default 5)",
    )
    add(
        "--optimize",
        action=argparse.BooleanOptionalAction,
        default=None,
        help="with --precision auto and no gate record for this host: build and gate INT8/BF16 in the background "
        "(nice 19, one thread) and swap them in (OCR_OPTIMIZE, default on)",
    )
    add("--optimize-args", help='more arguments for that python -m quantize, e.g. "--det-pages 4" (OCR_OPTIMIZE_ARGS)')
    conn = parser.add_argument_group("connections: calls spread over replicas (see docs/scaling.md)")
    add = conn.add_argument
    add(
        "--max-connection-age",
        type=_duration,
        help="end each connection after about this long so clients spread over new replicas, e.g. 5m; "
        "0 = never (OCR_MAX_CONNECTION_AGE_S, seconds, default 60)",
    )
    add(
        "--max-connection-age-grace",
        type=_duration,
        help="calls in flight on an aged connection get this long (OCR_MAX_CONNECTION_AGE_GRACE_S, default 600)",
    )
    add("--keepalive-time", type=_duration, help="ping a silent connection this often (OCR_KEEPALIVE_TIME_S, 60)")
    add("--keepalive-timeout", type=_duration, help="close it when unanswered this long (OCR_KEEPALIVE_TIMEOUT_S, 20)")
    add(
        "--keepalive-min-ping",
        type=_duration,
        help="the shortest client ping interval allowed (OCR_KEEPALIVE_MIN_PING_S, default 10)",
    )
    fleet = parser.add_argument_group("fleet central (see README: Fleet)")
    add = fleet.add_argument
    add(
        "--role",
        choices=ROLES,
        help="ocr: OcrService; central: FleetService only, no models loaded; all: both "
        "(OCR_ROLE; default all with --fleet-store, else ocr)",
    )
    add(
        "--fleet-store",
        help="the central's store: sqlite:///path.db or postgresql://user@host/db "
        "(OCR_FLEET_STORE; default with a central role: sqlite:///fleet.db)",
    )
    add(
        "--fleet-retention",
        type=_duration,
        help="delete events captured longer ago than this, e.g. 30d; 0 = never (OCR_FLEET_RETENTION_S, seconds)",
    )
    add("--fleet-max-report-events", type=int, help="events + gaps per ReportEvents request (1000)")
    kie = parser.add_argument_group("key fields (see docs/fields.md)")
    kie.add_argument("--fields-file", help="TOML field sets calls may ask for by name (OCR_FIELDS_FILE)")
    args = parser.parse_args(argv)
    server_config = from_env(
        ServerConfig,
        host=args.host,
        port=args.port,
        max_message_bytes=args.max_message_bytes,
        max_concurrent_rpcs=args.max_concurrent_rpcs,
        max_batch_images=args.max_batch_images,
        max_document_bytes=args.max_document_bytes,
        max_document_pages=args.max_document_pages,
        batch_max_delay_ms=args.batch_max_delay_ms,
        batch_max_size=args.batch_max_size,
        grace_s=args.grace_s,
        log_level=args.log_level,
        tls_cert=args.tls_cert,
        tls_key=args.tls_key,
        tls_client_ca=args.tls_client_ca,
        tokens_file=args.tokens_file,
        insecure=args.insecure,
        cert_scopes=args.cert_scopes,
        open_reflection=args.open_reflection,
        open_server_info=args.open_server_info,
        calls_per_s=args.calls_per_s,
        calls_burst=args.calls_burst,
        pixels_per_s=args.pixels_per_s,
        max_streams=args.max_streams,
        audit_log=args.audit_log,
        audit_max_bytes=args.audit_max_bytes,
        audit_keep=args.audit_keep,
        audit_text=args.audit_text,
        redact=args.redact,
        redact_patterns="\n".join(args.redact_pattern) if args.redact_pattern else None,
        metrics_port=args.metrics_port,
        metrics_host=args.metrics_host,
        health_port=args.health_port,
        health_host=args.health_host,
        http_port=args.http_port
        if args.http_port is not None
        else (None if os.environ.get("OCR_HTTP_PORT") else DEFAULT_HTTP_PORT),
        http_host=args.http_host,
        log_format=args.log_format,
        cache=args.cache,
        cache_url=args.cache_url,
        cache_max_bytes=args.cache_max_bytes,
        cache_ttl_s=args.cache_ttl_s,
        max_rss_mb=args.max_rss_mb,
        memory_budget_mb=args.memory_budget_mb,
        model_poll_s=args.model_poll_s,
        optimize=args.optimize,
        optimize_args=args.optimize_args,
        role=args.role,
        fleet_store=args.fleet_store,
        fleet_retention_s=args.fleet_retention,
        fleet_max_report_events=args.fleet_max_report_events,
        max_connection_age_s=args.max_connection_age,
        max_connection_age_grace_s=args.max_connection_age_grace,
        keepalive_time_s=args.keepalive_time,
        keepalive_timeout_s=args.keepalive_timeout,
        keepalive_min_ping_s=args.keepalive_min_ping,
        fields_file=args.fields_file,
    )
    engine_config = from_env(
        EngineConfig,
        bundle=args.bundle,
        backend=args.backend,
        device=args.device,
        precision=args.precision,
        threads=args.threads,
        max_image_pixels=args.max_image_pixels,
    )
    return server_config, engine_config


class _Parser(OneLineParser):
    """A usage mistake is one line, as a JSON record when the logs are asked for in JSON."""

    def error(self, message: str) -> NoReturn:
        from server import logs

        logs.failure(f"{self.prog}: {message}", "USAGE_INVALID")
        raise SystemExit(2)


def _wanted_format(argv: list[str]) -> str:
    """The log format asked for, read before the flags are parsed (their own mistakes are logged in it)."""
    for i, arg in enumerate(argv):
        if arg == "--log-format" and i + 1 < len(argv):
            return argv[i + 1]
        if arg.startswith("--log-format="):
            return arg.split("=", 1)[1]
    return os.environ.get("OCR_LOG_FORMAT", "") or "text"


def main(argv: list[str] | None = None) -> int:
    from server import logs

    argv = sys.argv[1:] if argv is None else argv
    logs.use_format("json" if _wanted_format(argv) == "json" else "text")
    try:
        server_config, engine_config = parse_args(argv)
        server_config.check_listen()
    except ConfigurationError as exc:
        logs.failure(exc.message, exc.reason)
        return 2
    from server.memory_budget import steady_allocator

    steady_allocator()  # before any thread or large array: freed memory goes back to the system (docs/memory.md)

    logs.configure(server_config.log_level, server_config.log_format, handshakes=bool(server_config.tls_cert))
    from server.app import default_engine_factory, serve

    try:
        return asyncio.run(serve(server_config, default_engine_factory(engine_config)))
    except ConfigurationError as exc:  # a bad tokens file or certificate, found while building the server
        logs.failure(exc.message, exc.reason)
        return 2


if __name__ == "__main__":
    raise SystemExit(main())
