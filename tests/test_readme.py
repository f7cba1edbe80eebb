"""The README and every page of docs/ hold only what runs and what is so, so that no page can rot.

Every fenced ``bash``, ``python`` or ``js`` block runs as it stands, in a scratch folder that links the
repository's ``.venv``, ``clients`` and ``models`` and holds ``samples/`` written by the module set-up runs
(``edge_runtime.evaluation.synth.samples``); ``localhost:50051`` is pointed at a live test server, and
``localhost:8080`` at its HTTP port. A block
preceded by ``<!-- not run: REASON -->`` is a reference (a benchmark of minutes, the set-up itself): each
``python -m MODULE --flag`` in it must still name a module whose ``--help`` exits 0 and lists every flag.

What serves is said in one place and checked here against ``docs/reference-host.json``, the reference host's
gate record: every ``openvino: det X, rec Y`` on the pages, the served column of the INT8 table and the
default row of the speed table; every quoted ``stage ... serves ...`` log line must be what the server's own
log call writes (captured from the live server) for the record's decision.
"""

from __future__ import annotations

import dataclasses
import json
import logging
import os
import re
import shlex
import shutil
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.conftest import REPO

PAGES = {
    p.relative_to(REPO).as_posix(): p.read_text(encoding="utf-8")
    for p in [REPO / "README.md", *sorted((REPO / "docs").glob("*.md"))]
}
README_MAX_LINES = 250
REFERENCE = json.loads((REPO / "docs" / "reference-host.json").read_text(encoding="utf-8"))
FENCE = re.compile(r"(?:<!--\s*not run:\s*(?P<why>.*?)\s*-->\s*\n)?```(?P<lang>bash|python|js)\n(?P<body>.*?)```", re.S)


@dataclass(frozen=True)
class Block:
    page: str
    lang: str
    body: str
    line: int
    not_run: str | None

    @property
    def id(self) -> str:
        return f"{self.page}:{self.line}:{self.lang}"


def _blocks() -> list[Block]:
    return [
        Block(page, m["lang"], m["body"], text.count("\n", 0, m.start("body")), m["why"])
        for page, text in PAGES.items()
        for m in FENCE.finditer(text)
    ]


BLOCKS = _blocks()
RUNNABLE = [b for b in BLOCKS if b.not_run is None]
REFERENCE_BLOCKS = [b for b in BLOCKS if b.not_run is not None]


def test_the_readme_is_a_front_page_with_an_example_of_each_kind() -> None:
    readme = PAGES["README.md"]
    assert readme.count("\n") <= README_MAX_LINES, "README.md is longer than a front page: move text to docs/"
    assert {b.lang for b in RUNNABLE if b.page == "README.md"} >= {"bash", "python", "js"}


def _slug(heading: str) -> str:
    """GitHub's anchor for a heading: lower case, punctuation dropped, spaces to hyphens."""
    return re.sub(r"[^\w\- ]", "", heading.strip().lower()).replace(" ", "-")


@pytest.mark.parametrize("page", list(PAGES))
def test_every_relative_link_names_a_file_and_heading_that_exist(page: str) -> None:
    here = (REPO / page).parent
    broken = []
    for target in re.findall(r"\]\(([^)\s]+)\)", PAGES[page]):
        if re.match(r"[a-z]+://", target):
            continue
        path, _, anchor = target.partition("#")
        file = (here / path).resolve() if path else REPO / page
        if not file.exists():
            broken.append(target)
        elif anchor and file.suffix == ".md":
            headings = re.findall(r"^#+ (.+)$", file.read_text(encoding="utf-8"), re.M)
            if anchor not in {_slug(h) for h in headings}:
                broken.append(target)
    assert not broken, f"{page}: broken links {broken}"


