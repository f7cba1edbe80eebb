"""`python -m fleet` against a real central (`python -m server --role central`, a process on loopback, SQLite):
each command's JSON lines (the proto3 JSON mapping of the fleet.v1 messages) and table, the filters, paging
past one page, watch and its resumption, erasure, and one-line errors with their reasons."""

from __future__ import annotations

import hashlib
import json
import os
import pty
import re
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest
from google.protobuf import json_format

from clients.ocr_client.fleet import FleetClient
from clients.ocr_client.fleet_types import DeviceStatus, Event
from clients.ocr_client.pb import fleet_pb2
from fleet.cli import main
from tests.conftest import REPO

NOW = time.time()
T0 = NOW - 30 * 60  # the plates were seen half an hour ago
OLD = NOW - 3 * 3600  # the yard's filler events: outside --since 1h
YARD_EVENTS = 250  # more than two pages of 100
ENV = {**os.environ, "PYTHONPATH": str(REPO) + os.pathsep + os.environ.get("PYTHONPATH", "")}


def ev(stream: str, sequence: int, at: float, text: str, confidence: float, type_: str = "STABLE") -> Event:
    return Event(
        stream_id=stream,
        sequence=sequence,
        capture_time=at,
        type=type_,
        track_id=100 + sequence,
        text=text,
        confidence=confidence,
        polygon=((10.0, 170.0), (270.0, 170.0), (270.0, 232.0), (10.0, 232.0)),
        frame_width=640,
        frame_height=360,
        bundle="ppocrv6-small",
        backend="openvino",
        precision={"det": "int8", "rec": "fp32"},
    )


SEED = {  # device -> events; one plate (KX71ABC) at three streams of two devices within four minutes
    "gate-north": [
        ev("cam-1", 1, T0, "KX71 ABC", 0.95, "APPEARED"),
        ev("cam-1", 2, T0 + 2, "KX71 ABC", 0.97),
        ev("cam-2", 1, T0 + 60, "KX71-ABC", 0.88),
        ev("cam-2", 2, T0 + 400, "KX7I ABC", 0.41),
    ],
    "gate-south": [ev("cam-3", 1, T0 + 120, "kx71 abc", 0.93), ev("cam-3", 2, T0 + 900, "BM22 XYZ", 0.96)],
    "yard": [ev("cam-9", i, OLD + i, f"CR{i:04d}", 0.9) for i in range(1, YARD_EVENTS + 1)],
}
RECENT = [(d, e) for d, events in SEED.items() for e in events if e.capture_time >= NOW - 3600]


class Central:
    """``python -m server --role central`` on a free loopback port, its log kept."""

    def __init__(self, store_url: str, *extra: str) -> None:
        self.process = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "server",
                "--role",
                "central",
                "--fleet-store",
                store_url,
                "--host",
                "127.0.0.1",
                "--port",
                "0",
                *extra,
            ],
            cwd=REPO,
            env=ENV,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
        )
        assert self.process.stdout is not None
        self.log: list[str] = []
        for line in self.process.stdout:
            self.log.append(line)
            found = re.search(r"ocr server listening on port (\d+)", line)
            if found:
                self.target = f"127.0.0.1:{found.group(1)}"
                threading.Thread(target=lambda: self.log.extend(self.process.stdout), daemon=True).start()
                return
        raise RuntimeError("the central did not start:\n" + "".join(self.log[-40:]))

    def wait_serving(self) -> None:
        """Until FleetService says SERVING (its store open)."""
        with FleetClient(self.target) as client:
            for _ in range(600):
                if client.health() == "SERVING":
                    return
                time.sleep(0.1)
        raise RuntimeError("the central's store did not open:\n" + "".join(self.log[-40:]))

    def stop(self) -> None:
        self.process.terminate()
        try:
            self.process.wait(60)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()


def report(target: str, device: str, events: list[Event], status: DeviceStatus | None = None) -> None:
    with FleetClient(target, timeout=60) as client, client.report_session(device) as session:
        for batch, start in enumerate(range(0, len(events), 100), 1):
            result = session.report(batch, events[start : start + 100], status=status)
            assert result.out_of_order == 0


