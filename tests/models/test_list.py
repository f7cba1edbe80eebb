"""`python -m models list`: the gate's recorded choice per stage, read from the bundle alone (models/ is the
ground floor), and the FP32 fallback line where no gate record exists."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from models.bundle import default_bundle_id, installed_dir
from tests.conftest import REPO


def _staged_cache(tmp_path: Path, record: dict | None) -> Path:
    """A model cache holding the installed default bundle (linked) and, for openvino, ``record`` as its gate record."""
    source = installed_dir(default_bundle_id())
    target = tmp_path / "cache" / default_bundle_id()
    target.mkdir(parents=True)
    for name in ("bundle.json", "det.onnx", "cls.onnx", "rec.onnx", "dict.txt"):
        (target / name).symlink_to(source / name)
    if record is not None:
        (target / "int8" / "openvino").mkdir(parents=True)
        (target / "int8" / "openvino" / "quantization.json").write_text(json.dumps(record))
    return tmp_path / "cache"


def _list(cache: Path) -> str:
    env = {**os.environ, "OCR_MODEL_DIR": str(cache), "PYTHONPATH": str(REPO)}
    code = (
        "import sys, runpy; sys.argv = ['models', 'list']\n"
        "try:\n    runpy.run_module('models', run_name='__main__')\n"
        "except SystemExit as e:\n    assert not e.code\n"
        "print('LOADED', sorted({m.split('.')[0] for m in sys.modules} & {'edge_runtime', 'server', 'clients', "
        "'quantize', 'fleet', 'bench', 'grpc'}))"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], cwd=REPO, env=env, capture_output=True, text=True, timeout=120
    )
    assert result.returncode == 0, result.stderr
    return result.stdout


def test_list_shows_the_gates_choice_and_reason_per_stage(tmp_path: Path) -> None:
    record = {
        "created_utc": "2026-12-01T00:00:00Z",
        "gate": {"cpu": "Test CPU"},
        "stages": {
            "det": {"serve": "int8", "file": "det.xml", "reason": "within the budget, 1.8x faster"},
            "rec": {"serve": "bf16", "reason": "INT8 lost 2.1 points"},
        },
    }
    out = _list(_staged_cache(tmp_path, record))
    bundle = default_bundle_id()
    assert "openvino: det INT8, rec BF16 (decided 2026-12-01T00:00:00Z on Test CPU)" in out
    assert "    det: INT8: within the budget, 1.8x faster" in out and "    rec: BF16: INT8 lost 2.1 points" in out
    assert f"onnxruntime: FP32 (no gate record; run python -m quantize --bundle {bundle})" in out
    assert "LOADED []" in out  # nothing above models/ was imported to say so


def test_a_schema_1_record_reads_as_published_or_not(tmp_path: Path) -> None:
    record = {"stages": {"det": {"published": True, "verdict": "kept"}, "rec": {"published": False}}}
    out = _list(_staged_cache(tmp_path, record))
    assert "openvino: det INT8, rec FP32 (decided ? on ?)" in out
    assert "    det: INT8: kept" in out
