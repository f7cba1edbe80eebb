"""Key fields from a camera to an operator: a clip read by the real models through `python -m fleet agent` with
field sets (built-in receipt and the deployment's fields file), stored by a central on SQLite, and found again by
`python -m fleet query --field NAME[=VALUE]` and by the HTTP route of QueryEvents."""

from __future__ import annotations

import io
import json
import urllib.parse
import urllib.request
from pathlib import Path

import cv2
import pytest

from clients.ocr_client.fleet_types import EventFilter
from edge_runtime.errors import ConfigurationError
from fleet.agent.config import config_of
from fleet.central import validate_filter
from fleet.cli import main as fleet_main
from fleet.errors import FleetRequestError
from tests.fleet.processes import AgentProcess, Central, free_port, stored_events
from tests.stream import stream_videos

FIELDS_FILE = """
[sets.shipping]
[[sets.shipping.fields]]
name = "container"
checks = ["ISO6346"]
kind = "code"
"""


def scene(n: int = 20) -> stream_videos.Scene:
    img = stream_videos._background(640, 360)
    cv2.rectangle(img, (40, 60), (600, 300), (30, 30, 30), -1)
    stream_videos._put(img, "CSQU 305438 3", 90, 140, 1.5, stream_videos.WHITE, 3)
    stream_videos._put(img, "TOTAL 12.50", 130, 240, 1.5, stream_videos.YELLOW, 3)
    return stream_videos.Scene("fields", [img.copy() for _ in range(n)], 10.0, {"CSQU 305438 3", "TOTAL 12.50"})


def query(target: str, *flags: str) -> list[dict]:
    out = io.StringIO()
    assert fleet_main(["--target", target, "query", "--format", "json", *flags], out=out) == 0
    return [json.loads(line) for line in out.getvalue().splitlines()]


def fields_of(found: list[dict]) -> set[tuple[str, str, str]]:
    return {(f["name"], f["value"], f["field_set"]) for e in found for f in e["event"]["fields"]}


def test_a_camera_streams_fields_and_the_fleet_query_filters_on_them(tmp_path: Path) -> None:
    http_port = free_port()
    central = Central(f"sqlite:///{tmp_path / 'fleet.db'}", "--http-port", str(http_port)).start()
    try:
        clip = stream_videos.write_video(scene(), tmp_path / "till.avi")
        (tmp_path / "fields.toml").write_text(FIELDS_FILE, encoding="utf-8")
        config = tmp_path / "agent.toml"
        config.write_text(
            f'device_id = "till-1"\nfields_file = "{tmp_path / "fields.toml"}"\n'
            f'[central]\ntarget = "{central.target}"\n[outbox]\npath = "{tmp_path / "outbox.db"}"\n'
            '[engine]\ndet_limit_type = "max"\ndet_limit_side_len = 960\nprecision = "fp32"\n'
            f'[[cameras]]\nstream_id = "counter"\nsource = "{clip}"\n'
            '[cameras.settings]\nfields = ["receipt", "shipping"]\n',
            encoding="utf-8",
        )
        agent = AgentProcess(config, "--exit-when-done")
        agent.start()
        assert agent.process.wait(180) == 0, agent.tail()

        every = stored_events(central.target, "till-1")
        assert {s.event.type for s in every} >= {"APPEARED", "DISAPPEARED"}
        by_track = {}
        for s in every:
            by_track.setdefault(s.event.track_id, set()).add(tuple((f.name, f.value) for f in s.event.fields))
        assert sorted(by_track.values()) == [{(("container", "CSQU3054383"),)}, {(("total", "12.50"),)}]

        containers = query(central.target, "--field", "container=csqu 305438-3")  # compared normalized
        assert containers and {e["event"]["stream_id"] for e in containers} == {"counter"}
        assert fields_of(containers) == {("container", "CSQU3054383", "shipping")}
        totals = query(central.target, "--device", "till-1", "--field", "total")
        assert fields_of(totals) == {("total", "12.50", "receipt")}
        assert len(containers) + len(totals) == len(every)  # every event of both lines carries its field
        assert query(central.target, "--field", "total=12.51") == []
        assert query(central.target, "--field", "total", "--field", "container") == []  # all must hold

        condition = urllib.parse.quote("container=CSQU3054383")
        url = f"http://127.0.0.1:{http_port}/v1/events?filter.fields={condition}&page_size=1000"
        with urllib.request.urlopen(url, timeout=30) as reply:
            over_http = json.loads(reply.read())["events"]
        assert [e["cursor"] for e in over_http] == [e["cursor"] for e in containers]
    finally:
        central.stop()


@pytest.mark.parametrize("condition", ["", "=CSQU3054383", "x" * 65, "name=" + "v" * 1025])
def test_a_field_condition_without_a_usable_name_is_refused(condition: str) -> None:
    with pytest.raises(FleetRequestError) as refused:
        validate_filter(EventFilter(fields=(condition,)))
    assert refused.value.reason == "FILTER_INVALID"


def test_too_many_field_conditions_are_refused() -> None:
    validate_filter(EventFilter(fields=tuple(f"f{i}" for i in range(16))))
    with pytest.raises(FleetRequestError):
        validate_filter(EventFilter(fields=tuple(f"f{i}" for i in range(17))))


def test_the_agent_refuses_a_field_set_at_start(tmp_path: Path) -> None:
    camera = {"stream_id": "a", "source": "0", "settings": {"fields": ["shipping"]}}
    with pytest.raises(ConfigurationError) as unknown:
        config_of({"cameras": [camera]})  # no fields file: "shipping" is unknown
    assert unknown.value.reason == "FIELD_SET_UNKNOWN" and "cameras[0]" in unknown.value.message
    (tmp_path / "f.toml").write_text(FIELDS_FILE, encoding="utf-8")
    config = config_of({"fields_file": str(tmp_path / "f.toml"), "cameras": [camera]})
    assert config.cameras[0].settings.fields == ("shipping",) and set(config.field_sets) == {"shipping"}
    with pytest.raises(ConfigurationError) as form:
        config_of({"cameras": [{**camera, "settings": {"fields": ["form"]}}]})
    assert form.value.reason == "FIELD_SET_UNSUPPORTED"