@pytest.fixture(scope="module")
def central(tmp_path_factory: pytest.TempPathFactory) -> Central:
    server = Central(f"sqlite:///{tmp_path_factory.mktemp('central') / 'fleet.db'}")
    try:
        server.wait_serving()
        for device, events in SEED.items():
            status = (
                DeviceStatus(
                    backlog_events=5,
                    backlog_bytes=2048,
                    drops={"OUTBOX_FULL": 3},
                    bundle="ppocrv6-small",
                    backend="openvino",
                    precision={"det": "int8", "rec": "fp32"},
                    software_version="0.4.0",
                )
                if device == "yard"
                else None
            )
            report(server.target, device, events, status)
        yield server
    finally:
        server.stop()


def run(central: Central, capsys: pytest.CaptureFixture, *argv: str) -> tuple[int, str, str]:
    """The CLI in this process (its calls still cross gRPC to the central process): (exit, stdout, stderr)."""
    try:
        code = main(["--target", central.target, *argv])
    except SystemExit as exit_:  # argparse's usage errors
        code = exit_.code
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def lines(out: str, message) -> list:
    """Each JSON line parsed strictly into ``message`` (unknown fields fail): it is that message's mapping."""
    return [json_format.ParseDict(json.loads(line), message()) for line in out.splitlines()]


def reason(err: str) -> str:
    assert "Traceback" not in err, err
    (line,) = err.strip().splitlines()
    found = re.search(r"\[([A-Z][A-Z0-9_]*)\]$", line)
    assert found, line
    return found.group(1)


def texts(events) -> list[str]:
    return [e.event.text for e in events]


# ---- query ----------------------------------------------------------------------------------------------
def test_query_prints_each_event_as_the_proto3_json_mapping_oldest_first(central, capsys) -> None:
    code, out, err = run(central, capsys, "query", "--since", "1h", "--format", "json")
    assert code == 0, err
    events = lines(out, fleet_pb2.StoredEvent)
    expected = sorted(RECENT, key=lambda r: r[1].capture_time)
    assert [(e.device_id, e.event.stream_id, e.event.sequence) for e in events] == [
        (d, x.stream_id, x.sequence) for d, x in expected
    ]
    first = json.loads(out.splitlines()[0])  # field names as in the .proto, fields without presence printed
    assert first["event"]["type"] == "EVENT_TYPE_APPEARED" and first["normalized_text"] == "KX71ABC"
    assert first["event"]["provenance"]["stage_precision"] == {"det": "int8", "rec": "fp32"}
    assert first["event"]["previous_text"] == "" and first["cursor"]


@pytest.mark.parametrize(
    "argv, expected",
    [
        (["--text", "kx71"], ["KX71 ABC", "KX71 ABC", "KX71-ABC", "kx71 abc"]),  # contains, normalized
        (["--text", "KX71 ABC", "--match", "exact"], ["KX71 ABC", "KX71 ABC", "KX71-ABC", "kx71 abc"]),
        (["--text", "kx7", "--match", "prefix"], ["KX71 ABC", "KX71 ABC", "KX71-ABC", "kx71 abc", "KX7I ABC"]),
        (["--text", "71ab", "--match", "prefix"], []),
        (["--device", "gate-south"], ["kx71 abc", "BM22 XYZ"]),
        (["--stream", "cam-2"], ["KX71-ABC", "KX7I ABC"]),
        (["--type", "appeared"], ["KX71 ABC"]),
        (
            ["--type", "APPEARED", "--type", "STABLE", "--device", "gate-north", "--stream", "cam-1"],
            ["KX71 ABC", "KX71 ABC"],
        ),
        (["--min-confidence", "0.9"], ["KX71 ABC", "KX71 ABC", "kx71 abc", "BM22 XYZ"]),
        # an ISO time, not a duration: a duration counts back from when the test runs, which may be minutes after
        # NOW (the suite's import time) on a busy box
        (
            ["--until", time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(T0 + 600))],
            ["KX71 ABC", "KX71 ABC", "KX71-ABC", "kx71 abc", "KX7I ABC"],
        ),
        (["--newest-first", "--limit", "2"], ["BM22 XYZ", "KX7I ABC"]),
    ],
)
def test_query_filters(central, capsys, argv, expected) -> None:
    since = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(NOW - 3600))  # "1h" as of NOW (see --until above)
    code, out, err = run(central, capsys, "query", "--since", since, *argv)
    assert code == 0, err
    assert texts(lines(out, fleet_pb2.StoredEvent)) == expected


