"""Server assembly and lifecycle: build_server(), the interceptors in order (security, metrics, result cache,
validation) and TLS, health (NOT_SERVING until warm; optionally on its own plain-text port), reflection, the
metrics port, graceful drain, the memory ceiling."""

from __future__ import annotations

import asyncio
import logging
import os
import shlex
import signal
from collections.abc import Callable
from typing import Any
from wsgiref.simple_server import WSGIServer

import grpc
from grpc_health.v1 import health, health_pb2, health_pb2_grpc
from grpc_reflection.v1alpha import reflection

from clients.ocr_client.pb import FLEET_SERVICE_NAME, SERVICE_NAME
from edge_runtime.config import EngineConfig, from_env
from edge_runtime.errors import ConfigurationError
from edge_runtime.pipeline import OcrEngine
from fleet.central import FleetCentral
from fleet.central import Limits as FleetLimits
from fleet.store import open_store
from server import logs
from server.cache import CacheInterceptor, LruCache, ResultCache, engine_fingerprint, make_cache
from server.config import ServerConfig
from server.connections import connection_options
from server.fleet_service import FleetServicer, fleet_handler
from server.http import HttpGateway
from server.http.openapi import contract_services
from server.metrics import MetricsInterceptor, ServerMetrics, start_metrics_http
from server.models_watch import ModelWatcher
from server.optimizer import Optimizer
from server.plane import OcrPlane
from server.security import Security
from server.service import OcrServicer, generic_handler
from server.trailers_only import TrailersOnlyInterceptor
from server.validation import ValidationInterceptor, transport_limit

__all__ = ["OcrServer", "build_server", "serve", "rss_bytes", "EXIT_MEMORY"]

log = logging.getLogger(__name__)
SERVING = health_pb2.HealthCheckResponse.SERVING
NOT_SERVING = health_pb2.HealthCheckResponse.NOT_SERVING
EXIT_MEMORY = 3  # serve()'s exit status after draining for --max-rss-mb