def test_examples_name_only_sample_files_that_set_up_writes() -> None:
    from edge_runtime.evaluation.synth.samples import SAMPLES

    named = {name for text in PAGES.values() for name in re.findall(r"\bsamples/([\w.-]+\.\w+)", text)}
    assert named, "no page names a file of samples/"
    assert named <= set(SAMPLES), f"pages name samples the set-up does not write: {named - set(SAMPLES)}"
    setup = (REPO / "scripts" / "setup.sh").read_text(encoding="utf-8")
    assert re.search(r"-m edge_runtime\.evaluation\.synth\.samples samples\b", setup), "set-up must write samples/"


# ---- what serves: one reference record, every claim on the pages checked against it --------------------------
def _served(backend: str) -> dict[str, str]:
    return {stage: entry["serve"] for stage, entry in REFERENCE["records"][backend]["stages"].items()}


def test_every_claim_of_what_serves_on_the_reference_host_matches_its_record() -> None:
    claims = [
        (page, m)
        for page, text in PAGES.items()
        for m in re.finditer(r"`(openvino|onnxruntime): det (\w+), rec (\w+)`", text)
    ]
    assert {m[1] for _, m in claims} == {"openvino", "onnxruntime"}, "the README says what serves on each backend"
    for page, m in claims:
        said = {"det": m[2].lower(), "rec": m[3].lower()}
        assert said == _served(m[1]), f"{page}: {m[0]} contradicts docs/reference-host.json ({_served(m[1])})"


def test_the_int8_table_and_the_speed_table_show_the_records_decision() -> None:
    names = {"OpenVINO": "openvino", "ONNX Runtime": "onnxruntime"}
    rows = re.findall(
        r"^\| (OpenVINO|ONNX Runtime) \| (det|rec) \|.*\| \**(FP32|BF16|INT8)\b[^|]*\|$", PAGES["docs/int8.md"], re.M
    )
    assert len(rows) == 4, rows
    for backend, stage, served in rows:
        assert served.lower() == _served(names[backend])[stage], f"docs/int8.md: {backend} {stage} {served}"
    default = re.search(r"OpenVINO auto \(det (\w+) \+ rec (\w+); default\)", PAGES["docs/speed.md"])
    assert default is not None, "docs/speed.md: the default's row names what served"
    assert {"det": default[1].lower(), "rec": default[2].lower()} == _served("openvino")


@pytest.fixture(scope="module")
def served():
    """A live server on port 0, and the per-stage lines it logged at start-up (its own log call's format)."""
    from server.config import ServerConfig
    from server.embedded import ServerThread
    from tests.conftest import get_engine

    lines: list[logging.LogRecord] = []

    class Collect(logging.Handler):
        def emit(self, record: logging.LogRecord) -> None:
            if " serves " in str(record.msg):
                lines.append(record)

    root, handler = logging.getLogger(), Collect(logging.INFO)
    level = root.level
    root.addHandler(handler)
    root.setLevel(min(level, logging.INFO) if level else logging.INFO)
    try:
        import socket

        with socket.socket() as s:  # a free port for the HTTP/JSON examples (docs/http.md)
            s.bind(("127.0.0.1", 0))
            http_port = s.getsockname()[1]
        server = ServerThread(get_engine, ServerConfig(host="127.0.0.1", port=0, http_port=http_port))
    finally:
        root.removeHandler(handler)
        root.setLevel(level)
    server.stage_log = lines
    yield server
    server.stop()


def _reference_reason(stage: str, tmp_path: Path, monkeypatch) -> tuple[str, str]:
    """(precision, reason) the runtime resolves for ``stage`` on OpenVINO from the reference record, as if on
    the reference host (its CPU features)."""
    from edge_runtime import artifacts
    from models.bundle import load_bundle

    record = REFERENCE["records"]["openvino"]
    bundle = dataclasses.replace(load_bundle(REFERENCE["bundle"]), root=tmp_path)
    folder = artifacts.int8_dir(bundle, "openvino")
    folder.mkdir(parents=True, exist_ok=True)
    (folder / artifacts.RECORD).write_text(json.dumps(record), encoding="utf-8")
    for entry in record["stages"].values():
        (folder / entry["file"]).touch()
    monkeypatch.setattr(artifacts, "cpu_features", lambda: dict(record["inputs"]["cpu_features"]))
    _, precision, reason = artifacts.resolve_stage(bundle, "openvino", stage, "auto")
    return precision, reason