def test_query_iso_times_select_the_same_events_as_durations(central, capsys) -> None:
    start = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(T0 - 1))  # naive ISO: UTC
    end = time.strftime("%Y-%m-%dT%H:%M:%S+00:00", time.gmtime(T0 + 61))
    code, out, err = run(central, capsys, "query", "--since", start, "--until", end)
    assert code == 0, err
    assert texts(lines(out, fleet_pb2.StoredEvent)) == ["KX71 ABC", "KX71 ABC", "KX71-ABC"]


def test_query_pages_past_one_page(central, capsys) -> None:
    code, out, err = run(central, capsys, "query", "--device", "yard", "--limit", "0", "--page-size", "40")
    assert code == 0, err
    events = lines(out, fleet_pb2.StoredEvent)
    assert [e.event.sequence for e in events] == list(range(1, YARD_EVENTS + 1))  # 7 pages, none lost or doubled
    code, out, err = run(central, capsys, "query", "--device", "yard", "--limit", "120", "--page-size", "50")
    assert code == 0 and [e.event.sequence for e in lines(out, fleet_pb2.StoredEvent)] == list(range(1, 121))
    assert "--limit" in err  # says that more were left
    code, out, _ = run(central, capsys, "query", "--device", "yard", "--newest-first", "--limit", "0")
    assert [e.event.sequence for e in lines(out, fleet_pb2.StoredEvent)] == list(range(YARD_EVENTS, 0, -1))


def test_query_table_has_a_header_and_one_aligned_row_per_event(central, capsys) -> None:
    code, out, err = run(central, capsys, "query", "--since", "1h", "--text", "KX71", "--format", "table")
    assert code == 0, err
    header, *rows = out.splitlines()
    assert header.split() == ["CAPTURED", "(UTC)", "DEVICE", "STREAM", "SEQ", "TYPE", "TEXT", "CONF", "TRACK"]
    assert len(rows) == 4
    assert rows[0].split()[2:] == ["gate-north", "cam-1", "1", "APPEARED", "KX71", "ABC", "0.95", "101"]
    stream_at = header.index("STREAM")
    assert [r[stream_at : stream_at + 5] for r in rows] == ["cam-1", "cam-1", "cam-2", "cam-3"]  # columns line up
    assert rows[0][:19] == time.strftime("%Y-%m-%d %H:%M:%S", time.gmtime(T0))


# ---- devices, stats --------------------------------------------------------------------------------------
def test_devices_json_and_table(central, capsys) -> None:
    code, out, err = run(central, capsys, "devices")
    assert code == 0, err
    devices = {d.device_id: d for d in lines(out, fleet_pb2.Device)}
    assert {"gate-north", "gate-south", "yard"} <= set(devices)
    yard = devices["yard"]
    assert yard.events == YARD_EVENTS and [s.stream_id for s in yard.streams] == ["cam-9"]
    assert yard.streams[0].acked_sequence == YARD_EVENTS
    assert yard.status.backlog_events == 5 and yard.status.software_version == "0.4.0"
    assert [(d.reason, d.events) for d in yard.status.drops] == [(fleet_pb2.DROP_REASON_OUTBOX_FULL, 3)]
    code, out, _ = run(central, capsys, "devices", "--format", "table")
    header, *rows = out.splitlines()
    assert header.split()[:3] == ["DEVICE", "LAST", "SEEN"] and len(rows) == len(devices)
    yard_row = next(r for r in rows if r.startswith("yard"))
    assert "OUTBOX_FULL:3" in yard_row and "det:int8 rec:fp32" in yard_row and "0.4.0" in yard_row
    code, out, _ = run(central, capsys, "devices", "--page-size", "1")  # a page per device
    assert {d.device_id for d in lines(out, fleet_pb2.Device)} == set(devices)


