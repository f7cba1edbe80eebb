"""Every peer adapter gives the common result type on one rendered page (peers are in requirements-dev.txt)."""

from __future__ import annotations

from pathlib import Path

import pytest

from bench.peers import PEERS, missing_peers, peer_recognizer


@pytest.mark.parametrize("name", sorted(PEERS))
def test_peer_reads_a_rendered_line(name: str, tmp_path: Path) -> None:
    cv2 = pytest.importorskip("cv2")
    import numpy as np

    assert missing_peers([name]) == {}, "peers are pinned in requirements-dev.txt"
    page = np.full((80, 520, 3), 255, np.uint8)
    cv2.putText(page, "HELLO WORLD 2026", (12, 55), cv2.FONT_HERSHEY_SIMPLEX, 1.4, (0, 0, 0), 3)
    image = tmp_path / "line.png"
    cv2.imwrite(str(image), page)
    lines = peer_recognizer(name)(image, False)
    assert lines and all(isinstance(t, str) and (box is None or len(box) == 4) for t, box in lines)
    assert "HELLO" in " ".join(t for t, _ in lines).upper()
