"""Server configuration: one frozen dataclass filled from flags and ``OCR_*`` environment variables."""

from __future__ import annotations

import ipaddress
import re
from dataclasses import dataclass
from functools import cached_property
from typing import TYPE_CHECKING

from edge_runtime.errors import ConfigurationError
from server.scopes import SCOPES  # the one table of scope names

if TYPE_CHECKING:
    from edge_runtime.fields import FieldSet

__all__ = ["ServerConfig", "REDACT_KINDS", "LOG_FORMATS", "ROLES", "is_loopback"]

REDACT_KINDS = ("email", "phone", "card")
LOG_FORMATS = ("text", "json")
ROLES = ("ocr", "central", "all")
DEFAULT_FLEET_STORE = "sqlite:///fleet.db"
DEFAULT_HTTP_PORT = 8080  # `python -m server`'s HTTP port when neither --http-port nor OCR_HTTP_PORT says
LOOPBACK_HOST = "localhost"  # where a server without credentials listens when no host is given


def is_loopback(host: str) -> bool:
    """True for addresses only this machine can reach (127.0.0.0/8, ::1, localhost)."""
    host = host.strip().removeprefix("[").removesuffix("]")
    if host.lower() == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


@dataclass(frozen=True)
class ServerConfig:
    """Transport, scheduling and security knobs. Engine knobs (bundle, backend, precision, threads, image limits)
    live in ``edge_runtime.config.EngineConfig``; both read ``OCR_<FIELD>`` variables."""

    host: str = ""  # "": [::] when credentials are configured, else localhost only (see bind_host)
    port: int = 50051  # 0: any free port (the bound one is logged)
    max_message_bytes: int = 64 * 1024 * 1024  # largest request (and response) message; a larger request is
    # refused RESOURCE_EXHAUSTED / MESSAGE_TOO_LARGE (server.validation)
    max_concurrent_rpcs: int = 64  # OcrService RPCs at once; more are refused with RESOURCE_EXHAUSTED/OVERLOADED
    max_batch_images: int = 64  # images in one BatchRecognize
    max_document_bytes: int = 100 * 1024 * 1024  # largest file RecognizeDocument accepts (held in memory while read)
    max_document_pages: int = 2000  # pages read from one document; the selected pages past it are refused one by one
    batch_max_delay_ms: float = 3.0  # longest wait of a text line for others to share its recognizer batch
    batch_max_size: int = 0  # text lines per recognizer batch; 0: the engine's rec_batch_size
    inference_threads: int = 1  # threads that run models (each model run uses the engine's intra-op threads)
    decode_threads: int = 2  # threads that decode images and prepare crops
    grace_s: float = 30.0  # on SIGTERM: how long in-flight calls may take to finish
    log_level: str = "INFO"

    # ---- transport security -------------------------------------------------------------------------
    tls_cert: str = ""  # PEM server certificate (chain); with tls_key turns TLS on
    tls_key: str = ""  # PEM private key of tls_cert
    tls_client_ca: str = ""  # PEM CA bundle: clients must present a certificate it signed (mutual TLS)
    tokens_file: str = ""  # JSON or TOML file of sha256-hashed bearer tokens (server.security.tokens)
    insecure: bool = False  # allow a non-loopback address without any credentials (anyone may call)
    cert_scopes: str = "ocr.recognize,ocr.stream"  # scopes of a verified client cert not named in tokens_file
    open_reflection: bool = False  # server reflection without credentials (it is always allowed with any)
    open_server_info: bool = False  # GetServerInfo without credentials (else it needs ocr.recognize)

    # ---- limits per principal (a principal's own come from the tokens file) --------------------------
    calls_per_s: float = 50.0  # sustained calls per second; 0: no limit
    calls_burst: float = 100.0  # calls that may come at once after a quiet spell
    pixels_per_s: float = 50_000_000.0  # image pixels per second (header size); 0: no limit
    pixels_burst_s: float = 2.0  # the pixel bucket holds this many seconds of pixels_per_s
    max_streams: int = 4  # long-lived streams open at once (StreamRecognize, WatchEvents); 0: no limit

    # ---- audit and privacy ----------------------------------------------------------------------------
    audit_log: str = ""  # "": off; "-": stdout; else a file, appended to, rotated by size
    audit_max_bytes: int = 16 * 1024 * 1024  # rotate the audit file past this size
    audit_keep: int = 5  # rotated audit files kept (audit.log.1 ... .N)
    audit_text: bool = False  # also log the recognized text (after redaction)
    redact: str = ""  # comma list of email, phone, card: masked in every response and stream event
    redact_patterns: str = ""  # more regular expressions to mask, one per line (flag: repeat --redact-pattern)

    # ---- operations: metrics, health, logs, result cache, memory ceiling --------------------------------
    metrics_port: int = 0  # Prometheus /metrics over HTTP on this port; 0: off (metrics are still collected)
    metrics_host: str = "127.0.0.1"  # address of the metrics port ([::] in the container image)
    health_port: int = 0  # plain-text grpc.health.v1 only (for probes when the main port has TLS); 0: off
    health_host: str = "127.0.0.1"  # address of the health port ([::] in the container image)
    # ---- HTTP/JSON beside gRPC (server/http): the same calls, the same security, on a port of their own ---------
    http_port: int = 0  # 0: off here; `python -m server` defaults to 8080 (DEFAULT_HTTP_PORT)
    http_host: str = ""  # "": as bind_host (credentials decide); TLS and client CA are the gRPC port's
    log_format: str = "text"  # "text" or "json" (one JSON object per line, with the call's request_id)
    cache: bool = False  # answer identical Recognize requests from the result cache (on in the container image)
    cache_url: str = ""  # "": in-process LRU; redis://host:port/db: shared by replicas
    cache_max_bytes: int = 64 * 1024 * 1024  # size of the in-process LRU (serialized responses)
    cache_ttl_s: float = 3600.0  # lifetime of an entry in Redis (the LRU keeps entries until evicted)
    max_rss_mb: float = 0.0  # past this resident memory the server drains and exits with status 3; 0: none

    # ---- model runs shared across calls (server.plane, server.batcher) ------------------------------------
    batch_stages: str = "auto"  # comma list of det, cls, rec whose runs concurrent calls share (shape buckets,
    # batch_max_delay_ms); "none"; "auto": det,cls,rec on a GPU, none on a CPU (where a batch of 8 costs 8 runs and
    # overlapping runs go side by side on one-thread streams instead)

    # ---- memory: admission by a byte budget (server.memory_budget, docs/memory.md) ------------------------------
    memory_budget_mb: float = -1.0  # MiB images in progress may hold (decoded, detector run, crops); more wait in
    # order; -1: a quarter of the memory left once the models are loaded, at most 640 MiB, at least one A4 page at
    # 300 dpi (379 MiB with the default models); 0: no budget

    # ---- models: live changes and the background gate (server.models_watch, server.optimizer) ------------------
    model_poll_s: float = 5.0  # look at the served bundle's files this often; a change is loaded, checked and
    # swapped in without a restart (SIGHUP: look now); 0: never
    optimize: bool = True  # with precision auto on a CPU and no gate record for this host's inputs: build and gate
    # INT8/BF16 in the background (nice 19, one thread) and swap them in when published
    optimize_args: str = ""  # more arguments for that python -m quantize, e.g. "--det-pages 4 --rec-crops 64"

    # ---- connections: calls spread over replicas, keepalive through NATs (server.connections, docs/scaling.md) ----
    max_connection_age_s: float = 60.0  # end each connection (GOAWAY) after about this long, so clients resolve
    # again and a replica added under load gets calls within a minute; 0: never
    max_connection_age_grace_s: float = 600.0  # calls in flight on an aged connection get this long to finish:
    # long enough for a large document (RecognizeDocument is a stream, never retried); a longer stream is ended
    # UNAVAILABLE as on a drain (agents and watchers resume; camera streams reconnect)
    keepalive_time_s: float = 60.0  # ping a connection silent this long (NATs and load balancers drop idle ones)
    keepalive_timeout_s: float = 20.0  # close a connection whose ping is not answered within this long
    keepalive_min_ping_s: float = 10.0  # the most often a client may ping without data (the project's clients ping
    # every 20-30 s); more often, twice, and the server answers GOAWAY too_many_pings

    # ---- fleet: the central's FleetService (fleet/, server/fleet_service.py) --------------------------------
    role: str = ""  # ocr (OcrService), central (FleetService only: no models loaded) or all; "": all when
    # fleet_store is set, else ocr
    fleet_store: str = ""  # the central's store: sqlite:///path.db or postgresql://...; "" with a central role:
    # sqlite:///fleet.db in the working directory (the embedded default)
    fleet_retention_s: float = 0.0  # events captured longer ago are deleted (flag: --fleet-retention 30d); 0: never
    fleet_max_report_events: int = 1000  # events + gaps in one ReportEvents request

    # ---- key fields: users' own field sets (edge_runtime.fields.config, docs/fields.md) ----------------------
    fields_file: str = ""  # TOML file of field sets a call may ask for by name; validated at start
    # a call asking for the receipt/invoice set has its header lines read again (two more cuts, a vote) for its
    # fields: +1.8 points field F1 on kie_sroie for ~+40 % of a receipt's time (docs/fields.md); the lines
    # answered are the first reading either way
    fields_reread: bool = True

    @cached_property
    def field_sets(self) -> dict[str, FieldSet]:
        """The fields file's sets (loaded once, at start by ``__post_init__``); empty without a file."""
        if not self.fields_file:
            return {}
        from edge_runtime.fields import load_fields_file

        return load_fields_file(self.fields_file)

    def __post_init__(self) -> None:
        self.field_sets  # noqa: B018 (a fields file with mistakes fails the start, one line per mistake)
        if not 0 <= self.port <= 65535:
            raise ConfigurationError(f"port {self.port} is out of range")
        if (
            min(
                self.max_message_bytes,
                self.max_concurrent_rpcs,
                self.max_batch_images,
                self.max_document_bytes,
                self.max_document_pages,
                self.inference_threads,
                self.decode_threads,
            )
            < 1
            or self.batch_max_size < 0
            or self.batch_max_delay_ms < 0
            or self.model_poll_s < 0
        ):
            raise ConfigurationError("server limits must be positive")
        if bool(self.tls_cert) != bool(self.tls_key):
            raise ConfigurationError("TLS needs both tls_cert and tls_key", "TLS_CONFIG_INVALID")
        if self.tls_client_ca and not self.tls_cert:
            raise ConfigurationError("tls_client_ca (mutual TLS) needs tls_cert and tls_key", "TLS_CONFIG_INVALID")
        if min(self.calls_per_s, self.calls_burst, self.pixels_per_s, self.pixels_burst_s, self.max_streams) < 0 or (
            self.calls_per_s and self.calls_burst < 1
        ):
            raise ConfigurationError("rate limits must not be negative (0: no limit); calls_burst >= 1")
        if not (0 <= self.metrics_port <= 65535 and 0 <= self.health_port <= 65535 and 0 <= self.http_port <= 65535):
            raise ConfigurationError("metrics_port, health_port and http_port must be 0 (off) or a port number")
        if self.log_format not in LOG_FORMATS:
            raise ConfigurationError(f"log_format {self.log_format!r}: choose from {', '.join(LOG_FORMATS)}")
        if self.cache_url and not self.cache_url.startswith(("redis://", "rediss://", "unix://")):
            raise ConfigurationError(f"cache_url {self.cache_url!r}: expected redis://, rediss:// or unix://")
        if self.memory_budget_mb < 0 and self.memory_budget_mb != -1:
            raise ConfigurationError("memory_budget_mb: MiB, 0 (no budget) or -1 (derived from the host's memory)")
        if self.cache_max_bytes < 0 or self.cache_ttl_s <= 0 or self.max_rss_mb < 0:
            raise ConfigurationError("cache_max_bytes and max_rss_mb must not be negative, cache_ttl_s positive")
        if self.audit_max_bytes < 1024 or self.audit_keep < 0:
            raise ConfigurationError("audit_max_bytes must be >= 1024 and audit_keep >= 0")
        unknown = set(self.redact_kinds) - set(REDACT_KINDS)
        if unknown:
            raise ConfigurationError(
                f"redact: unknown kind(s) {', '.join(sorted(unknown))}; choose from {', '.join(REDACT_KINDS)}"
            )
        for pattern in self.redact_pattern_list:
            try:
                re.compile(pattern)
            except re.error as exc:
                raise ConfigurationError(f"redact pattern {pattern!r}: {exc}") from None
        if self.role not in ROLES + ("",):
            raise ConfigurationError(f"role {self.role!r}: choose from {', '.join(ROLES)}")
        if self.fleet_retention_s < 0 or self.fleet_max_report_events < 1:
            raise ConfigurationError("fleet_retention_s must not be negative and fleet_max_report_events >= 1")
        if min(self.max_connection_age_s, self.max_connection_age_grace_s) < 0 or (
            min(self.keepalive_time_s, self.keepalive_timeout_s, self.keepalive_min_ping_s) <= 0
        ):
            raise ConfigurationError(
                "max_connection_age_s and its grace must not be negative (0: no age); keepalive times positive"
            )
        unknown = set(self.cert_scope_list) - set(SCOPES)
        if unknown:
            raise ConfigurationError(f"cert_scopes: unknown scope(s) {', '.join(sorted(unknown))}")

    @property
    def serving_role(self) -> str:
        """ocr, central or all: ``role``, or its default (all with a fleet store, else ocr)."""
        return self.role or ("all" if self.fleet_store else "ocr")

    @property
    def serves_ocr(self) -> bool:
        return self.serving_role in ("ocr", "all")

    @property
    def serves_fleet(self) -> bool:
        return self.serving_role in ("central", "all")

    @property
    def fleet_store_url(self) -> str:
        return self.fleet_store or DEFAULT_FLEET_STORE

    @property
    def tls(self) -> bool:
        return bool(self.tls_cert)

    @property
    def has_credentials(self) -> bool:
        """Whether callers must prove who they are (a tokens file, or client certificates)."""
        return bool(self.tokens_file or self.tls_client_ca)

    @property
    def bind_host(self) -> str:
        """The address to bind: ``host``, or [::] with credentials and localhost without."""
        return self.host or ("[::]" if self.has_credentials else LOOPBACK_HOST)

    @property
    def redact_kinds(self) -> tuple[str, ...]:
        return tuple(k.strip().lower() for k in self.redact.split(",") if k.strip())

    @property
    def redact_pattern_list(self) -> tuple[str, ...]:
        return tuple(p for p in self.redact_patterns.splitlines() if p.strip())

    @property
    def cert_scope_list(self) -> tuple[str, ...]:
        return tuple(s.strip() for s in self.cert_scopes.split(",") if s.strip())

    def batched_stages(self, device: str) -> tuple[str, ...]:
        """The stages whose runs concurrent calls share on ``device`` (``batch_stages``)."""
        value = self.batch_stages.strip().lower()
        if value == "auto":
            return () if device == "cpu" else ("det", "cls", "rec")
        stages = tuple(s.strip() for s in value.split(",") if s.strip() and s.strip() != "none")
        unknown = set(stages) - {"det", "cls", "rec"}
        if unknown:
            raise ConfigurationError(
                f"batch_stages: unknown stage(s) {', '.join(sorted(unknown))}; "
                "choose from det, cls, rec, or none or auto"
            )
        return stages

    @property
    def http_bind_host(self) -> str:
        """The HTTP port's address: ``http_host``, else the gRPC port's (so the same rule binds both)."""
        return self.http_host or self.bind_host

    def check_listen(self) -> None:
        """Refuse, in one clear line, to serve a network address to anyone without credentials."""
        if self.has_credentials or self.insecure:
            return
        for host in (self.bind_host, self.http_bind_host if self.http_port else self.bind_host):
            if not is_loopback(host):
                raise ConfigurationError(
                    f"refusing to listen on {host} without credentials: give --tokens-file or --tls-client-ca, "
                    f"bind --host 127.0.0.1, or pass --insecure (OCR_INSECURE=1) to let anyone call",
                    "INSECURE_LISTEN",
                )