def test_stats(central, capsys) -> None:
    code, out, err = run(central, capsys, "stats")
    assert code == 0, err
    (stats,) = lines(out, fleet_pb2.GetFleetStatsResponse)
    total = sum(len(v) for v in SEED.values())
    assert stats.store == "sqlite" and stats.events >= total and stats.devices >= 3
    assert {c.type: c.events for c in stats.events_by_type}[fleet_pb2.EVENT_TYPE_APPEARED] >= 1
    code, out, _ = run(central, capsys, "stats", "--format", "table")
    table = dict(re.split(r"\s{2,}", line.strip(), maxsplit=1) for line in out.splitlines())
    assert table["store"] == "sqlite" and int(table["events"]) == stats.events
    assert table["dropped on devices"] == "OUTBOX_FULL:3" and table["retention"] == "forever"


# ---- sightings -----------------------------------------------------------------------------------------------
def test_sightings_collapse_one_plate_seen_at_three_streams(central, capsys) -> None:
    code, out, err = run(central, capsys, "sightings", "--since", "1h", "--window", "5m", "--min-streams", "2")
    assert code == 0, err
    (sighting,) = lines(out, fleet_pb2.Sighting)
    assert sighting.normalized_text == "KX71ABC"
    assert [(p.device_id, p.stream_id, p.events) for p in sighting.places] == [
        ("gate-north", "cam-1", 2),
        ("gate-north", "cam-2", 1),
        ("gate-south", "cam-3", 1),
    ]
    assert sighting.places[0].text == "KX71 ABC" and abs(sighting.places[0].confidence - 0.97) < 1e-6
    code, out, _ = run(central, capsys, "sightings", "--since", "1h", "--window", "30s")  # too narrow to join them
    assert [s.normalized_text for s in lines(out, fleet_pb2.Sighting)].count("KX71ABC") == 3
    code, out, _ = run(central, capsys, "sightings", "--since", "1h", "--min-streams", "2", "--format", "table")
    header, *rows = out.splitlines()
    assert header.split()[:4] == ["TEXT", "STREAMS", "DEVICE", "STREAM"] and len(rows) == 3
    assert rows[0].split()[:4] == ["KX71ABC", "3", "gate-north", "cam-1"]
    assert rows[1].split()[:2] == ["gate-north", "cam-2"] and rows[2].split()[:2] == ["gate-south", "cam-3"]


def test_sightings_page_past_one_page(central, capsys) -> None:
    code, out, err = run(
        central, capsys, "sightings", "--device", "yard", "--window", "1s", "--limit", "0", "--page-size", "100"
    )
    assert code == 0, err
    assert sorted(s.normalized_text for s in lines(out, fleet_pb2.Sighting)) == [
        f"CR{i:04d}" for i in range(1, YARD_EVENTS + 1)
    ]


