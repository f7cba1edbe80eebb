"""`batch --ray`: a local Ray (two CPUs, its own engine actor loading the real models) writes the files the
single-box command writes, byte for byte, with the same report records; a second run (of either) skips what is
done and reads again what is not. One Ray session for the module: starting Ray costs seconds."""

from __future__ import annotations

import io
import json
import os
import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest

from edge_runtime.config import EngineConfig
from edge_runtime.document.batch import main as batch_main
from edge_runtime.document.batch import run_batch
from edge_runtime.document.batch_ray import LOCAL, ActorPlan, RayOptions, plan_actors
from edge_runtime.document.lazy import LazyEngine
from edge_runtime.document.outputs import EXTENSIONS, FORMATS
from edge_runtime.errors import OcrError
from tests.conftest import REPO, get_engine

SAMPLES = REPO / "samples"


@pytest.fixture(scope="module")
def local_ray() -> Iterator[ModuleType]:
    import ray

    ray.init(
        num_cpus=2,
        include_dashboard=False,
        object_store_memory=200 * 1024**2,
        runtime_env={"env_vars": {"PYTHONPATH": str(REPO)}},  # the actors import this checkout's edge_runtime
    )
    yield ray
    ray.shutdown()


def _files(folder: Path) -> dict[str, bytes]:
    return {p.relative_to(folder).as_posix(): p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()}


def _records(out: Path) -> dict[str, Any]:
    """report.json's records without what differs between two runs of the same work (its time, its run)."""
    report = json.loads((out / "report.json").read_text(encoding="utf-8"))
    return {name: {k: v for k, v in r.items() if k not in ("seconds", "run")} for name, r in report["inputs"].items()}


def _last_run(out: Path) -> tuple[int, int, int]:
    last = json.loads((out / "report.json").read_text(encoding="utf-8"))["last_run"]
    return last["read"], last["skipped"], last["failed"]


def test_ray_writes_what_the_single_box_command_writes_and_resumes(tmp_path: Path, local_ray: ModuleType) -> None:
    docs = tmp_path / "docs"
    (docs / "scans").mkdir(parents=True)
    shutil.copy(SAMPLES / "article.pdf", docs / "article.pdf")  # 3 born-digital pages
    shutil.copy(SAMPLES / "receipt.jpg", docs / "scans" / "receipt.jpg")  # OCR'd
    shutil.copy(SAMPLES / "line.png", docs / "scans" / "line.png")
    (docs / "broken.pdf").write_bytes(b"%PDF-1.7\nnot a PDF after all")  # fails alike, with its reason
    single, on_ray = tmp_path / "single", tmp_path / "ray"
    engine = LazyEngine(load=get_engine)
    assert run_batch([str(docs)], single, FORMATS, engine=engine, stream=io.StringIO()) == 1
    assert run_batch([str(docs)], on_ray, FORMATS, ray=RayOptions(LOCAL), stream=io.StringIO()) == 1

    expected = _files(single)
    names = ["article.pdf", "scans/line.png", "scans/receipt.jpg"]
    assert set(expected) == {"report.json", *(n + EXTENSIONS[f] for n in names for f in FORMATS)}
    written = _files(on_ray)
    assert set(written) == set(expected)
    for name in sorted(expected):
        if name != "report.json":
            assert written[name] == expected[name], name
    assert _records(on_ray) == _records(single)
    records = _records(on_ray)
    assert [records[n]["pages"] for n in names] == [3, 1, 1]
    assert records["broken.pdf"]["error"] == "DOCUMENT_UNREADABLE"
    assert "PHARMACY" in written["scans/receipt.jpg.txt"].decode()  # OCR'd by the actor, not two empty pages alike
    assert _last_run(on_ray) == (4, 0, 1)

    # a job the single-box command started is resumed by Ray: only the failed document is read again
    assert run_batch([str(docs)], single, FORMATS, ray=RayOptions(LOCAL), stream=io.StringIO()) == 1
    assert _last_run(single) == (1, 3, 1)

    # the second run: what is done is skipped, a missing output's document and the failed one are read again
    (on_ray / "scans/receipt.jpg.txt").unlink()
    stamps = {p: (on_ray / p).stat().st_mtime_ns for p in written if p.startswith("article.pdf")}
    assert run_batch([str(docs)], on_ray, FORMATS, ray=RayOptions(LOCAL), stream=io.StringIO()) == 1
    assert _last_run(on_ray) == (2, 2, 1)
    assert {p: b for p, b in _files(on_ray).items() if p != "report.json"} == {
        p: b for p, b in expected.items() if p != "report.json"
    }
    assert all((on_ray / p).stat().st_mtime_ns == stamp for p, stamp in stamps.items())
    report = json.loads((on_ray / "report.json").read_text(encoding="utf-8"))
    assert {n: r["run"] for n, r in report["inputs"].items()} == {
        "article.pdf": 1,
        "broken.pdf": 2,
        "scans/line.png": 1,
        "scans/receipt.jpg": 2,
    }


