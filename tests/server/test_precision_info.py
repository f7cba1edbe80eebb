"""GetServerInfo and the start-up log state the precision served per stage and the engine's reason for it."""

from __future__ import annotations

import logging

from clients.ocr_client import OcrClient
from server.config import ServerConfig
from server.embedded import ServerThread
from tests.conftest import get_engine


def test_start_up_logs_and_server_info_give_precision_and_reason_per_stage(caplog):
    engine = get_engine()
    with caplog.at_level(logging.INFO, logger="server.app"):
        server = ServerThread(get_engine, ServerConfig(host="127.0.0.1", port=0))
    try:
        logged = [r.getMessage() for r in caplog.records if r.name == "server.app"]
        lines = [line for line in logged if line.startswith("stage ")]
        assert lines == [
            f"stage {stage} serves {precision}: {engine.precision_reasons[stage]}"
            for stage, precision in engine.precision.items()
        ]
        with OcrClient(server.target, timeout=60) as client:
            info = client.server_info()
        assert [(s.stage, s.precision, s.reason) for s in info.stage_precisions] == [
            (stage, precision, engine.precision_reasons[stage]) for stage, precision in engine.precision.items()
        ]
    finally:
        server.stop()