class OcrServer:
    """A grpc.aio server with the OCR service, health and reflection, and the data plane behind it.

    ``start()`` binds and begins loading the models; health says NOT_SERVING (and calls answer UNAVAILABLE /
    MODEL_NOT_READY) until they are loaded and warmed up. ``stop(grace)`` drains: health NOT_SERVING, new calls
    refused, calls in flight get ``grace`` seconds to finish.
    """

    def __init__(
        self,
        grpc_server: grpc.aio.Server,
        plane: OcrPlane,
        health_servicer: health.aio.HealthServicer,
        port: int,
        security: Security | None = None,
        metrics: ServerMetrics | None = None,
        cache: ResultCache | None = None,
        fleet: FleetCentral | None = None,
        serves_ocr: bool = True,
    ) -> None:
        self.grpc_server = grpc_server
        self.security = security
        self.metrics = metrics or ServerMetrics(process=False)
        self.cache = cache
        self.metrics_port = 0  # the bound metrics port once started (0: off)
        self.health_port = 0  # the bound plain-text health port once started (0: off)
        self._metrics_http: WSGIServer | None = None
        self._health_server: grpc.aio.Server | None = None
        self.plane = plane
        self.fleet = fleet  # the central's domain when FleetService is served (opened in _load)
        self.serves_ocr = serves_ocr
        self.health = health_servicer
        self.port = port
        self.load_error: BaseException | None = None
        self._loaded = asyncio.Event()
        self._load_task: asyncio.Task | None = None
        self.watcher: ModelWatcher | None = None  # live model changes, once the first models serve
        self.optimizer: Optimizer | None = None  # the background gate, where one is needed
        self._background: list[asyncio.Task] = []
        self.http: HttpGateway | None = None  # the HTTP/JSON port (server.http), where config.http_port asks
        self.http_port = 0  # its bound port once started (0: off)

    @property
    def services(self) -> tuple[str, ...]:
        """The gRPC services this server answers (health reports each, and "" for all of them)."""
        return ((SERVICE_NAME,) if self.serves_ocr else ()) + ((FLEET_SERVICE_NAME,) if self.fleet else ())

    async def start(self) -> None:
        for service in ("",) + self.services:
            await self.health.set(service, NOT_SERVING)
        config = self.plane.config
        if config.health_port:
            self._health_server = grpc.aio.server()
            health_pb2_grpc.add_HealthServicer_to_server(self.health, self._health_server)
            address = f"{config.health_host}:{config.health_port}"
            self.health_port = self._health_server.add_insecure_port(address)
            if self.health_port == 0:
                raise RuntimeError(f"cannot bind the health port {address}")
            await self._health_server.start()
        if config.metrics_port:
            self._metrics_http, self.metrics_port = start_metrics_http(
                self.metrics, config.metrics_host, config.metrics_port
            )
        await self.grpc_server.start()
        if self.http is not None:
            try:
                self.http_port = await self.http.start()
            except BaseException:  # e.g. the HTTP port is taken: nothing stays bound
                await self.grpc_server.stop(0)
                raise
        self._load_task = asyncio.get_running_loop().create_task(self._load())

    async def _load(self) -> None:
        try:
            if self.fleet is not None:
                await self.fleet.open()
                if self.fleet.store is not None:  # open() sets it, or raises
                    log.info("fleet store open: %s; FleetService SERVING", self.fleet.store.kind)
                if not self.plane.draining:
                    await self.health.set(FLEET_SERVICE_NAME, SERVING)
            if self.serves_ocr:
                engine = await self.plane.load()
                reasons = getattr(engine, "precision_reasons", {}) or {}
                for stage, precision in engine.precision.items():  # one line per stage: what serves, and why
                    log.info("stage %s serves %s: %s", stage, precision, reasons.get(stage, "no reason given"))
                if not self.plane.draining:
                    await self.health.set(SERVICE_NAME, SERVING)
                self._start_background(engine)
        except Exception as exc:  # a bad bundle, backend or store: stay NOT_SERVING, let the owner decide
            self.load_error = exc
            what = "model loading" if self.fleet is None or self.fleet.ready else "opening the fleet store"
            reason = getattr(exc, "reason", None)
            if isinstance(reason, str) and reason:  # a known mistake: one line that says what and why
                message = getattr(exc, "message", None) or str(exc)
                log.error("%s failed: %s [%s]; the server stays NOT_SERVING", what, message, reason)
            else:
                log.error("%s failed; the server stays NOT_SERVING", what, exc_info=exc)
        else:
            if not self.plane.draining:
                await self.health.set("", SERVING)
        finally:
            self._loaded.set()

    def _start_background(self, engine: OcrEngine) -> None:
        """Once serving: watch the bundle's files, and build and gate this host's INT8/BF16 where none is there."""
        config, loop = self.plane.config, asyncio.get_running_loop()
        if config.model_poll_s > 0:
            self.watcher = ModelWatcher(self.plane, config.model_poll_s)
            self._background.append(loop.create_task(self.watcher.run(), name="ocr-model-watch"))
        if config.optimize and engine.config.precision == "auto" and engine.config.device == "cpu":
            self.optimizer = Optimizer(
                engine.bundle.id, engine.backend, self.plane.model_status.optimize, shlex.split(config.optimize_args)
            )
            self._background.append(loop.create_task(self.optimizer.run(), name="ocr-optimize"))

    def reload_models(self) -> None:
        """SIGHUP: look at the bundle's files now."""
        if self.watcher is not None:
            self.watcher.wake()

    async def wait_loaded(self, timeout: float | None = None) -> bool:
        """True once ready; False when loading failed."""
        await asyncio.wait_for(self._loaded.wait(), timeout)
        return self.load_error is None

    async def stop(self, grace: float | None) -> None:
        """Drain and stop: in-flight calls finish (up to ``grace`` seconds), new ones are refused."""
        self.plane.draining = True
        await self.health.enter_graceful_shutdown()
        await self.grpc_server.stop(grace)
        if self.http is not None:  # after gRPC's drain: HTTP calls in flight are gRPC calls and drained with them
            await self.http.stop()
        if self._load_task is not None and not self._load_task.done():
            self._load_task.cancel()
        if self.optimizer is not None:
            await self.optimizer.stop()
        for task in self._background:
            task.cancel()
        await self.plane.close()
        if self.fleet is not None:
            await self.fleet.close()
        if self.security is not None:
            self.security.close()
        if self.cache is not None:
            await self.cache.close()
        if self._health_server is not None:
            await self._health_server.stop(0)
        if self._metrics_http is not None:
            self._metrics_http.shutdown()
            self._metrics_http.server_close()
            self._metrics_http = None

    async def wait_for_termination(self) -> None:
        await self.grpc_server.wait_for_termination()


def default_engine_factory(engine_config: EngineConfig | None = None) -> Callable[[], OcrEngine]:
    config = engine_config or from_env(EngineConfig)
    return lambda: OcrEngine(config)


