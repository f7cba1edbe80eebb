"""The edge agent: producers (cameras, replays) -> the durable outbox -> the uploader -> the central.

Each producer and the uploader run on a thread of their own; they meet only in the outbox, so an outage of the
central never slows a camera (the outbox's bounds say what gives when it lasts too long). The device's status
(backlog, drops by reason, bundle and precision, version) goes with every report.
"""

from __future__ import annotations

import importlib.metadata
import logging
import threading
import time
from collections.abc import Callable
from typing import Any

from clients.ocr_client.fleet_types import DeviceStatus
from fleet.agent.config import AgentConfig
from fleet.agent.outbox import Outbox
from fleet.agent.producers import Admission, CameraProducer, Provenance, ReplayProducer
from fleet.agent.uploader import Uploader

__all__ = ["Agent", "software_version"]

log = logging.getLogger(__name__)

# a fresh channel per call; its own subchannel (not the process-wide pool) and short reconnect backoff, so a
# restarted central is found again within the uploader's own, jittered, backoff. open_channel adds the clients'
# service config (round_robin over every address the target resolves to: dns:///central:50051 or
# ipv4:a:p,b:p reaches every central replica) and keepalive; a ping every 20 s (the server allows 10 s) keeps
# NAT entries of a quiet report call alive. ReportEvents has no retry policy: its acknowledgements are the retry.
CHANNEL_OPTIONS = (
    ("grpc.use_local_subchannel_pool", 1),
    ("grpc.initial_reconnect_backoff_ms", 200),
    ("grpc.min_reconnect_backoff_ms", 200),
    ("grpc.max_reconnect_backoff_ms", 2000),
    ("grpc.keepalive_time_ms", 20000),
    ("grpc.keepalive_timeout_ms", 10000),
)


STATUS_REFRESH_S = 1.0
FINAL_STATUS_S = 3.0  # on stop, how long the uploader may take to report the final backlog before the call is cut


def software_version() -> str:
    try:
        return importlib.metadata.version("edge-ocr")
    except importlib.metadata.PackageNotFoundError:
        return "unknown"


