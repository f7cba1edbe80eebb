"""Stream test fixtures: the generated clips, written once per session as small MJPG videos."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.stream import stream_videos


@pytest.fixture(scope="session")
def clips(tmp_path_factory: pytest.TempPathFactory) -> dict[str, tuple[stream_videos.Scene, Path]]:
    folder = tmp_path_factory.mktemp("clips")
    out = {}
    for name, make in stream_videos.SCENES.items():
        scene = make()
        out[name] = (scene, stream_videos.write_video(scene, folder / f"{name}.avi"))
    return out
