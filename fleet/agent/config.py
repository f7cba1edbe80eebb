"""The edge agent's configuration: one TOML file read into frozen dataclasses, checked before anything starts.

    device_id = "gate-north"                     # used without credentials; with a token the central takes the
                                                 # caller's identity (and refuses a different device_id)
    metrics_port = 9464                          # optional: Prometheus text on 127.0.0.1 (0: off)
    fields_file = "/etc/edge-ocr/fields.toml"    # optional: the deployment's own field sets (docs/fields.md)

    [central]
    target = "central.example:50051"
    tls = true                                   # ca / cert / key (mTLS) are file paths; token or token_file
    ca = "/etc/edge-ocr/ca.pem"
    token_file = "/etc/edge-ocr/token"           # or token = "..."; neither: the environment's OCR_TOKEN

    [outbox]
    path = "/var/lib/edge-ocr/outbox.db"
    max_bytes = 268435456                        # 0: no bound
    ttl = "7d"                                   # "0": never
    policy = "DROP_OLDEST"                       # or REJECT_NEW

    [upload]                                     # every key optional
    batch_events = 500
    batch_bytes = 1048576
    window = 4                                   # batches in flight on one call
    ack_timeout = "30s"
    backoff_initial = "0.5s"
    backoff_max = "30s"
    status_every = "10s"                         # a status-only report when there is nothing to send
    linger = "0.2s"                              # the first event after a pause waits this long for others
    grace = "10s"                                # on SIGTERM: producers stop, what the central acknowledges
                                                 # within this long leaves the outbox, then exit

    [engine]                                     # EngineConfig fields (bundle, backend, precision, threads, ...)
    backend = "openvino"

    [[cameras]]
    stream_id = "gate-1"
    source = "rtsp://cam-1/stream"               # file, URL or device index, as `python -m edge_runtime stream`
    realtime = false                             # a file played at its frame rate, like a camera
    [cameras.settings]                           # StreamSettings fields
    text_patterns = ["[A-Z]{2}[0-9]{2} ?[A-Z]{3}"]
    fields = ["shipping"]                        # key fields on each event: receipt, invoice or fields_file sets

    [[replay]]                                   # events from a JSON-lines file instead of a camera
    path = "events.jsonl"
    stream_id = "gate-1"                         # for lines without their own stream_id
    rate = 50.0                                  # events/s; 0: as fast as the outbox takes them

Durations are numbers of seconds or strings with a unit (fleet.duration). Unknown keys are refused, so a typo
does not silently fall back to a default.
"""

from __future__ import annotations

import dataclasses
import os
import re
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from edge_runtime.config import EngineConfig
from edge_runtime.errors import ConfigurationError
from edge_runtime.stream.flow import FlowMode
from edge_runtime.stream.settings import StreamSettings
from fleet.agent.outbox import POLICIES
from fleet.duration import parse_duration

if TYPE_CHECKING:
    from edge_runtime.fields import FieldSet

__all__ = [
    "AgentConfig",
    "CentralConfig",
    "OutboxConfig",
    "UploadConfig",
    "CameraConfig",
    "ReplayConfig",
    "load_config",
    "config_of",
]


@dataclass(frozen=True)
class CentralConfig:
    """Where the agent reports and with which credentials (the same as ``FleetClient``'s)."""

    target: str = "localhost:50051"
    tls: bool = False
    ca: str = ""
    cert: str = ""
    key: str = ""
    token: str = ""
    token_file: str = ""
    server_name: str = ""

    def bearer(self) -> str | None:
        """token_file (read at each connect, so a rotated token is picked up), else token, else ``OCR_TOKEN``."""
        if self.token_file:
            return Path(self.token_file).read_text(encoding="utf-8").strip()
        return self.token or os.environ.get("OCR_TOKEN") or None


@dataclass(frozen=True)
class OutboxConfig:
    path: str = "outbox.db"
    max_bytes: int = 256 << 20
    ttl_s: float = 7 * 86400.0
    policy: str = "DROP_OLDEST"
    synchronous: str = "FULL"


@dataclass(frozen=True)
class UploadConfig:
    batch_events: int = 500
    batch_bytes: int = 1 << 20
    window: int = 4
    ack_timeout_s: float = 30.0
    backoff_initial_s: float = 0.5
    backoff_max_s: float = 30.0
    status_every_s: float = 10.0
    linger_s: float = 0.2  # after an idle spell, how long the first new event waits for company
    grace_s: float = 10.0


