"""The Python client library and the `ocr-client` command against a live server."""

from __future__ import annotations

import json

import grpc
import pytest

from clients.ocr_client import OcrCallError, OcrClient
from clients.ocr_client.cli import main
from clients.ocr_client.load import summarize
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
    assert json.loads(capsys.readouterr().out)["ready"] is True
    assert main(["--target", served.target, "bench", "--json", "--skip-detection", "-c", "1", "2", "-n", "4",
                 str(files["word"])]) == 0
    report = json.loads(capsys.readouterr().out)
    assert [r["concurrency"] for r in report["results"]] == [1, 2]
    assert all(r["requests"] == 4 and r["errors"] == 0 and r["p50_ms"] > 0 for r in report["results"])


def test_cli_health_of_missing_server_fails(capsys):
    assert main(["--target", "127.0.0.1:1", "--timeout", "2", "health"]) == 1


def test_batch_and_stream_helpers(client):
    responses = client.batch_recognize([blank_png(), b"x"])
    assert len(responses) == 2 and not responses[0].lines and responses[1].error.reason == "IMAGE_UNDECODABLE"
    from server.pb import ocr_pb2

    config = ocr_pb2.StreamConfig(options=ocr_pb2.RecognizeOptions(skip_detection=True))
    frames = list(client.stream_recognize([word_pngs()[0], word_pngs()[1]], config=config))
    assert [f.sequence for f in frames] == [0, 1] and all(f.lines for f in frames)


def test_summarize_percentiles():
    report = summarize([0.001 * k for k in range(1, 101)], wall_s=2.0)
    assert report["requests"] == 100 and report["throughput_rps"] == 50.0
    assert report["p50_ms"] == pytest.approx(50.5) and report["p99_ms"] == pytest.approx(99.01)