def _cache_interceptor(
    cache: ResultCache, plane: OcrPlane, config: ServerConfig, metrics: ServerMetrics
) -> CacheInterceptor:
    """The result cache's layer: keyed by what decides the answer on this server (known once models are loaded)."""
    last: list[Any] = [None, ""]  # [engine, its key part]: the models decide the answer, and they may be swapped

    def key_part() -> str | None:  # None until the models are loaded: nothing is cached then
        engine = plane.engine
        if engine is None:
            return None
        if last[0] is not engine:
            last[:] = [engine, engine_fingerprint(engine, (config.redact_kinds, config.redact_pattern_list))]
        return str(last[1])

    def looked_up(hit: bool) -> None:
        metrics.cache_lookups.labels("hit" if hit else "miss").inc()

    if isinstance(cache, LruCache):
        lru = cache
        metrics.cache_size.set_function(lambda: lru.size)
    limits = (config.max_document_bytes, config.max_document_pages)
    return CacheInterceptor(cache, key_part, config.max_batch_images, looked_up, limits)


def build_server(
    config: ServerConfig | None = None, engine_factory: Callable[[], OcrEngine] | None = None
) -> tuple[OcrServer, int]:
    """The server, bound but not started, and its port (useful with ``port=0``). Call inside an event loop.

    Raises ConfigurationError for a bad tokens file or certificate, and INSECURE_LISTEN for a network address
    without credentials (unless ``config.insecure``)."""
    config = config or from_env(ServerConfig)
    plane = OcrPlane(engine_factory or default_engine_factory(), config)
    security = Security.from_config(config, lambda: plane.engine.config.max_image_pixels if plane.engine else 0)
    credentials = security.server_credentials()

    def provenance() -> tuple[str, dict[str, str]]:
        engine = plane.engine
        return (engine.provenance.bundle, dict(engine.precision)) if engine is not None else ("", {})

    metrics = ServerMetrics()
    metrics.bind(plane, lambda: plane.ready and not plane.draining)
    metrics.memory_limit.set(config.max_rss_mb * 1024 * 1024)
    cache = (
        make_cache(config.cache_url, config.cache_max_bytes, config.cache_ttl_s, metrics.cache_errors.inc)
        if config.cache
        else None
    )
    # The interceptors, outermost first (each wraps all below it):
    # - Trailers-Only: ends a failed unary call after all the others, as the clients' retry policy needs;
    # - Audit: gives the call its request id and writes its line however it ends, refusals by any layer included;
    # - Metrics: counts every call by the status it ended with, so refusals count too;
    # - Auth: names the caller and checks its scope before anything is spent on it;
    # - Limits: charges that principal's calls, pixels and open streams;
    # - Cache: answers only a caller let in and charged, and stores what Redact let out (masked text only);
    # - Redact: masks personal data in every answer, computed or not yet cached;
    # - Validation: refuses malformed and over-size requests right before the servicer (a stranger is refused
    #   as one first, and learns nothing of the contract).
    chain: list[grpc.aio.ServerInterceptor | None] = [
        TrailersOnlyInterceptor(),  # a failed unary call ends Trailers-Only, so clients' retry policy applies
        security.audit_interceptor(provenance),
        MetricsInterceptor(metrics),
        security.auth,
        security.limits,
        _cache_interceptor(cache, plane, config, metrics) if cache is not None else None,
        security.redact_interceptor(),
        ValidationInterceptor(config.max_message_bytes),
    ]
    grpc_server = grpc.aio.server(
        interceptors=[c for c in chain if c is not None],
        options=[
            ("grpc.max_receive_message_length", transport_limit(config.max_message_bytes)),
            ("grpc.max_send_message_length", config.max_message_bytes),
            ("grpc.so_reuseport", 0),  # a second server on a taken port must fail, not share it
            *connection_options(config),  # maximum connection age and keepalive (replicas, NATs)
        ],
    )
    if config.serves_ocr:
        grpc_server.add_generic_rpc_handlers((generic_handler(OcrServicer(plane, security.redactor)),))
    fleet = None
    if config.serves_fleet:
        url, retention = config.fleet_store_url, config.fleet_retention_s
        fleet = FleetCentral(
            lambda: open_store(url, retention),
            limits=FleetLimits(config.fleet_max_report_events),
            observe=metrics.observe_fleet_report,
        )
        grpc_server.add_generic_rpc_handlers((fleet_handler(FleetServicer(fleet)),))
    health_servicer = health.aio.HealthServicer()
    health_pb2_grpc.add_HealthServicer_to_server(health_servicer, grpc_server)
    served = ((SERVICE_NAME,) if config.serves_ocr else ()) + ((FLEET_SERVICE_NAME,) if fleet else ())
    reflection.enable_server_reflection(
        served + (health_pb2.DESCRIPTOR.services_by_name["Health"].full_name, reflection.SERVICE_NAME), grpc_server
    )
    address = f"{config.bind_host}:{config.port}"
    try:
        port = (
            grpc_server.add_secure_port(address, credentials)
            if credentials is not None
            else grpc_server.add_insecure_port(address)
        )
    except RuntimeError:  # grpc's "Failed to bind to address": taken, or not an address of this machine
        port = 0
    if port == 0:
        raise ConfigurationError(
            f"cannot listen on {address}: the port is taken or the address is not this machine's", "PORT_UNAVAILABLE"
        )
    server = OcrServer(grpc_server, plane, health_servicer, port, security, metrics, cache, fleet, config.serves_ocr)
    if config.http_port:  # REST beside gRPC: an in-process socket on this server, bound before it starts
        descriptors = [d for d in contract_services() if d.full_name in served]
        server.http = HttpGateway.attach(grpc_server, config, descriptors, security.auth)
    return server, port


