"""Model preparation for ONNX Runtime QDQ, calibration/gate image split, and the reuse check."""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import onnx

from models import load_bundle
from quantize import calibration, record
from quantize.onnx_qdq import MIN_OPSET, prepare


def test_prepare_moves_constant_weights_fixes_opset_and_height() -> None:
    bundle = load_bundle("ppocrv4-mobile")  # the one export with Constant-node weights, opset 12, dynamic height
    original = onnx.load(str(bundle.path("rec")))
    assert sum(n.op_type == "Constant" for n in original.graph.node) > 100
    model = prepare(bundle.path("rec"), "rec", 48)
    assert not [n for n in model.graph.node if n.op_type == "Constant"]
    assert len(model.graph.initializer) > 100
    assert max(o.version for o in model.opset_import if o.domain in ("", "ai.onnx")) >= MIN_OPSET
    assert model.graph.input[0].type.tensor_type.shape.dim[2].dim_value == 48


def test_calibration_and_gate_images_are_disjoint(data_dir: Path) -> None:
    calib = {p.resolve() for p in calibration.default_calibration(data_dir).paths}
    gate = {p.resolve() for name, n in calibration.GATE_SETS for p in calibration.gate_paths(data_dir, name, n)}
    assert calib and gate and not calib & gate


def test_images_hash_depends_on_content_not_order_of_names(tmp_path: Path, data_dir: Path) -> None:
    src = calibration.default_calibration(data_dir).paths[:2]
    copies = [shutil.copy(p, tmp_path / f"x{i}{p.suffix}") for i, p in enumerate(src)]
    assert calibration.images_hash(src) == calibration.images_hash([Path(c) for c in copies])
    assert calibration.images_hash(src) != calibration.images_hash(src[::-1])


def test_reuse_needs_same_key_and_verified_artifacts(tmp_path: Path) -> None:
    (tmp_path / "det.onnx").write_bytes(b"int8 model")
    rec = {"schema": record.SCHEMA, "inputs_key": "k1", "artifacts": record.artifact_hashes(tmp_path, ["det.onnx"])}
    record.write_record(tmp_path, rec)
    assert record.reusable(tmp_path, "k1")[0]
    assert not record.reusable(tmp_path, "k2")[0]  # an input changed
    (tmp_path / "det.onnx").write_bytes(b"tampered")
    ok, why = record.reusable(tmp_path, "k1")
    assert not ok and "det.onnx" in why


def test_rec_calibration_batches_share_a_width() -> None:
    blobs = [np.zeros((3, 48, w), np.float32) for w in (320, 384, 320, 320, 448, 384)]
    batches = calibration.batch_by_width(blobs, 2)
    assert sorted(b.shape[0] for b in batches) == [1, 1, 2, 2]
    assert sum(b.shape[0] for b in batches) == len(blobs)


def test_only_the_recognizer_head_is_kept_out_of_openvino_int8() -> None:
    """The ignored scope names exactly the MatMul that feeds the recognizer's output (its classifier head)."""
    import openvino as ov

    from quantize.openvino_ptq import head_matmuls

    bundle = load_bundle()
    rec = ov.Core().read_model(str(bundle.path("rec")))
    names = head_matmuls(rec)
    assert len(names) == 1
    head = next(op for op in rec.get_ordered_ops() if op.get_friendly_name() == names[0])
    characters = rec.get_results()[0].get_output_partial_shape(0)[-1].get_length()
    assert head.get_output_partial_shape(0)[-1].get_length() == characters  # hidden -> every character
    assert head_matmuls(ov.Core().read_model(str(bundle.path("det")))) == []  # the detector has no MatMul head
