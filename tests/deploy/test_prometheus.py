"""A real Prometheus (Debian's package, on a loopback port) scrapes a live server under a bounded load and answers
the pending-work gauge and a latency quantile; promtool checks the alert rules and runs their unit tests."""

from __future__ import annotations

import math
import subprocess
import threading
import time

import grpc
import pytest

from clients.ocr_client.pb import ocr_pb2, ocr_pb2_grpc
from server.config import ServerConfig
from server.embedded import ServerThread
from tests.conftest import REPO, get_engine
from tests.server.images import scene_png, word_pngs
from tests.services import free_port, require_binary, start_prometheus

RULES = REPO / "deploy" / "prometheus" / "alerts.yml"
CLIENTS = 4
MAX_CALLS = 400  # per client: the load ends when Prometheus has seen it, after this many calls, or after LOAD_S
LOAD_S = 180.0
POLLS = 240  # Prometheus queries, 0.25 s apart, before giving up


def test_alert_rules_are_valid() -> None:
    promtool = require_binary("promtool")
    checked = subprocess.run([promtool, "check", "rules", str(RULES)], capture_output=True, text=True, timeout=120)
    assert checked.returncode == 0, checked.stdout + checked.stderr
    assert "SUCCESS: 8 rules found" in checked.stdout


def test_alert_rules_fire_and_resolve() -> None:
    promtool = require_binary("promtool")
    tested = subprocess.run(
        [promtool, "test", "rules", "alerts_test.yml"], cwd=RULES.parent, capture_output=True, text=True, timeout=120
    )
    assert tested.returncode == 0, tested.stdout + tested.stderr


@pytest.fixture(scope="module")
def scraped(tmp_path_factory):
    require_binary("prometheus")
    server = ServerThread(get_engine, ServerConfig(host="127.0.0.1", port=0, metrics_port=free_port()))
    prometheus = start_prometheus(
        tmp_path_factory.mktemp("prometheus"), [f"127.0.0.1:{server.server.metrics_port}"], [RULES], interval_s=1
    )
    yield server, prometheus
    prometheus.stop()
    server.stop()


def _poll(prometheus, expr: str, accept) -> float | None:
    for _ in range(POLLS):
        result = prometheus.query(expr)
        if result:
            value = float(result[0]["value"][1])
            if accept(value):
                return value
        time.sleep(0.25)
    return None


def test_prometheus_sees_pending_work_and_a_latency_quantile(scraped) -> None:
    server, prometheus = scraped
    stop = threading.Event()
    crops = word_pngs(8)

    deadline = time.monotonic() + LOAD_S
    scene = scene_png()

    def load(k: int) -> None:
        """Whole scenes (detection + recognition, long enough in flight that a 1 s scrape sees them) and crops."""
        with grpc.insecure_channel(server.target) as channel:
            stub = ocr_pb2_grpc.OcrServiceStub(channel)
            for i in range(MAX_CALLS):
                if stop.is_set() or time.monotonic() > deadline:
                    return
                whole = (i + k) % 2 == 0
                image = scene if whole else crops[(i + k) % len(crops)]
                stub.Recognize(
                    ocr_pb2.RecognizeRequest(
                        image=ocr_pb2.Image(content=image), options=ocr_pb2.RecognizeOptions(skip_detection=not whole)
                    ),
                    timeout=120,
                )

    threads = [threading.Thread(target=load, args=(k,)) for k in range(CLIENTS)]
    for thread in threads:
        thread.start()
    try:
        assert _poll(prometheus, 'up{job="edge-ocr"}', lambda v: v == 1) == 1
        pending = _poll(prometheus, "max_over_time(ocr_pending_work[1m])", lambda v: v > 0)
        p99 = _poll(
            prometheus,
            'histogram_quantile(0.99, sum by (le) (rate(ocr_stage_duration_seconds_bucket{stage="total"}[15s])))',
            lambda v: math.isfinite(v) and v > 0,
        )
        p50_calls = _poll(
            prometheus,
            'histogram_quantile(0.5, sum by (le) (rate(ocr_call_duration_seconds_bucket{method="Recognize"}[15s])))',
            lambda v: math.isfinite(v) and v > 0,
        )
    finally:
        stop.set()
        for thread in threads:
            thread.join(300)
    assert pending is not None and 1 <= pending <= CLIENTS
    assert p99 is not None and p50_calls is not None and p99 >= 0.001
    ok = prometheus.query('sum(ocr_calls_total{method="Recognize",code="OK"})')
    assert ok and float(ok[0]["value"][1]) > 0
    assert _poll(prometheus, "ocr_pending_work", lambda v: v == 0) == 0  # idle again once the load ends
    rules = prometheus.api("rules")["groups"]
    assert {r["name"] for g in rules for r in g["rules"]} >= {"OcrHighErrorRatio", "OcrDeviceSilent"}
    assert all(r["health"] != "err" for g in rules for r in g["rules"])
