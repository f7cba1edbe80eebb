"""The edge agent against a real central process on loopback: `python -m fleet agent` with a camera clip read by the
real models, replayed events delivered exactly once with the device's status, an event the central's rules refuse
never committed (and one committed without that check quarantined) while the stream goes on, SIGTERM delivering
what is left within the grace period, the metrics it serves; its configuration file and its refusals."""

from __future__ import annotations

import json
import signal
import tomllib
import urllib.request
from dataclasses import replace
from pathlib import Path

import pytest

from clients.ocr_client.fleet import FleetClient
from clients.ocr_client.fleet_types import Event
from edge_runtime.errors import ConfigurationError
from edge_runtime.stream.flow import FlowMode
from fleet.agent.agent import Agent
from fleet.agent.cli import main as agent_main
from fleet.agent.config import config_of, load_config
from fleet.agent.metrics import serve_metrics
from fleet.agent.outbox import Outbox
from fleet.agent.producers import Admission, replay_line
from tests.fleet.processes import (
    AgentProcess,
    Central,
    check_exactly_once,
    check_texts,
    stored_events,
    text_of,
    wait_until,
    write_config,
    write_replay,
)
from tests.fleet.proxy import FaultProxy
from tests.stream import stream_videos


@pytest.fixture(scope="module")
def central(tmp_path_factory: pytest.TempPathFactory) -> Central:
    server = Central(f"sqlite:///{tmp_path_factory.mktemp('central') / 'fleet.db'}").start()
    yield server
    server.stop()


def drained(outbox: Path, total: int | None = None):
    def check() -> bool:
        box = Outbox(outbox)
        try:
            backlog, last = box.backlog(), box.last_sequences()
        finally:
            box.close()
        return backlog.events == 0 and backlog.gaps == 0 and (total is None or sum(last.values()) == total)

    return check


def backlog_of(path: Path, what: str = "backlog"):
    """The outbox's backlog (or another reading) from beside the agent that writes it."""
    box = Outbox(path)
    try:
        return getattr(box, what)()
    finally:
        box.close()


def device(target: str, device_id: str):
    with FleetClient(target) as client:
        return next(d for d in client.list_devices(page_size=1000).items if d.device_id == device_id)


# ---- configuration ------------------------------------------------------------------------------------------
EXAMPLE = """
device_id = "gate-north"
metrics_port = 0
[central]
target = "central:50051"
tls = true
token = "t0k"
[outbox]
path = "/var/lib/edge-ocr/outbox.db"
max_bytes = 1048576
ttl = "2d"
policy = "REJECT_NEW"
[upload]
batch_events = 100
ack_timeout = "5s"
linger = "0.05s"
backoff_max = 60
[engine]
backend = "onnxruntime"
precision = "fp32"
[[cameras]]
stream_id = "gate-1"
source = "rtsp://cam-1/stream"
[cameras.settings]
text_patterns = ["[A-Z]{2}[0-9]{2} ?[A-Z]{3}"]
stable_after = 8
[[replay]]
path = "events.jsonl"
stream_id = "yard"
rate = 20
"""


def test_configuration_file_reads_into_typed_settings(tmp_path: Path) -> None:
    path = tmp_path / "agent.toml"
    path.write_text(EXAMPLE, encoding="utf-8")
    config = load_config(path)
    assert config.device_id == "gate-north" and config.central.tls and config.central.bearer() == "t0k"
    assert (config.outbox.max_bytes, config.outbox.ttl_s, config.outbox.policy) == (1 << 20, 172800.0, "REJECT_NEW")
    assert (config.upload.batch_events, config.upload.ack_timeout_s, config.upload.backoff_max_s) == (100, 5.0, 60.0)
    assert config.upload.window == 4 and config.upload.linger_s == 0.05  # 4: the default where the file is silent
    assert (config.engine.backend, config.engine.precision) == ("onnxruntime", "fp32")
    (camera,) = config.cameras
    assert camera.settings.text_patterns == ("[A-Z]{2}[0-9]{2} ?[A-Z]{3}",) and camera.settings.stable_after == 8
    assert camera.settings.mode is FlowMode.LATEST_ONLY  # a live camera keeps only the newest frame
    assert config.replay[0].rate == 20.0 and config.replay[0].stream_id == "yard"


