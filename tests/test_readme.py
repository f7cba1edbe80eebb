"""Every code block the README presents as runnable runs, so a snippet cannot rot.

A fenced ``bash``, ``python`` or ``js`` block is run as it stands, in a scratch folder that holds the files its
commands name (rendered images and a short clip) and links to the repository's ``.venv``, ``clients`` and
``models`` (where set-up rendered the project's labelled sets);
``localhost:50051`` is pointed at a live test server. A block preceded by ``<!-- not run: REASON -->`` is a
reference (a benchmark of minutes, the set-up itself): each ``python -m MODULE --flag`` in it must still name a
module whose ``--help`` exits 0 and lists every flag the README passes.
"""

from __future__ import annotations

import os
import re
import shlex
import shutil
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import cv2
import pytest

from tests import rendered
from tests.conftest import REPO

README = (REPO / "README.md").read_text(encoding="utf-8")
FENCE = re.compile(r"(?:<!--\s*not run:\s*(?P<why>.*?)\s*-->\s*\n)?```(?P<lang>bash|python|js)\n(?P<body>.*?)```",
                   re.S)


@dataclass(frozen=True)
class Block:
    lang: str
    body: str
    line: int
    not_run: str | None

    @property
    def id(self) -> str:
        return f"README.md:{self.line}:{self.lang}"


def _blocks() -> list[Block]:
    return [Block(m["lang"], m["body"], README.count("\n", 0, m.start("body")), m["why"])
            for m in FENCE.finditer(README)]


BLOCKS = _blocks()
RUNNABLE = [b for b in BLOCKS if b.not_run is None]
REFERENCE = [b for b in BLOCKS if b.not_run is not None]


def test_the_readme_has_runnable_blocks() -> None:
    assert {b.lang for b in RUNNABLE} >= {"bash", "python", "js"}, [b.id for b in RUNNABLE]


@pytest.fixture(scope="module")
def scratch(tmp_path_factory) -> Path:
    """A folder with every file the README's examples name."""
    root = tmp_path_factory.mktemp("readme")
    for name in (".venv", "clients", "models"):
        (root / name).symlink_to(REPO / name)
    page = rendered.page()
    for name in ("page.png", "a.jpg", "b.png", "receipt.jpg", "photo.jpg"):
        cv2.imwrite(str(root / name), page)
    cv2.imwrite(str(root / "crop.png"), rendered.line("ZVI GALIL"))
    writer = cv2.VideoWriter(str(root / "clip.mp4"), cv2.VideoWriter_fourcc(*"mp4v"), 5, (640, 480))
    for _ in range(6):
        writer.write(page)
    writer.release()
    return root


@pytest.fixture(scope="module")
def served():
    from server.config import ServerConfig
    from server.embedded import ServerThread
    from tests.conftest import get_engine

    server = ServerThread(get_engine, ServerConfig(host="127.0.0.1", port=0))
    yield server
    server.stop()


def _command(block: Block, target: str) -> list[str]:
    body = block.body.replace("localhost:50051", target)
    if block.lang == "python":
        return [sys.executable, "-c", body]
    if block.lang == "js":
        if shutil.which("node") is None or not (REPO / "clients" / "node" / "node_modules").is_dir():
            pytest.skip("node or the Node client's packages are not installed (scripts/setup.sh installs them)")
        return ["node", "-e", body]
    return ["bash", "-euo", "pipefail", "-c", body]


@pytest.mark.parametrize("block", RUNNABLE, ids=[b.id for b in RUNNABLE])
def test_runnable_block_runs(block: Block, scratch: Path, served) -> None:
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    out = subprocess.run(_command(block, served.target), cwd=scratch, env=env, capture_output=True, text=True,
                         timeout=300)
    assert out.returncode == 0, f"{block.id} exited {out.returncode}:\n{block.body}\n{out.stdout}\n{out.stderr}"
    assert "Traceback" not in out.stderr, out.stderr


def _invocations(body: str) -> list[tuple[str, list[str]]]:
    """(module, flags) of every ``python -m MODULE ...`` in a shell block (continuation lines joined)."""
    found = []
    for command in body.replace("\\\n", " ").splitlines():
        words = shlex.split(command.split("#", 1)[0]) if "python" in command else []
        for i, word in enumerate(words[:-2]):
            if word.endswith("python") and words[i + 1] == "-m":
                flags = [w.split("=")[0] for w in words[i + 3:] if w.startswith("--")]
                found.append((words[i + 2], flags))
    return found


@pytest.mark.parametrize("block", REFERENCE, ids=[b.id for b in REFERENCE])
def test_reference_block_names_real_commands_and_flags(block: Block) -> None:
    invocations = _invocations(block.body)
    if not invocations:
        pytest.skip(f"{block.id} has no python -m command ({block.not_run})")
    for module, flags in invocations:
        out = subprocess.run([sys.executable, "-m", module, "--help"], cwd=REPO, capture_output=True, text=True,
                             timeout=120)
        assert out.returncode == 0, f"{block.id}: python -m {module} --help exited {out.returncode}: {out.stderr}"
        missing = [f for f in flags if f not in out.stdout]
        assert not missing, f"{block.id}: python -m {module} has no {missing}"