class Agent:
    """Owns the outbox, the producers and the uploader. ``start()``; ``stop()`` (also from a signal handler's
    thread) ends the producers, then the uploader; the outbox keeps what was not delivered for the next start."""

    def __init__(
        self,
        config: AgentConfig,
        engine_factory: Callable[[], Any] | None = None,
        session_factory: Callable[[], Any] | None = None,
    ) -> None:
        self.config = config
        o = config.outbox
        self.outbox = Outbox(o.path, max_bytes=o.max_bytes, ttl_s=o.ttl_s, policy=o.policy, synchronous=o.synchronous)
        self.version = software_version()
        self.provenance = Provenance()
        self.engine = None
        self.admission = Admission()
        self.producers: list[Any] = []
        if config.cameras:
            self.engine = (engine_factory or self._engine)()
            self.provenance = Provenance.of_engine(self.engine)
            scheduler = self._scheduler() if len(config.cameras) > 1 else None
            self.producers += [
                CameraProducer(
                    c,
                    self.engine,
                    self.outbox,
                    self.provenance,
                    scheduler,
                    admission=self.admission,
                    field_sets=config.field_sets,
                )
                for c in config.cameras
            ]
        self.producers += [ReplayProducer(r, self.outbox, self.admission) for r in config.replay]
        self._client: Any = None
        self._status: DeviceStatus | None = None
        self._status_at = 0.0
        self.uploader = Uploader(self.outbox, session_factory or self._session, config.upload, self.status)
        self._stop = threading.Event()
        self._stop_producers = threading.Event()
        self._threads: list[threading.Thread] = []
        self.metrics_port: int | None = None

    # ---- parts --------------------------------------------------------------------------------------------
    def _engine(self) -> Any:
        from edge_runtime.pipeline import OcrEngine

        engine = OcrEngine(self.config.engine)
        engine.warm_up()  # before the cameras start: a first frame must not wait for graph compilation
        return engine

    def _scheduler(self) -> Any:
        from concurrent.futures import ThreadPoolExecutor

        from edge_runtime.stream.scheduler import FrameScheduler

        return FrameScheduler(ThreadPoolExecutor(1, thread_name_prefix="agent-frames"))

    def _session(self) -> Any:
        """A new ReportEvents call on a new channel (the previous one is closed)."""
        from clients.ocr_client.client import open_channel
        from clients.ocr_client.fleet import FleetClient

        c = self.config.central
        if self._client is not None:
            self._client.close()
        token = c.bearer()
        channel = open_channel(
            c.target,
            ca=c.ca or None,
            cert=c.cert or None,
            key=c.key or None,
            token=token,
            tls=c.tls,
            server_name=c.server_name or None,
            options=CHANNEL_OPTIONS,
        )
        self._client = FleetClient(c.target, channel=channel, token=token)
        return self._client.report_session(self.config.device_id)

    def status(self, fresh: bool = True) -> DeviceStatus:
        """What goes with each report; unless ``fresh``, counted at most every STATUS_REFRESH_S (the backlog's
        count scans the outbox, and a deep backlog drains in many batches)."""
        now = time.monotonic()
        if fresh or self._status is None or now - self._status_at >= STATUS_REFRESH_S:
            self._status, self._status_at = self._count_status(), now
        return self._status

    def _count_status(self) -> DeviceStatus:
        backlog = self.outbox.backlog()
        return DeviceStatus(
            backlog_events=backlog.events,
            backlog_bytes=backlog.bytes,
            drops=backlog.drops,
            bundle=self.provenance.bundle,
            backend=self.provenance.backend,
            precision=self.provenance.precision,
            software_version=self.version,
            oldest_backlog_time=backlog.oldest_capture_time,
        )

    # ---- life -----------------------------------------------------------------------------------------------
    def start(self) -> None:
        if self.config.metrics_port:
            from fleet.agent.metrics import serve_metrics

            self.metrics_port = serve_metrics(self, self.config.metrics_host, self.config.metrics_port)
        for i, producer in enumerate(self.producers):
            self._spawn(f"agent-producer-{i}", producer.run, self._stop_producers)
        self._spawn("agent-uploader", self.uploader.run, self._stop)

    def _spawn(self, name: str, target: Callable[[threading.Event], None], stop: threading.Event) -> None:
        def run() -> None:
            try:
                target(stop)
            except Exception:
                log.exception("%s failed", name)

        thread = threading.Thread(target=run, name=name, daemon=True)
        thread.start()
        self._threads.append(thread)

    def producers_done(self) -> bool:
        return all(not t.is_alive() for t in self._threads if t.name.startswith("agent-producer"))

    def wait(self, stop: threading.Event | None = None) -> None:
        """Until ``stop()`` (or ``stop`` is set)."""
        while not self._stop.is_set() and not (stop is not None and stop.is_set()):
            time.sleep(0.2)

    def drained(self) -> bool:
        backlog = self.outbox.backlog()
        return backlog.events == 0 and backlog.gaps == 0

    def stop(self, grace_s: float = 0.0, timeout: float = 10.0) -> None:
        """Stop the producers; then, for up to ``grace_s``, let the uploader deliver what is left (it ends as soon
        as the central acknowledged everything); then let it report the final backlog (up to FINAL_STATUS_S) and
        end the call. What is not acknowledged stays in the outbox."""
        self._stop_producers.set()
        for thread in self._threads:
            if thread.name.startswith("agent-producer"):
                thread.join(timeout)
        deadline = time.monotonic() + grace_s
        while grace_s > 0 and time.monotonic() < deadline and not self.drained() and not self._stop.is_set():
            time.sleep(0.05)
        self._stop.set()
        self.uploader.wake()
        if self.uploader.stats.connected:  # a call is open: its final status says what the acks left
            for thread in self._threads:
                if thread.name == "agent-uploader":
                    thread.join(min(timeout, FINAL_STATUS_S))
        self.uploader.interrupt()
        for thread in self._threads:
            thread.join(timeout)
        if self._client is not None:
            self._client.close()
        self.outbox.close()