def test_the_readmes_agent_file_is_a_valid_configuration() -> None:
    """The example in docs/fleet.md's "Fleet: the edge agent" reads as it stands (its credential files aside)."""
    readme = (Path(__file__).resolve().parents[2] / "docs" / "fleet.md").read_text(encoding="utf-8")
    part = readme.split("## Fleet: the edge agent", 1)[1]
    block = part.split("```toml\n", 1)[1].split("```", 1)[0]
    data = tomllib.loads(block)
    assert {"ca", "token_file"} <= set(data["central"])
    data["central"] = {k: v for k, v in data["central"].items() if k not in ("ca", "token_file")}
    config = config_of(data)
    assert config.cameras[0].settings.text_patterns and config.replay[0].rate == 50.0
    assert (config.upload.grace_s, config.upload.status_every_s, config.metrics_port) == (10.0, 10.0, 9464)


@pytest.mark.parametrize(
    "change",
    [
        {"outbox": {"policy": "KEEP_ALL"}},
        {"outbox": {"max_bytes": -1}},
        {"outbox": {"ttl": "soon"}},
        {"upload": {"batch_size": 10}},  # a typo is refused, not ignored
        {"upload": {"window": 0}},
        {"cameras": [{"stream_id": "", "source": "0"}]},
        {"cameras": [{"stream_id": "a", "source": "0", "settings": {"min_hits": 0}}]},
        {"engine": {"backend": "tpu"}},
        {"cameras": [], "replay": []},
        {"surprise": {}},
        {"central": {"token_file": "/nonexistent/token"}},
        {"upload": {"grace": "-1s"}},
        {"upload": {"linger": -0.1}},
    ],
)
def test_bad_configuration_is_refused_with_a_reason(change: dict) -> None:
    base = {"device_id": "d", "replay": [{"path": "x.jsonl"}]}
    with pytest.raises(ConfigurationError) as caught:
        config_of({**base, **change})
    assert caught.value.reason == "INVALID_CONFIGURATION"


def test_the_token_comes_from_the_file_the_setting_or_the_environment(tmp_path: Path, monkeypatch) -> None:
    monkeypatch.setenv("OCR_TOKEN", "from-env")
    base = {"device_id": "d", "replay": [{"path": "x.jsonl"}]}
    assert config_of(base).central.bearer() == "from-env"
    assert config_of({**base, "central": {"token": "inline"}}).central.bearer() == "inline"
    (tmp_path / "token").write_text("from-file\n")
    assert config_of({**base, "central": {"token_file": str(tmp_path / "token")}}).central.bearer() == "from-file"


def test_agent_command_refuses_a_bad_configuration_in_one_line(tmp_path: Path, capsys) -> None:
    assert agent_main(["--config", str(tmp_path / "missing.toml")]) == 2
    err = capsys.readouterr().err.strip()
    assert err.endswith("[INVALID_CONFIGURATION]") and "\n" not in err


def test_replay_reads_fleet_lines_and_the_stream_commands_output() -> None:
    fleet_line = json.dumps(
        {
            "stream_id": "gate-2",
            "type": "APPEARED",
            "track_id": 7,
            "text": "KX71 ABC",
            "confidence": 0.93,
            "capture_time": 1700000000.5,
            "polygon": [[1, 2], [3, 4]],
        }
    )
    event = replay_line(fleet_line, "default")
    assert (event.stream_id, event.type, event.text, event.capture_time) == (
        "gate-2",
        "APPEARED",
        "KX71 ABC",
        1700000000.5,
    )
    stream_line = json.dumps(
        {
            "event": "STABLE",
            "track_id": 3,
            "text": "PHARMACY",
            "confidence": 0.99,
            "polygon": [[0, 0], [9, 0], [9, 3], [0, 3]],
            "sequence": 41,
            "capture_time": 1700000001.0,
            "candidates": [],
            "final": False,
        }
    )
    event = replay_line(stream_line, "cam-1")
    assert (event.stream_id, event.type, event.frame_sequence, event.polygon[2]) == ("cam-1", "STABLE", 41, (9.0, 3.0))
    assert replay_line('{"frame": 3, "lines": []}', "cam-1") is None and replay_line("  ", "cam-1") is None


