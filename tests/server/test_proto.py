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


LANDED = REPO / "tests" / "server" / "landed_proto"


def test_buf_breaking_against_the_last_landed_contract():
    """No wire- or source-breaking change against the contract as it last landed (a copy of proto/ from that
    commit, in tests/server/landed_proto: refresh it after a stop lands, never to make this pass). A package that
    has not landed yet (no copy) is new and cannot break anyone."""
    if not BUF.exists():
        if shutil.which("npm") is None:
            pytest.skip("npm is not installed, so buf (npm @bufbuild/buf) is not either")
        pytest.fail("buf is missing: run `bash scripts/setup.sh` (npm ci in clients/node installs it)")
    assert (LANDED / "ocr" / "v1" / "ocr_service.proto").exists()
    result = subprocess.run(
        [str(BUF), "breaking", "proto", "--against", str(LANDED)], cwd=REPO, capture_output=True, text=True, timeout=120
    )
    assert result.returncode == 0, result.stdout + result.stderr


def test_generated_code_is_current():
    assert codegen.is_current(), "clients/ocr_client/gen is stale: run `python -m clients.ocr_client.codegen`"
    assert codegen.GEN_DIR == REPO / "clients" / "ocr_client" / "gen"


def test_contract_names():
    service = ocr_pb2.DESCRIPTOR.services_by_name["OcrService"]
    assert service.full_name == "ocr.v1.OcrService"
    methods = {m.name: m for m in service.methods}
    assert set(methods) == {"Recognize", "BatchRecognize", "StreamRecognize", "RecognizeDocument", "GetServerInfo"}
    for name in ("StreamRecognize", "RecognizeDocument"):
        assert methods[name].client_streaming and methods[name].server_streaming
    assert ocr_pb2.Image.DESCRIPTOR.oneofs_by_name["source"].fields[0].name == "content"
    events = ocr_pb2.TextEventType.keys()
    for suffix in ("_APPEARED", "_UPDATED", "_STABLE", "_DISAPPEARED"):
        assert any(name.endswith(suffix) for name in events)
    enums = (ocr_pb2.PixelFormat, ocr_pb2.FlowControl, ocr_pb2.TextEventType, ocr_pb2.BreakType, ocr_pb2.TextSource)
    for enum in (*enums, ocr_pb2.BlockKind, ocr_pb2.TextLayerMode, ocr_pb2.OutputFormat):
        assert enum.Name(0).endswith("_UNSPECIFIED")
    config_fields = set(ocr_pb2.StreamConfig.DESCRIPTOR.fields_by_name)
    assert {
        "flow_control",
        "queue_size",
        "change_threshold",
        "reread_every_frames",
        "box_change_threshold",
        "stable_after_frames",
        "disappear_after_frames",
    } <= config_fields
    info = ocr_pb2.GetServerInfoResponse.DESCRIPTOR.fields_by_name["stage_precisions"]
    assert info.message_type.name == "StagePrecision" and info.is_repeated
    assert set(ocr_pb2.StagePrecision.DESCRIPTOR.fields_by_name) == {"stage", "precision", "reason"}


def test_fleet_contract_names():
    from clients.ocr_client.pb import FLEET_SERVICE_NAME, fleet_pb2

    assert FLEET_SERVICE_NAME == "fleet.v1.FleetService"
    service = fleet_pb2.DESCRIPTOR.services_by_name["FleetService"]
    methods = {m.name: m for m in service.methods}
    assert set(methods) == {
        "ReportEvents",
        "QueryEvents",
        "WatchEvents",
        "ListDevices",
        "GetFleetStats",
        "ListSightings",
        "DeleteDeviceData",
    }
    assert methods["ReportEvents"].client_streaming and methods["ReportEvents"].server_streaming
    assert methods["WatchEvents"].server_streaming and not methods["WatchEvents"].client_streaming
    event = set(fleet_pb2.TextEvent.DESCRIPTOR.fields_by_name)
    assert {
        "stream_id",
        "sequence",
        "capture_time",
        "type",
        "track_id",
        "text",
        "confidence",
        "polygon",
        "frame_width",
        "frame_height",
        "provenance",
    } <= event
    assert set(fleet_pb2.QueryEventsRequest.DESCRIPTOR.fields_by_name) >= {"filter", "page_size", "page_token"}
    for enum in (fleet_pb2.EventType, fleet_pb2.DropReason, fleet_pb2.TextMatch):
        assert enum.Name(0).endswith("_UNSPECIFIED")