def test_every_quoted_log_line_is_what_the_server_writes(served, tmp_path, monkeypatch) -> None:
    logged = served.stage_log
    assert {r.args[0] for r in logged} >= {"det", "cls", "rec"}, [r.getMessage() for r in logged]
    formats = {str(r.msg) for r in logged}
    assert len(formats) == 1, formats
    shape = re.compile(re.escape(formats.pop()).replace("%s", "(.+?)") + "$")
    here = {r.args[0]: r.getMessage() for r in logged}
    quoted = [
        (page, line.strip())
        for page, text in PAGES.items()
        for line in text.splitlines()
        if re.match(r"\s*`?stage \w+ serves ", line)
    ]
    assert quoted, "the README quotes the reference host's start-up lines"
    for page, line in quoted:
        line = line.strip("`")
        m = shape.match(line)
        assert m is not None, f"{page}: {line!r} is not in the server's log format {shape.pattern!r}"
        stage = m[1]
        if stage == "cls":  # the same on every host
            assert line == here["cls"], f"{page}: {line!r}, the server logs {here['cls']!r}"
            continue
        precision, reason = _reference_reason(stage, tmp_path, monkeypatch)
        assert (m[2], m[3]) == (precision, reason), f"{page}: {line!r}; the record gives {precision}: {reason}"


# ---- runnable blocks --------------------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def scratch(tmp_path_factory) -> Path:
    """A folder like the repository root after set-up: the links, and samples/ written by set-up's module."""
    from edge_runtime.evaluation.synth.samples import write

    root = tmp_path_factory.mktemp("pages")
    for name in (".venv", "clients", "models"):
        (root / name).symlink_to(REPO / name)
    write(root / "samples")
    return root


def _command(block: Block, target: str, http_target: str) -> list[str]:
    body = block.body.replace("localhost:50051", target).replace("localhost:8080", http_target)
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
    out = subprocess.run(
        _command(block, served.target, f"127.0.0.1:{served.server.http_port}"),
        cwd=scratch,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert out.returncode == 0, f"{block.id} exited {out.returncode}:\n{block.body}\n{out.stdout}\n{out.stderr}"
    assert "Traceback" not in out.stderr, out.stderr


def _invocations(body: str) -> list[tuple[str, list[str]]]:
    """(module, flags) of every ``python -m MODULE ...`` in a shell block (continuation lines joined)."""
    found = []
    for command in body.replace("\\\n", " ").splitlines():
        words = shlex.split(command.split("#", 1)[0]) if "python" in command else []
        for i, word in enumerate(words[:-2]):
            if word.endswith("python") and words[i + 1] == "-m":
                flags = [w.split("=")[0] for w in words[i + 3 :] if w.startswith("--")]
                found.append((words[i + 2], flags))
    return found


@pytest.mark.parametrize("block", REFERENCE_BLOCKS, ids=[b.id for b in REFERENCE_BLOCKS])
def test_reference_block_names_real_commands_and_flags(block: Block) -> None:
    invocations = _invocations(block.body)
    if not invocations:
        pytest.skip(f"{block.id} has no python -m command ({block.not_run})")
    for module, flags in invocations:
        out = subprocess.run(
            [sys.executable, "-m", module, "--help"], cwd=REPO, capture_output=True, text=True, timeout=120
        )
        assert out.returncode == 0, f"{block.id}: python -m {module} --help exited {out.returncode}: {out.stderr}"
        missing = [f for f in flags if f not in out.stdout]
        assert not missing, f"{block.id}: python -m {module} has no {missing}"