def test_a_document_whose_engine_fails_is_recorded_as_the_single_box_command_records_it(
    tmp_path: Path, local_ray: ModuleType
) -> None:
    docs = tmp_path / "docs"
    docs.mkdir()
    shutil.copy(SAMPLES / "line.png", docs / "line.png")
    config = EngineConfig(bundle="nosuch")  # the actor's engine fails to load at the page that needs it
    single, on_ray = tmp_path / "single", tmp_path / "ray"
    assert run_batch([str(docs)], single, ["text"], config=config, stream=io.StringIO()) == 1
    assert run_batch([str(docs)], on_ray, ["text"], config=config, ray=RayOptions(LOCAL), stream=io.StringIO()) == 1
    assert _records(on_ray) == _records(single)
    assert _records(on_ray)["line.png"]["error"] == "BUNDLE_UNKNOWN"
    assert not (on_ray / "line.png.txt").exists() and not list(on_ray.glob("*.part"))


# ---- the actor pool's size ---------------------------------------------------------------------------------------
def test_actors_take_their_threads_in_cpus_and_leave_some_for_rendering() -> None:
    assert plan_actors({"CPU": 2}, 0, EngineConfig()) == ActorPlan(actors=1, threads=1, gpus=0)
    assert plan_actors({"CPU": 64}, 0, EngineConfig(threads=4)) == ActorPlan(actors=14, threads=4, gpus=0)
    assert plan_actors({"CPU": 64}, 3, EngineConfig(threads=4)) == ActorPlan(actors=3, threads=4, gpus=0)
    assert plan_actors({"CPU": 16, "GPU": 2}, 0, EngineConfig(device="cuda")) == ActorPlan(2, 1, 1)


@pytest.mark.parametrize(
    ("resources", "actors", "config"),
    [
        ({"CPU": 2}, 2, EngineConfig()),  # both CPUs for actors: no page would ever be rendered
        ({"CPU": 8}, 0, EngineConfig(threads=8)),
        ({"CPU": 16, "GPU": 2}, 3, EngineConfig(device="cuda")),
        ({"CPU": 16}, 0, EngineConfig(device="cuda")),
    ],
)
def test_a_pool_that_cannot_fit_is_refused_before_it_waits_for_ever(
    resources: dict[str, float], actors: int, config: EngineConfig
) -> None:
    with pytest.raises(OcrError) as raised:
        plan_actors(resources, actors, config)
    assert raised.value.reason == "RAY_RESOURCES_SHORT"


# ---- the command line ----------------------------------------------------------------------------------------------
def test_ray_actors_need_ray(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as raised:
        batch_main([str(SAMPLES / "line.png"), "--out", str(tmp_path), "--to", "json", "--ray-actors", "2"])
    assert raised.value.code == 2
    assert capsys.readouterr().err.rstrip().endswith("[USAGE_INVALID]")


def test_the_runtime_does_not_import_ray_without_the_flag(tmp_path: Path) -> None:
    probe = (
        "import sys\n"
        "from pathlib import Path\n"
        "from edge_runtime.document.batch import run_batch\n"
        f"assert run_batch([{str(SAMPLES / 'article.pdf')!r}], Path({str(tmp_path / 'out')!r}), ['text']) == 0\n"
        "assert 'ray' not in sys.modules, 'ray was imported'\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", probe], cwd=tmp_path, env={**os.environ, "PYTHONPATH": str(REPO)},
        capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert (tmp_path / "out" / "article.pdf.txt").stat().st_size > 0


def test_an_address_nothing_answers_on_is_refused_at_once(tmp_path: Path) -> None:
    done = subprocess.run(
        [sys.executable, "-m", "edge_runtime", "batch", str(SAMPLES / "line.png"), "--out", str(tmp_path / "out"),
         "--to", "text", "--ray", "127.0.0.1:1"],
        env={**os.environ, "PYTHONPATH": str(REPO)}, capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert done.returncode == 2, done.stderr
    assert done.stderr.rstrip().endswith("[RAY_UNAVAILABLE]") and "Traceback" not in done.stderr