@dataclass(frozen=True)
class CameraConfig:
    stream_id: str
    source: str
    realtime: bool = False
    max_frames: int | None = None
    settings: StreamSettings = field(default_factory=StreamSettings)


@dataclass(frozen=True)
class ReplayConfig:
    path: str
    stream_id: str = ""
    rate: float = 0.0
    resume: bool = True  # skip the lines whose events the outbox already committed (after a restart)


@dataclass(frozen=True)
class AgentConfig:
    device_id: str = ""
    central: CentralConfig = field(default_factory=CentralConfig)
    outbox: OutboxConfig = field(default_factory=OutboxConfig)
    upload: UploadConfig = field(default_factory=UploadConfig)
    engine: EngineConfig = field(default_factory=EngineConfig)
    cameras: tuple[CameraConfig, ...] = ()
    replay: tuple[ReplayConfig, ...] = ()
    metrics_port: int = 0
    metrics_host: str = "127.0.0.1"
    fields_file: str = ""
    field_sets: Mapping[str, FieldSet] = field(default_factory=dict, compare=False, repr=False)  # of fields_file

    def __post_init__(self) -> None:
        streams = [c.stream_id for c in self.cameras]
        if len(set(streams)) != len(streams):
            raise ConfigurationError("two cameras have the same stream_id")
        if not self.cameras and not self.replay:
            raise ConfigurationError("the agent has no [[cameras]] and no [[replay]]: nothing to report")
        if self.outbox.policy not in POLICIES:
            raise ConfigurationError(f"outbox policy must be one of {', '.join(POLICIES)}")
        u = self.upload
        if (
            min(u.batch_events, u.batch_bytes, u.window) < 1
            or min(u.ack_timeout_s, u.backoff_initial_s) <= 0
            or u.backoff_max_s < u.backoff_initial_s
            or u.status_every_s <= 0
            or u.grace_s < 0
            or u.linger_s < 0
        ):
            raise ConfigurationError(
                "upload settings out of range (sizes >= 1, times > 0, backoff_max >= backoff_initial)"
            )
        if self.outbox.max_bytes < 0 or self.outbox.ttl_s < 0:
            raise ConfigurationError("outbox max_bytes and ttl must not be negative")


def load_config(path: str | Path) -> AgentConfig:
    """The agent's configuration from a TOML file; raises ConfigurationError (INVALID_CONFIGURATION)."""
    try:
        data = tomllib.loads(Path(path).read_text(encoding="utf-8"))
    except OSError as exc:
        raise ConfigurationError(f"cannot read agent config {path}: {exc.strerror or exc}") from None
    except tomllib.TOMLDecodeError as exc:
        raise ConfigurationError(f"agent config {path} is not valid TOML: {exc}") from None
    return config_of(data)


_DURATIONS = {
    "ttl": "ttl_s",
    "ack_timeout": "ack_timeout_s",
    "backoff_initial": "backoff_initial_s",
    "backoff_max": "backoff_max_s",
    "status_every": "status_every_s",
    "grace": "grace_s",
    "linger": "linger_s",
}


def config_of(data: Mapping[str, Any]) -> AgentConfig:
    """An AgentConfig from the TOML file's table (also what tests build configs from)."""
    data = dict(data)
    top = _take(data, ("device_id", "metrics_port", "metrics_host", "fields_file"), "top level")
    central = _section(CentralConfig, data.pop("central", {}), "central")
    outbox = _section(OutboxConfig, data.pop("outbox", {}), "outbox")
    upload = _section(UploadConfig, data.pop("upload", {}), "upload")
    engine = _section(EngineConfig, data.pop("engine", {}), "engine")
    cameras = tuple(_camera(c, i) for i, c in enumerate(_tables(data.pop("cameras", []), "cameras")))
    replay = tuple(
        _section(ReplayConfig, r, f"replay[{i}]") for i, r in enumerate(_tables(data.pop("replay", []), "replay"))
    )
    if data:
        raise ConfigurationError(f"agent config: unknown section(s) {', '.join(sorted(data))}")
    _check_central(central)  # found now, not at the first connect hours later
    field_sets = _field_sets(str(top.get("fields_file", "")), cameras)
    try:
        return AgentConfig(
            central=central,
            outbox=outbox,
            upload=upload,
            engine=engine,
            cameras=cameras,
            replay=replay,
            field_sets=field_sets,
            **top,
        )
    except (TypeError, ValueError) as exc:  # a number given as text, say
        raise ConfigurationError(f"agent config: {exc}") from None


