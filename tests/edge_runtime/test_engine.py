"""The whole pipeline on real models: batching invariance, backend agreement, typed errors, backend choice."""

from __future__ import annotations

import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor

import cv2
import numpy as np
import pytest

from edge_runtime.config import EngineConfig
from edge_runtime.errors import BackendUnavailableError, ConfigurationError, InvalidImageError
from edge_runtime.evaluation.datasets import load_set
from tests import rendered
from tests.conftest import REPO, get_engine


def _images(data_dir, set_name: str, count: int) -> list:
    return [s.image for s in load_set(set_name, data_dir, limit=count)]


@pytest.fixture(scope="module")
def pages(data_dir) -> list:
    """Rendered pages of several kinds: receipts, a document page, a scene."""
    return (
        _images(data_dir, "synth_receipts", 1)
        + _images(data_dir, "page_synth", 1)
        + _images(data_dir, "synth_signs", 1)
    )


@pytest.fixture(scope="module")
def receipt_crops(pages, fp32_engine):
    """Real detector crops of varied widths from a receipt and a page."""
    crops = []
    for path in pages[:2]:
        image = fp32_engine.load_image(path)
        crops += [c.image for c in fp32_engine.crop(image, fp32_engine.detect(image))]
    return crops


@pytest.mark.parametrize("backend", ["openvino", "onnxruntime"])
def test_batched_recognition_equals_batch_one(backend, receipt_crops) -> None:
    engine = get_engine(backend=backend, precision="fp32")
    single = engine.read(receipt_crops, batch_size=1)
    batched = engine.read(receipt_crops, batch_size=16)
    assert len({c.shape[1] // 10 for c in receipt_crops}) > 5  # the crops really span many widths
    assert [r.text for r in batched] == [r.text for r in single]
    assert np.allclose([r.confidence for r in batched], [r.confidence for r in single], atol=1e-3)


@pytest.mark.parametrize("backend", ["openvino", "onnxruntime"])
def test_side_by_side_streams_equal_one_stream(backend, receipt_crops) -> None:
    """Recognizer batches run side by side on one-thread streams: the same readings as in turn."""
    parallel = get_engine(backend=backend, precision="fp32", threads=2, rec_streams=2)
    serial = get_engine(backend=backend, precision="fp32", threads=2, rec_streams=1)
    assert parallel._sessions["rec"]._lanes._streams == 2 and serial._sessions["rec"]._lanes._streams == 0
    side_by_side = parallel.read(receipt_crops, batch_size=2)
    in_turn = serial.read(receipt_crops, batch_size=2)
    assert [r.text for r in side_by_side] == [r.text for r in in_turn]
    assert np.allclose([r.confidence for r in side_by_side], [r.confidence for r in in_turn], atol=1e-3)


@pytest.mark.parametrize("backend", ["openvino", "onnxruntime"])
def test_concurrent_callers_get_what_each_gets_alone(backend, pages) -> None:
    """Calls that overlap run on the one-thread streams, a lone call on every thread: same answers."""
    engine = get_engine(backend=backend, precision="fp32", threads=2, rec_streams=2)
    jobs = [*pages, rendered.page()] * 2
    alone = [engine.recognize(job) for job in jobs]
    with ThreadPoolExecutor(4) as pool:
        together = list(pool.map(engine.recognize, jobs))
    for one, many in zip(alone, together, strict=True):
        assert [(line.text, line.polygon) for line in many.lines] == [(line.text, line.polygon) for line in one.lines]
        assert np.allclose([line.confidence for line in many.lines], [line.confidence for line in one.lines], atol=1e-5)


def test_many_images_at_once_equal_one_at_a_time(pages, fp32_engine) -> None:
    paths = pages[:2]
    together = fp32_engine.recognize_many(paths)
    alone = [fp32_engine.recognize(p) for p in paths]
    assert [r.text for r in together] == [r.text for r in alone]


def test_openvino_and_onnxruntime_agree(pages) -> None:
    ov = get_engine(backend="openvino", precision="fp32")
    ort = get_engine(backend="onnxruntime", precision="fp32")
    for path in [*pages, rendered.page()]:
        a, b = ov.recognize(path), ort.recognize(path)
        assert a.text == b.text, path if isinstance(path, str) else "rendered page"
        for la, lb in zip(a.lines, b.lines, strict=True):
            assert np.allclose(la.polygon, lb.polygon, atol=2.0)


def test_result_shape_and_provenance(fp32_engine) -> None:
    result = fp32_engine.recognize(rendered.page_png())
    assert [line.text for line in result.lines] == list(rendered.PAGE_LINES)
    assert [w.text for w in result.lines[0].words][:3] == ["This", "is", "a"]
    first, second = result.lines[0].words[:2]
    assert first.polygon[1][0] <= second.polygon[0][0] + 2  # words left to right, not overlapping
    assert result.provenance.bundle == fp32_engine.bundle.id
    assert result.provenance.precision == {"det": "fp32", "cls": "fp32", "rec": "fp32"}
    assert {"decode", "det", "cls", "rec", "total"} <= set(result.timings_ms)
    assert (result.width, result.height) == (640, 480)


@pytest.mark.parametrize("turn", [cv2.ROTATE_180, cv2.ROTATE_90_CLOCKWISE, cv2.ROTATE_90_COUNTERCLOCKWISE])
def test_turned_pages_read_in_order(fp32_engine, turn) -> None:
    page = rendered.page()
    upright = fp32_engine.recognize(page)
    turned = fp32_engine.recognize(cv2.rotate(page, turn))
    assert turned.text == upright.text


def test_blank_image_is_an_empty_result(fp32_engine) -> None:
    result = fp32_engine.recognize(np.full((200, 300, 3), 255, np.uint8))
    assert result.lines == ()


def test_skip_detection_reads_the_whole_image(fp32_engine) -> None:
    result = fp32_engine.recognize(rendered.line("ZVI GALIL"), skip_detection=True)
    assert result.text == "ZVI GALIL"


@pytest.mark.parametrize("data", [b"", b"not an image", b"\x89PNG\r\n\x1a\n" + b"\x00" * 50])
def test_engine_raises_typed_errors_and_keeps_working(fp32_engine, data) -> None:
    with pytest.raises(InvalidImageError) as err:
        fp32_engine.recognize(data)
    assert err.value.reason.startswith("IMAGE_")
    assert fp32_engine.recognize(rendered.page()).lines  # still serving


def test_unavailable_devices_are_refused_at_start() -> None:
    with pytest.raises(BackendUnavailableError):
        get_engine(backend="onnxruntime", device="cuda", precision="fp32")
    with pytest.raises(BackendUnavailableError):
        get_engine(backend="onnxruntime", device="gpu", precision="fp32")
    with pytest.raises(BackendUnavailableError):
        get_engine(backend="openvino", device="tensorrt", precision="fp32")
    with pytest.raises(ConfigurationError):
        EngineConfig(device="tpu")


def test_recognizer_batch_size_follows_the_device_unless_set() -> None:
    """Small batches on a CPU (a batch costs what its lines cost; small ones spread over the lanes), larger on a
    GPU (where a batch is nearly free); a set value is kept, a negative one refused."""
    assert EngineConfig().rec_batch_size == 4
    assert EngineConfig(device="cuda").rec_batch_size == 8
    assert EngineConfig(rec_batch_size=16).rec_batch_size == 16
    with pytest.raises(ConfigurationError):
        EngineConfig(rec_batch_size=-1)


def test_backends_import_lazily() -> None:
    """Without openvino, `auto` falls back to ONNX Runtime, and importing the runtime loads neither."""
    code = (
        "import sys; sys.modules['openvino'] = None\n"
        "import importlib.util as u; real = u.find_spec\n"
        "u.find_spec = lambda n, *a: None if n == 'openvino' else real(n, *a)\n"
        "import edge_runtime.pipeline as p\n"
        "assert 'onnxruntime' not in sys.modules\n"
        "e = p.OcrEngine(p.EngineConfig(precision='fp32'))\n"
        "print(e.backend)\n"
    )
    out = subprocess.run([sys.executable, "-c", code], cwd=REPO, capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "onnxruntime"