# ---- against a central ----------------------------------------------------------------------------------------
def test_agent_process_delivers_every_replayed_event_once_with_its_status(central: Central, tmp_path: Path) -> None:
    replay = write_replay(tmp_path / "events.jsonl", ["gate-1", "gate-2", "gate-3"], 400)
    config = write_config(
        tmp_path / "agent.toml", "agent-replay", central.target, tmp_path / "outbox.db", [(replay, 0)], batch_events=150
    )
    agent = AgentProcess(config).start()
    try:
        wait_until(drained(tmp_path / "outbox.db", 1200), 90, "the outbox to drain")
        tally = check_exactly_once(central.target, "agent-replay", tmp_path / "outbox.db")
        check_texts(central.target, "agent-replay")
        assert (tally.committed, tally.stored, tally.dropped) == (1200, 1200, {})
        # the status reported with the last batches (the agent also reports it every second when idle)
        wait_until(lambda: device(central.target, "agent-replay").status.backlog_events == 0, 10, "a status")
        seen = device(central.target, "agent-replay")
        assert seen.status.software_version and seen.events == 1200
        assert sorted((s.stream_id, s.acked_sequence) for s in seen.streams) == [
            ("gate-1", 400),
            ("gate-2", 400),
            ("gate-3", 400),
        ]
    finally:
        code = agent.stop()
    assert code == 0, agent.tail()


def test_an_event_the_central_would_refuse_is_never_committed(central: Central, tmp_path: Path) -> None:
    """Checked with the central's own rules before the commit: the bad line gets no sequence, the stream's
    sequences stay gap-free, and after a restart the replay resumes at the right line (the bad one skipped again,
    not counted against what was committed)."""
    replay = write_replay(tmp_path / "events.jsonl", ["dock"], 120)
    lines = replay.read_text().splitlines()
    bad = json.loads(lines[49])
    bad["confidence"] = 1.5  # the contract says 0..1: the central would refuse the whole batch carrying it
    lines[49] = json.dumps(bad)
    replay.write_text("\n".join(lines) + "\n")
    settings = {
        "device_id": "agent-invalid",
        "central": {"target": central.target},
        "outbox": {"path": str(tmp_path / "outbox.db"), "ttl": "0"},
        "upload": {"batch_events": 40, "backoff_initial": "0.05s", "backoff_max": "0.5s"},
        "replay": [{"path": str(replay)}],
    }
    first = Agent(config_of({**settings, "replay": [{"path": str(replay), "rate": 200.0}]}))
    first.start()
    wait_until(lambda: first.outbox.last_sequences().get("dock", 0) >= 70, 30, "the replay past the bad line")
    first.stop()
    assert first.admission.invalid == {"EVENT_INVALID": 1}
    agent = Agent(config_of(settings))  # a restart: the replay resumes after its last commit
    agent.start()
    try:
        wait_until(lambda: agent.producers_done() and agent.drained(), 60, "the outbox to drain")
        assert agent.outbox.last_sequences() == {"dock": 119} and agent.outbox.quarantined() == []
        assert agent.admission.invalid == {} and agent.uploader.stats.failures == 0  # nothing refused by the central
    finally:
        agent.stop()
    tally = check_exactly_once(central.target, "agent-invalid", tmp_path / "outbox.db")
    assert (tally.committed, tally.stored, tally.dropped) == (119, 119, {})
    texts = [s.event.text for s in stored_events(central.target, "agent-invalid")]
    assert texts == [text_of("dock", n) for n in range(1, 121) if n != 50]  # each line once, in order