def _field_sets(fields_file: str, cameras: tuple[CameraConfig, ...]) -> Mapping[str, FieldSet]:
    """The fields file's sets (its own one-line-per-mistake refusal), and every camera's set names checked against
    them, so a typo fails at start, not in a camera's thread."""
    from edge_runtime.fields import load_fields_file
    from edge_runtime.stream.fields import check_stream_sets

    sets = load_fields_file(fields_file) if fields_file else {}
    for index, camera in enumerate(cameras):
        try:
            check_stream_sets(camera.settings.fields, sets)
        except ConfigurationError as exc:
            where = f"agent config [cameras[{index}].settings] fields"
            raise ConfigurationError(f"{where}: {exc.message}", exc.reason) from None
    return sets


def _check_central(central: CentralConfig) -> None:
    """The central's target and credential files, as the first connect would find them (hours later)."""
    if central.token_file and not Path(central.token_file).is_file():
        raise ConfigurationError(f"agent config [central] token_file: no file {central.token_file}")
    if not _TARGET.fullmatch(central.target):
        raise ConfigurationError(
            f"agent config [central] target {central.target!r} is not host:port (nor a gRPC target such as "
            "dns:///host:port, unix:/path)",
            "CENTRAL_TARGET_INVALID",
        )
    if bool(central.cert) != bool(central.key):
        raise ConfigurationError("agent config [central]: cert and key go together (mutual TLS)", "TLS_CONFIG_INVALID")
    for name in ("ca", "cert", "key"):
        value = getattr(central, name)
        if not value:
            continue
        try:
            pem = Path(value).read_bytes()
        except OSError as exc:
            raise ConfigurationError(
                f"agent config [central] {name}: {value}: {exc.strerror or exc}", "TLS_CONFIG_INVALID"
            ) from None
        if b"-----BEGIN" not in pem:
            raise ConfigurationError(f"agent config [central] {name}: {value} is not PEM", "TLS_CONFIG_INVALID")


# host[:port] (a name, IPv4 or [IPv6]; gRPC's default port 443) or a target with one of gRPC's URI schemes
_TARGET = re.compile(
    r"(?:[A-Za-z0-9_.-]+|\[[0-9A-Fa-f:.]+\])(?::\d{1,5})?|(?:dns|ipv4|ipv6|unix|unix-abstract|vsock):\S+"
)


def _camera(table: Mapping[str, Any], index: int) -> CameraConfig:
    table = dict(table)
    raw = dict(table.pop("settings", {}))
    if "mode" not in raw:  # as `python -m edge_runtime stream`: a camera keeps only the newest frame
        live = table.get("realtime", False) or not Path(str(table.get("source", ""))).is_file()
        raw["mode"] = FlowMode.LATEST_ONLY if live else FlowMode.ALL
    settings = _section(StreamSettings, raw, f"cameras[{index}].settings")
    camera = _section(CameraConfig, table, f"cameras[{index}]", settings=settings)
    if not camera.stream_id:
        raise ConfigurationError(f"cameras[{index}] needs a stream_id")
    return camera


def _tables(value: Any, name: str) -> list[Mapping[str, Any]]:
    if not isinstance(value, list) or not all(isinstance(v, dict) for v in value):
        raise ConfigurationError(f"agent config: [[{name}]] must be an array of tables")
    return value


def _take(data: dict[str, Any], names: tuple[str, ...], where: str) -> dict[str, Any]:
    return {name: data.pop(name) for name in names if name in data}


def _section(cls: type, table: Any, where: str, **extra: Any) -> Any:
    if not isinstance(table, dict):
        raise ConfigurationError(f"agent config: [{where}] must be a table")
    values = dict(table)
    for key, name in _DURATIONS.items():
        if key in values:
            try:
                values[name] = parse_duration(values.pop(key))
            except ValueError as exc:
                raise ConfigurationError(f"agent config [{where}] {key}: {exc}") from None
    known = {f.name for f in dataclasses.fields(cls)}
    unknown = sorted(set(values) - known)
    if unknown:
        raise ConfigurationError(f"agent config [{where}]: unknown key(s) {', '.join(unknown)}")
    if cls is StreamSettings:
        for name in ("text_patterns", "text_checks", "fields"):
            if isinstance(values.get(name), list):
                values[name] = tuple(values[name])
    try:
        return cls(**values, **extra)
    except ConfigurationError as exc:
        raise ConfigurationError(f"agent config [{where}]: {exc.message}") from None
    except (TypeError, ValueError) as exc:
        raise ConfigurationError(f"agent config [{where}]: {exc}") from None
