"""The OpenVINO backend gives a run's intermediate buffers back, so a large page does not stay resident."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from tests.conftest import get_engine


def _rss_mb() -> float:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return 0.0


def test_a_large_detector_run_leaves_no_buffers_resident():
    """Kept, the CPU plugin's buffers for a 1536 x 1984 detector input are ~350 MB (docs/memory.md)."""
    session = get_engine()._sessions["det"]
    if session.backend != "openvino" or session.device != "cpu":
        pytest.skip(f"the default engine serves {session.backend} on {session.device}, not OpenVINO on the CPU")
    feeds = {session.inputs[0]: np.random.default_rng(0).random((1, 3, 1984, 1536), dtype=np.float32)}
    session.run({session.inputs[0]: feeds[session.inputs[0]][:, :, :64, :64]})  # small: no release of its own
    before = _rss_mb()
    outputs = session.run(feeds)
    assert outputs[0].shape[-2:] == (1984, 1536)
    del outputs
    rise = _rss_mb() - before
    assert rise < 120, f"RSS stayed {rise:.0f} MiB higher after one large detector run"