def test_admission_uses_the_centrals_rules() -> None:
    good = Event("", 0, 1_700_000_000.0, "STABLE", 1, "KX71 ABC", 0.9, ((0, 0), (9, 0), (9, 3), (0, 3)), 640, 360)
    bad = [
        replace(good, **change)
        for change in (
            {"confidence": float("nan")},
            {"type": "SEEN"},
            {"text": "A\x00B"},
            {"text": "X" * 1025},
            {"polygon": tuple((float(i), 0.0) for i in range(17))},
            {"capture_time": float("inf")},
        )
    ]
    admission = Admission()
    assert admission.admit("gate", [good, *bad, good]) == [good, good]
    assert admission.invalid == {"EVENT_INVALID": len(bad)}
    assert admission.admit("", [good]) == [] and admission.admit("g" * 129, [good]) == []  # stream ids too


def test_an_event_committed_without_the_check_is_quarantined_and_the_stream_goes_on(
    central: Central, tmp_path: Path
) -> None:
    """An outbox written before the check (an older agent): the central refuses the batch carrying the event, the
    uploader finds it alone, the outbox quarantines it and declares it a REFUSED gap; the rest is delivered."""
    box = Outbox(tmp_path / "outbox.db")
    events = [
        Event(
            "",
            0,
            1_700_000_000.0 + n,
            "STABLE",
            n,
            text_of("dock", n),
            1.5 if n == 50 else 0.9,
            ((0, 0), (9, 0), (9, 3), (0, 3)),
            640,
            360,
        )
        for n in range(1, 121)
    ]
    box.append("dock", events)
    box.close()
    (tmp_path / "none.jsonl").write_text("")
    config = config_of(
        {
            "device_id": "agent-refused",
            "central": {"target": central.target},
            "outbox": {"path": str(tmp_path / "outbox.db"), "ttl": "0"},
            "upload": {"batch_events": 40, "backoff_initial": "0.05s", "backoff_max": "0.5s"},
            "replay": [{"path": str(tmp_path / "none.jsonl")}],
        }
    )
    agent = Agent(config)
    agent.start()
    try:
        wait_until(agent.drained, 60, "the outbox to drain past the refused event")
        ((event, refusal, _),) = agent.outbox.quarantined()
        assert (event.sequence, event.confidence, refusal) == (50, 1.5, "EVENT_INVALID")
        assert agent.uploader.stats.quarantined == 1 and agent.outbox.backlog().drops["REFUSED"] == 1
        wait_until(
            lambda: device(central.target, "agent-refused").status.drops.get("REFUSED") == 1,
            10,
            "the status that counts the refusal",
        )  # sent once the outbox is empty
    finally:
        agent.stop()
    tally = check_exactly_once(central.target, "agent-refused", tmp_path / "outbox.db")
    assert (tally.committed, tally.stored, tally.dropped) == (120, 119, {"REFUSED": 1})
    seen = device(central.target, "agent-refused")
    assert seen.status.drops.get("REFUSED") == 1 and seen.streams[0].acked_sequence == 120