# ---- watch ---------------------------------------------------------------------------------------------------
def _watch(central: Central, *argv: str) -> subprocess.Popen:
    return subprocess.Popen(
        [sys.executable, "-m", "fleet", "--target", central.target, "watch", *argv],
        cwd=REPO,
        env=ENV,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def test_watch_tails_new_events_and_resumes_from_a_cursor(central) -> None:
    # from cursor 0 (the text matches nothing stored yet), so a watcher that starts late misses nothing
    watcher = _watch(central, "--cursor", "0", "--text", "WATCH", "--max-events", "2", "--for", "120s")
    time.sleep(2)
    fresh = [ev("cam-w", i, time.time(), f"WATCH {i}", 0.9) for i in (1, 2, 3)]
    report(central.target, "gate-watch", fresh[:2])
    out, err = watcher.communicate(timeout=120)
    assert watcher.returncode == 0, err
    first, second = [json.loads(line) for line in out.splitlines()]  # not a tty: JSON lines by default
    assert (first["event"]["text"], second["event"]["text"]) == ("WATCH 1", "WATCH 2")
    assert f"--cursor {second['cursor']}" in err
    report(central.target, "gate-watch", fresh[2:])
    resumed = _watch(central, "--cursor", first["cursor"], "--text", "watch", "--max-events", "2", "--format", "table")
    out, err = resumed.communicate(timeout=120)
    assert resumed.returncode == 0, err
    header, *rows = out.splitlines()
    assert header.split()[-1] == "CURSOR"
    assert [r.split()[6:8] for r in rows] == [["WATCH", "2"], ["WATCH", "3"]]  # replayed after the cursor
    assert rows[0].split()[-1] == second["cursor"]


def test_watch_for_a_while_ends_cleanly_without_events(central) -> None:
    watcher = _watch(central, "--text", "NEVER SEEN", "--for", "2s")
    out, err = watcher.communicate(timeout=120)
    assert watcher.returncode == 0 and out == "", err


# ---- delete --------------------------------------------------------------------------------------------------
def test_delete_needs_confirmation_then_erases_the_device(central, capsys) -> None:
    report(central.target, "scrap", [ev("cam-x", i, NOW - 60, f"SCRAP {i}", 0.9) for i in (1, 2, 3)])
    code, out, err = run(central, capsys, "delete", "scrap")
    assert code == 2 and out == "" and reason(err) == "CONFIRMATION_REQUIRED"
    code, out, _ = run(central, capsys, "query", "--device", "scrap")
    assert len(out.splitlines()) == 3  # nothing erased without --yes
    code, out, err = run(central, capsys, "delete", "scrap", "--yes")
    assert code == 0, err
    assert json.loads(out) == {
        "device_id": "scrap",
        "deleted_events": "3",
        "deleted_streams": "1",
        "device_existed": True,
    }
    code, out, _ = run(central, capsys, "query", "--device", "scrap")
    assert code == 0 and out == ""
    code, out, _ = run(central, capsys, "devices")
    assert "scrap" not in {d.device_id for d in lines(out, fleet_pb2.Device)}
    code, out, _ = run(central, capsys, "delete", "scrap", "--yes", "--format", "table")
    assert code == 0 and "not known" in out


# ---- errors --------------------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    "argv, code, expected",
    [
        (["query", "--since", "an hour"], 2, "TIME_INVALID"),
        (["sightings", "--window", "soon"], 2, "TIME_INVALID"),
        (["query", "--type", "VANISHED"], 2, "USAGE_INVALID"),
        (["query", "--limit", "-5"], 2, "USAGE_INVALID"),
        (["query", "--min-confidence", "1.5"], 1, "FILTER_INVALID"),  # the central's reason
        (["query", "--since", "10m", "--until", "1h"], 1, "FILTER_INVALID"),
        (["sightings", "--window", "0"], 1, "FILTER_INVALID"),
        (["query", "--page-size", "-1"], 1, "PAGE_SIZE_INVALID"),
        (["watch", "--cursor", "not-a-cursor", "--for", "5s"], 1, "CURSOR_INVALID"),
    ],
)
def test_errors_are_one_line_with_a_reason(central, capsys, argv, code, expected) -> None:
    got, out, err = run(central, capsys, *argv)
    assert (got, out) == (code, "")
    assert reason(err) == expected


def test_no_central_is_unavailable(capsys) -> None:
    code = main(["--target", "127.0.0.1:9", "--timeout", "2", "query"])
    err = capsys.readouterr().err
    assert code == 1 and reason(err) == "UNAVAILABLE"
    assert "hint: no server answered at 127.0.0.1:9" in err and "pass --ca" in err, err


def test_no_answer_over_tls_hints_at_the_tls_flags(tmp_path: Path, capsys) -> None:
    """With --ca, a call that never got through may be a refused handshake: the hint names the flags to check."""
    ca = tmp_path / "ca.crt"
    ca.write_text("-----BEGIN CERTIFICATE-----\n-----END CERTIFICATE-----\n")  # never used: nothing answers
    code = main(["--target", "127.0.0.1:9", "--ca", str(ca), "--timeout", "2", "stats"])
    (line,) = capsys.readouterr().err.strip().splitlines()
    assert code == 1 and line.endswith("[UNAVAILABLE]"), line
    assert "TLS handshake failed" in line and "--cert/--key" in line, line


