"""The contract: buf lint (STANDARD + COMMENTS) is clean, the generated code is current, names are as specified."""

from __future__ import annotations

import shutil
import subprocess

import pytest

from clients.ocr_client import codegen
from clients.ocr_client.pb import ocr_pb2
from tests.conftest import REPO

BUF = REPO / "clients" / "node" / "node_modules" / ".bin" / "buf"


def test_buf_lint_is_clean():
    if not BUF.exists():
        if shutil.which("npm") is None:
            pytest.skip("npm is not installed, so buf (npm @bufbuild/buf) is not either")
        pytest.fail("buf is missing: run `bash scripts/setup.sh` (npm ci in clients/node installs it)")
    result = subprocess.run([str(BUF), "lint"], cwd=REPO, capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stdout + result.stderr


def test_generated_code_is_current():
    assert codegen.is_current(), "clients/ocr_client/gen is stale: run `python -m clients.ocr_client.codegen`"
    assert codegen.GEN_DIR == REPO / "clients" / "ocr_client" / "gen"


def test_server_uses_the_client_librarys_generated_code():
    from server import pb

    assert pb.ocr_pb2 is ocr_pb2


def test_contract_names():
    service = ocr_pb2.DESCRIPTOR.services_by_name["OcrService"]
    assert service.full_name == "ocr.v1.OcrService"
    methods = {m.name: m for m in service.methods}
    assert set(methods) == {"Recognize", "BatchRecognize", "StreamRecognize", "GetServerInfo"}
    stream = methods["StreamRecognize"]
    assert stream.client_streaming and stream.server_streaming
    assert ocr_pb2.Image.DESCRIPTOR.oneofs_by_name["source"].fields[0].name == "content"
    events = ocr_pb2.TextEventType.keys()
    for suffix in ("_APPEARED", "_UPDATED", "_STABLE", "_DISAPPEARED"):
        assert any(name.endswith(suffix) for name in events)
    for enum in (ocr_pb2.PixelFormat, ocr_pb2.FlowControl, ocr_pb2.TextEventType):
        assert enum.Name(0).endswith("_UNSPECIFIED")
    config_fields = set(ocr_pb2.StreamConfig.DESCRIPTOR.fields_by_name)
    assert {"flow_control", "queue_size", "change_threshold", "reread_every_frames", "box_change_threshold",
            "stable_after_frames", "disappear_after_frames"} <= config_fields
    info = ocr_pb2.GetServerInfoResponse.DESCRIPTOR.fields_by_name["stage_precisions"]
    assert info.message_type.name == "StagePrecision" and info.is_repeated
    assert set(ocr_pb2.StagePrecision.DESCRIPTOR.fields_by_name) == {"stage", "precision", "reason"}
