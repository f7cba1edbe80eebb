"""The Python client library and the `ocr-client` command against a live server."""

from __future__ import annotations

import dataclasses
import json

import grpc
import pytest

from clients.ocr_client import OcrCallError, OcrClient
from clients.ocr_client.cli import main
from clients.ocr_client.load import summarize
from tests.clients.render import line_png
from tests.server.images import blank_png, scene_png, word_pngs


@pytest.fixture(scope="module")
def client(served):
    with OcrClient(served.target, timeout=120) as c:
        c.wait_until_serving(60)
        yield c


@pytest.fixture
def files(tmp_path):
    paths = {"scene": tmp_path / "scene.png", "word": tmp_path / "word.png", "bad": tmp_path / "bad.png"}
    paths["scene"].write_bytes(scene_png())
    paths["word"].write_bytes(word_pngs()[0])
    paths["bad"].write_bytes(b"definitely not a PNG")
    return paths


def test_library_accepts_paths_bytes_and_arrays(client, engine, files):
    expected = [line.text for line in engine.recognize(scene_png()).lines]
    assert [line.text for line in client.recognize(files["scene"]).lines] == expected
    assert [line.text for line in client.recognize(str(files["scene"])).lines] == expected
    import cv2

    array = cv2.imread(str(files["scene"]))
    assert [line.text for line in client.recognize(array).lines] == expected
    with pytest.raises(TypeError):
        client.recognize(12345)


def test_library_errors_carry_reason(client):
    with pytest.raises(OcrCallError) as info:
        client.recognize(b"garbage")
    assert info.value.code == grpc.StatusCode.INVALID_ARGUMENT and info.value.reason == "IMAGE_UNDECODABLE"


def test_cli_prints_text_and_json(served, engine, files, capsys):
    assert main(["--target", served.target, "recognize", "--skip-detection", str(files["word"])]) == 0
    assert capsys.readouterr().out.strip() == engine.recognize(word_pngs()[0], skip_detection=True).text
    assert main(["--target", served.target, "recognize", "--json", str(files["scene"])]) == 0
    row = json.loads(capsys.readouterr().out)
    assert row["image"] == str(files["scene"])
    assert [line["text"] for line in row["lines"]] == [line.text for line in engine.recognize(scene_png()).lines]
    assert row["provenance"]["bundle_id"] == engine.provenance.bundle


def test_cli_reports_reason_and_fails(served, files, capsys):
    assert main(["--target", served.target, "recognize", "--json", str(files["bad"]), str(files["scene"])]) == 1
    captured = capsys.readouterr()
    assert "[IMAGE_UNDECODABLE]" in captured.err
    rows = [json.loads(line) for line in captured.out.splitlines()]
    assert rows[0]["error"]["reason"] == "IMAGE_UNDECODABLE" and rows[1]["lines"]


def test_cli_health_info_and_bench(served, files, capsys):
    assert main(["--target", served.target, "health"]) == 0
    assert capsys.readouterr().out.strip() == "SERVING"
    assert main(["--target", served.target, "info"]) == 0
    captured = capsys.readouterr()
    info = json.loads(captured.out)
    assert info["ready"] is True and [s["stage"] for s in info["stage_precisions"]] == ["det", "cls", "rec"]
    assert all(
        s["reason"] and f"{s['stage']}: {s['precision']} ({s['reason']})" in captured.err
        for s in info["stage_precisions"]
    )
    assert (
        main(
            [
                "--target",
                served.target,
                "bench",
                "--json",
                "--skip-detection",
                "-c",
                "1",
                "2",
                "-n",
                "4",
                str(files["word"]),
            ]
        )
        == 0
    )
    report = json.loads(capsys.readouterr().out)
    assert [r["concurrency"] for r in report["results"]] == [1, 2]
    assert all(r["requests"] == 4 and r["errors"] == 0 and r["p50_ms"] > 0 for r in report["results"])


def test_cli_health_of_missing_server_fails(capsys):
    assert main(["--target", "127.0.0.1:1", "--timeout", "2", "health"]) == 1


def test_batch_and_stream_helpers(client):
    responses = client.batch_recognize([blank_png(), b"x"])
    assert len(responses) == 2 and not responses[0].lines and responses[1].error.reason == "IMAGE_UNDECODABLE"
    config = {"options": {"skip_detection": True}, "flow_control": "FLOW_CONTROL_ALL"}
    frames = list(client.stream_recognize([line_png("HELLO"), line_png("WORLD")], config=config))
    assert [f.sequence for f in frames[:2]] == [0, 1]
    assert [[line.text for line in f.lines] for f in frames[:2]] == [["HELLO"], ["WORLD"]]


def test_results_are_dataclasses_whose_error_is_none_on_success(client):
    result = client.recognize(line_png("HELLO"), skip_detection=True)
    assert dataclasses.is_dataclass(result) and result.error is None and result.text == "HELLO"
    assert isinstance(result.lines[0].polygon[0].x, float) and result.provenance.bundle_id
    ok, bad, empty = client.batch_recognize([line_png("HELLO"), b"not an image", b""], skip_detection=True)
    assert ok.error is None and not ok.error and ok.text == "HELLO"
    assert isinstance(bad.error, OcrCallError)
    assert (bad.error.code, bad.error.reason) == (grpc.StatusCode.INVALID_ARGUMENT, "IMAGE_UNDECODABLE")
    assert (empty.error.code, empty.error.reason) == (grpc.StatusCode.INVALID_ARGUMENT, "IMAGE_EMPTY")
    assert not bad.lines and bad.text == "" and bad.timings is None
    assert "error" not in ok.to_dict() and bad.to_dict()["error"]["reason"] == "IMAGE_UNDECODABLE"
    frames = list(
        client.stream_recognize(
            [line_png("HELLO"), b"garbage"],
            config={"options": {"skip_detection": True}, "flow_control": "FLOW_CONTROL_ALL"},
        )
    )
    assert frames[0].error is None and frames[0].timings is not None and frames[0].capture_time > 0
    assert frames[1].error.reason == "IMAGE_UNDECODABLE"
    assert all(e.type.startswith("TEXT_EVENT_TYPE_") for f in frames for e in f.events)


def test_server_info_states_precision_per_stage_and_why(client, engine):
    info = client.server_info()
    assert info.ready
    stages = {s.stage: s for s in info.stage_precisions}
    assert set(stages) == set(engine.precision)
    for stage, item in stages.items():
        assert item.precision == engine.precision[stage] and item.reason == engine.precision_reasons[stage]
    assert "PIXEL_FORMAT_NV12" in info.pixel_formats
    assert info.to_dict()["stage_precisions"][0]["stage"] == next(iter(engine.precision))


def test_summarize_percentiles():
    report = summarize([0.001 * k for k in range(1, 101)], wall_s=2.0)
    assert report["requests"] == 100 and report["throughput_rps"] == 50.0
    assert report["p50_ms"] == pytest.approx(50.5) and report["p99_ms"] == pytest.approx(99.01)
