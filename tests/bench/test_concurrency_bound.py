"""bench.concurrency_bound end to end on two rendered pages: both parts run and report a figure per process."""

from __future__ import annotations

import re
import subprocess
import sys

from tests.conftest import REPO


def test_reports_the_bound_and_pinning_per_process() -> None:
    images = sorted((REPO / "models/cache/synth/synth_receipts/images").glob("*"))[:2]
    out = subprocess.run(
        [
            sys.executable,
            "-m",
            "bench.concurrency_bound",
            "--images",
            *map(str, images),
            "--processes",
            "2",
            "--pin-runs",
            "2",
        ],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=600,
        check=True,
    ).stdout
    bound = re.search(
        r"2 one-thread engines side by side: ([\d.]+) pages/s \(([\d.]+) \+ ([\d.]+)\); "
        r"bound on cN/c1: ([\d.]+)x",
        out,
    )
    assert bound and float(bound[1]) > 0 and float(bound[4]) > 0, out
    assert len(re.findall(r"2 processes, (?:pinned|unpinned): [\d.]+, [\d.]+ batches/s", out)) == 2, out
