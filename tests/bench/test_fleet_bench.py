"""bench.fleet_bench runs end to end on a few devices for a few seconds (a real central process, real gRPC, SQLite
and the tests' PostgreSQL), every acknowledged event is in the store once, and the report has its columns; the
figures themselves are the bench's business, not asserted here."""

from __future__ import annotations

import json

import pytest

from bench.fleet_bench import main, markdown, percentile
from tests.services import start_postgres


@pytest.fixture(scope="module")
def postgres(tmp_path_factory: pytest.TempPathFactory):
    pg = start_postgres(tmp_path_factory.mktemp("postgres"))
    yield pg
    pg.destroy()


def test_percentile_is_nearest_rank() -> None:
    assert percentile([], 99) == 0.0
    assert percentile([3.0, 1.0, 2.0], 50) == 2.0 and percentile(list(map(float, range(1, 101))), 99) == 99.0


def test_the_bench_runs_on_both_stores(tmp_path, postgres) -> None:
    status = main(
        [
            "--stores",
            "sqlite,postgresql",
            "--devices",
            "6",
            "--streams",
            "2",
            "--rates",
            "120",
            "--duration",
            "2",
            "--warmup",
            "0.5",
            "--procs",
            "2",
            "--postgres-url",
            postgres.url,
            "--out",
            str(tmp_path),
        ]
    )
    assert status == 0
    report = json.loads((tmp_path / "fleet_bench.json").read_text())
    rows = report["rows"]
    assert [r["store"] for r in rows] == ["sqlite", "postgresql"]
    for row in rows:
        assert row["anomalies"] == 0 and row["stored_total"] == row["store_events_total"] > 0
        assert row["events_s"] > 0 and 0 < row["ack_p50_ms"] <= row["ack_p99_ms"]
        assert row["central_rss_mb"] > 0 and row["central_exit_status"] == 0
    assert (tmp_path / "fleet_bench.md").read_text() == markdown(rows)