def test_sigterm_delivers_what_is_left_within_the_grace_period(central: Central, tmp_path: Path) -> None:
    """The central unreachable while events pile up; it comes back as the agent is told to stop: the producers
    stop at once, the backlog is delivered within the grace period, exit 0 with an empty outbox."""
    proxy = FaultProxy(("127.0.0.1", central.port))
    proxy.set_mode("drop")
    replay = write_replay(tmp_path / "events.jsonl", ["exit-1", "exit-2"], 2000)
    config = write_config(
        tmp_path / "agent.toml",
        "agent-sigterm",
        f"127.0.0.1:{proxy.port}",
        tmp_path / "outbox.db",
        [(replay, 400.0)],
        backoff_max="0.3s",
    )
    config.write_text(config.read_text().replace("[upload]\n", '[upload]\ngrace = "30s"\n'))
    agent = AgentProcess(config).start()
    try:
        wait_until(lambda: backlog_of(tmp_path / "outbox.db").events >= 200, 30, "a backlog")
        proxy.set_mode("pass")
        agent.process.send_signal(signal.SIGTERM)
        assert agent.process.wait(60) == 0, agent.tail()
    finally:
        agent.stop()
        proxy.close()
    backlog = backlog_of(tmp_path / "outbox.db")
    committed = sum(backlog_of(tmp_path / "outbox.db", "last_sequences").values())
    assert backlog.events == 0 and backlog.gaps == 0
    assert 200 <= committed < 4000  # the replay was stopped, not finished
    tally = check_exactly_once(central.target, "agent-sigterm", tmp_path / "outbox.db")
    assert (tally.committed, tally.stored, tally.dropped) == (committed, committed, {})


def test_agent_metrics_name_what_the_alerts_watch(central: Central, tmp_path: Path) -> None:
    replay = write_replay(tmp_path / "events.jsonl", ["lane"], 30)
    config = config_of(
        {
            "device_id": "agent-metrics",
            "central": {"target": "127.0.0.1:1"},  # nobody there: everything waits in the outbox
            "outbox": {"path": str(tmp_path / "outbox.db")},
            "upload": {"backoff_initial": "0.05s", "backoff_max": "0.2s"},
            "replay": [{"path": str(replay)}],
        }
    )
    agent = Agent(config)
    agent.start()
    port = serve_metrics(agent, "127.0.0.1", 0)  # what metrics_port = N does, on a free port
    try:
        wait_until(
            lambda: agent.outbox.backlog().events == 30 and agent.uploader.stats.failures >= 2,
            30,
            "the replay to be buffered while the central is unreachable",
        )
        text = urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=10).read().decode()
    finally:
        agent.stop()
    values = {
        line.split(" ")[0]: float(line.split(" ")[1]) for line in text.splitlines() if line and not line.startswith("#")
    }
    assert values["ocr_outbox_pending_items"] == 30 and values["ocr_outbox_oldest_age_seconds"] > 0
    assert values['ocr_outbox_dropped_events_total{reason="OUTBOX_FULL"}'] == 0
    assert values["ocr_agent_connected"] == 0 and any(k.startswith("ocr_agent_upload_failures_total") for k in values)
    assert values['ocr_agent_events_acked_total{result="stored"}'] == 0 and values["ocr_agent_events_sent_total"] == 0


def test_camera_events_read_by_the_real_models_reach_the_central(central: Central, tmp_path: Path) -> None:
    scene = stream_videos.static_sign()
    clip = stream_videos.write_video(scene, tmp_path / "static.avi")
    config = tmp_path / "agent.toml"
    config.write_text(
        f'device_id = "agent-camera"\n[central]\ntarget = "{central.target}"\n'
        f'[outbox]\npath = "{tmp_path / "outbox.db"}"\n'
        '[engine]\ndet_limit_type = "max"\ndet_limit_side_len = 960\nprecision = "fp32"\n'
        f'[[cameras]]\nstream_id = "door"\nsource = "{clip}"\n',
        encoding="utf-8",
    )
    agent = AgentProcess(config, "--exit-when-done")
    agent.start()
    assert agent.process.wait(180) == 0, agent.tail()
    found = stored_events(central.target, "agent-camera")
    texts = {s.event.text for s in found if s.event.type == "APPEARED"}
    assert texts == scene.texts
    assert {s.event.type for s in found} >= {"APPEARED", "STABLE", "DISAPPEARED"}
    first = found[0].event
    assert first.stream_id == "door" and (first.frame_width, first.frame_height) == (640, 360)
    assert first.bundle and first.precision and len(first.polygon) == 4
    assert [s.event.sequence for s in found] == list(range(1, len(found) + 1))
    assert device(central.target, "agent-camera").status.bundle == first.bundle