def test_credentials_that_cannot_be_read(tmp_path: Path, capsys) -> None:
    code = main(["--target", "127.0.0.1:9", "--ca", str(tmp_path / "missing.crt"), "stats"])
    assert code == 2 and reason(capsys.readouterr().err) == "CREDENTIALS_UNREADABLE"


def test_ctrl_c_ends_a_watch_with_where_to_resume(central) -> None:
    watcher = _watch(central, "--cursor", "0", "--device", "gate-south")
    assert watcher.stdout is not None
    first = json.loads(watcher.stdout.readline())  # replayed from cursor 0: the tail is running
    watcher.send_signal(signal.SIGINT)
    out, err = watcher.communicate(timeout=60)
    assert watcher.returncode == 130, err
    last = json.loads(out.splitlines()[-1]) if out else first
    assert err.strip().splitlines()[-1] == f"(resume with --cursor {last['cursor']})"


def test_a_terminal_gets_a_table_by_default(central) -> None:
    leader, follower = pty.openpty()
    process = subprocess.Popen(
        [sys.executable, "-m", "fleet", "--target", central.target, "query", "--since", "1h", "--device", "gate-south"],
        cwd=REPO,
        env=ENV,
        stdout=follower,
        stderr=subprocess.PIPE,
    )
    os.close(follower)
    chunks = []
    while True:
        try:
            chunk = os.read(leader, 4096)
        except OSError:  # the terminal closed: the command ended
            break
        if not chunk:
            break
        chunks.append(chunk)
    os.close(leader)
    assert process.wait(60) == 0, process.stderr.read() if process.stderr else ""
    header, *rows = b"".join(chunks).decode().splitlines()
    assert header.split()[:3] == ["CAPTURED", "(UTC)", "DEVICE"] and len(rows) == 2


def test_tokens_from_the_environment_or_the_flag_and_the_centrals_scopes(tmp_path: Path, capsys) -> None:
    sha = lambda token: hashlib.sha256(token.encode()).hexdigest()  # noqa: E731
    tokens = tmp_path / "tokens.json"
    tokens.write_text(
        json.dumps(
            {
                "tokens": [
                    {"sha256": sha("gate-token"), "principal": "gate-east", "scopes": ["fleet.report"]},
                    {"sha256": sha("ops-token"), "principal": "ops", "scopes": ["fleet.query"]},
                    {"sha256": sha("admin-token"), "principal": "admin", "scopes": ["fleet.query", "fleet.admin"]},
                ]
            }
        )
    )
    server = Central(f"sqlite:///{tmp_path / 'fleet.db'}", "--tokens-file", str(tokens))
    try:
        server.wait_serving()
        with FleetClient(server.target, token="gate-token") as client, client.report_session() as session:
            assert session.report(1, [ev("cam-e", 1, NOW - 60, "KX71 ABC", 0.9)]).stored == 1
        assert main(["--target", server.target, "stats"]) == 1
        assert reason(capsys.readouterr().err) == "TOKEN_MISSING"
        done = subprocess.run(
            [sys.executable, "-m", "fleet", "--target", server.target, "query"],
            cwd=REPO,
            env={**ENV, "OCR_TOKEN": "ops-token"},
            capture_output=True,
            text=True,
            timeout=120,
        )
        assert done.returncode == 0, done.stderr
        assert [e.device_id for e in lines(done.stdout, fleet_pb2.StoredEvent)] == ["gate-east"]  # the caller's
        assert main(["--target", server.target, "--token", "ops-token", "delete", "gate-east", "--yes"]) == 1
        assert reason(capsys.readouterr().err) == "SCOPE_MISSING"
        assert main(["--target", server.target, "delete", "gate-east", "--yes", "--token", "admin-token"]) == 0
        assert json.loads(capsys.readouterr().out)["deleted_events"] == "1"
    finally:
        server.stop()