def rss_bytes() -> int:
    """This process's resident memory (Linux /proc; 0 where unknown)."""
    try:
        with open("/proc/self/statm", "rb") as f:
            return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")
    except (OSError, ValueError, IndexError):
        return 0


async def _watch_memory(limit_bytes: int, over: asyncio.Event, every_s: float = 1.0) -> None:
    while True:
        rss = rss_bytes()
        if rss > limit_bytes:
            log.error(
                "resident memory %.0f MiB is over --max-rss-mb %.0f: draining, then exiting with status %d",
                rss / 2**20,
                limit_bytes / 2**20,
                EXIT_MEMORY,
            )
            over.set()
            return
        await asyncio.sleep(every_s)


async def serve(config: ServerConfig, engine_factory: Callable[[], OcrEngine] | None = None) -> int:
    """Run until SIGTERM/SIGINT, then drain. Exit status: 0 after a clean drain, 1 when models failed to load,
    3 (EXIT_MEMORY) after draining because resident memory passed ``config.max_rss_mb``."""
    server, port = build_server(config, engine_factory)
    loop = asyncio.get_running_loop()
    stop = asyncio.Event()
    for signum in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(signum, stop.set)
    loop.add_signal_handler(signal.SIGHUP, server.reload_models)
    over_memory = asyncio.Event()
    watcher = (
        loop.create_task(_watch_memory(int(config.max_rss_mb * 2**20), over_memory)) if config.max_rss_mb else None
    )
    over_memory_task = loop.create_task(over_memory.wait())
    over_memory_task.add_done_callback(lambda _: stop.set())
    await server.start()
    if server.metrics_port:
        log.info("metrics on http://%s:%d/metrics", config.metrics_host, server.metrics_port)
        logs.announce(f"ocr metrics on port {server.metrics_port}")
    if server.health_port:
        log.info("plain-text health on %s port %d", config.health_host, server.health_port)
    if server.http_port:
        log.info("HTTP/JSON, /openapi.json and the console on %s port %d", config.http_bind_host, server.http_port)
        logs.announce(f"ocr http on port {server.http_port}")
    for line in server.security.describe() if server.security is not None else ():
        log.info("security: %s", line)
    waits_for = " and ".join(
        (["the fleet store is open"] if server.fleet is not None else [])
        + (["models are loaded"] if server.serves_ocr else [])
    )
    log.info("listening on %s port %d; health NOT_SERVING until %s", config.bind_host, port, waits_for)
    logs.announce(f"ocr server listening on port {port}")  # machine-readable line for scripts and tests
    loaded = loop.create_task(server.wait_loaded())
    stopping = loop.create_task(stop.wait())
    await asyncio.wait({loaded, stopping}, return_when=asyncio.FIRST_COMPLETED)
    if loaded.done() and not loaded.result():
        await server.stop(0)
        return 1
    if loaded.done():
        logs.announce("ocr server ready")
        await stopping
    log.info("draining: new calls refused, %d in flight get up to %.0f s", server.plane.active_calls, config.grace_s)
    await server.stop(config.grace_s)
    loaded.cancel()
    if watcher is not None:
        watcher.cancel()
    log.info("stopped")
    if over_memory.is_set():
        return EXIT_MEMORY
    over_memory_task.cancel()
    return 0
