"""`python -m edge_runtime batch`: the same bytes as `document`, names, report.json, resume, collected failures,
Ctrl-C, and a born-digital run that never loads the models. Real documents (pdfs.py) and the real engine; the
worker processes (one test) load their own."""

from __future__ import annotations

import io
import json
import os
import subprocess
import sys
from dataclasses import asdict
from pathlib import Path
from typing import Any

import numpy as np
import pikepdf
import pytest

from edge_runtime.cli import main
from edge_runtime.config import EngineConfig
from edge_runtime.document import batch, batch_report
from edge_runtime.document import cli as document_cli
from edge_runtime.document.batch import run_batch, worker_config
from edge_runtime.document.batch_inputs import InputError, find_inputs
from edge_runtime.document.batch_report import JOURNAL
from edge_runtime.document.lazy import LazyEngine
from edge_runtime.document.outputs import EXTENSIONS, FORMATS
from edge_runtime.document.sources import DocumentOptions
from edge_runtime.types import OcrResult
from tests.conftest import REPO, get_engine
from tests.edge_runtime.document.pdfs import Picture, Text, encrypt, make_pdf, scan, tiff


def _typed(*lines: str) -> bytes:
    return make_pdf([[Text(line, 72, 700, 12)] for line in lines])


def _scanned(words: str) -> bytes:
    return make_pdf([[Picture(scan(words), 72, 400, 400, 100)]])


def _report(out: Path) -> dict[str, Any]:
    return json.loads((out / "report.json").read_text(encoding="utf-8"))


def _files(folder: Path) -> list[str]:
    return sorted(p.relative_to(folder).as_posix() for p in folder.rglob("*") if p.is_file())


def _born_digital_folder(root: Path) -> Path:
    docs = root / "docs"
    (docs / "b").mkdir(parents=True)
    (docs / "a.pdf").write_bytes(_typed("Harbour traffic rose in March", "Berths were full all summer"))
    (docs / "b" / "c.pdf").write_bytes(_typed("Third report closes the year"))
    (docs / "b" / "d.pdf").write_bytes(_typed("Fourth one is short"))
    return docs


class _Never:
    """A Recognizer for runs that must not OCR: failing loudly if they do."""

    def recognize(self, image: np.ndarray) -> OcrResult:
        raise AssertionError("a born-digital page was OCR'd")


# ---- the same bytes as `document`, read by worker processes --------------------------------------------------------
def test_worker_processes_write_what_document_writes_byte_for_byte(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    docs = tmp_path / "docs"
    (docs / "scans").mkdir(parents=True)
    (docs / "report.pdf").write_bytes(_typed("Harbour traffic rose in March", "Berths were full all summer"))
    (docs / "scans" / "invoice.pdf").write_bytes(_scanned("Invoice total 42"))
    (docs / "scans" / "fax.tiff").write_bytes(tiff([scan("first page"), scan("second page")]))
    out = tmp_path / "out"
    done = subprocess.run(
        [sys.executable, "-m", "edge_runtime", "batch", str(docs), "--out", str(out), "--to", ",".join(FORMATS),
         "--workers", "2"],
        cwd=tmp_path, env={**os.environ, "PYTHONPATH": str(REPO)}, capture_output=True, text=True, timeout=600,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert "pages/s" in done.stderr and "Traceback" not in done.stderr
    names = ["report.pdf", "scans/fax.tiff", "scans/invoice.pdf"]
    assert _files(out) == sorted(["report.json", *(n + EXTENSIONS[f] for n in names for f in FORMATS)])
    report = _report(out)
    assert {n: (r["pages"], r["error"], r["page_errors"]) for n, r in report["inputs"].items()} == {
        "report.pdf": (2, None, []),
        "scans/fax.tiff": (2, None, []),
        "scans/invoice.pdf": (1, None, []),
    }
    assert report["totals"]["pages"] == 5 and report["last_run"]["read"] == 3

    # `document` as it runs, its engine (same configuration) loaded once for the 18 runs instead of once per run
    def shared(config: EngineConfig) -> LazyEngine:
        return LazyEngine(load=lambda: get_engine(**asdict(config)))

    monkeypatch.setattr(document_cli, "LazyEngine", shared)
    for name in names:
        for fmt in FORMATS:
            expected = tmp_path / "document" / (name + EXTENSIONS[fmt])
            assert main(["document", str(docs / name), "--to", fmt, "-o", str(expected)]) == 0
            assert (out / (name + EXTENSIONS[fmt])).read_bytes() == expected.read_bytes(), (name, fmt)
    invoice = (out / "scans/invoice.pdf.txt").read_text(encoding="utf-8")
    assert "42" in invoice  # OCR'd, not an empty page written alike by both


# ---- resume ----------------------------------------------------------------------------------------------------
@pytest.mark.parametrize("damage", ["changed", "deleted"])
def test_a_second_run_reads_again_only_the_document_whose_output_is_not_as_written(tmp_path: Path, damage: str) -> None:
    docs, out = _born_digital_folder(tmp_path), tmp_path / "out"
    stream = io.StringIO()
    assert run_batch([str(docs)], out, ["json", "text", "pdf"], engine=_Never(), stream=stream) == 0
    first = {p: (out / p).read_bytes() for p in _files(out) if p != "report.json"}
    stamps = {p: (out / p).stat().st_mtime_ns for p in first}
    target = out / "b/c.pdf.txt"
    if damage == "changed":
        target.write_text("not what was read\f", encoding="utf-8")
    else:
        target.unlink()
    assert run_batch([str(docs)], out, ["json", "text", "pdf"], engine=_Never(), stream=stream) == 0
    report = _report(out)
    assert {n: r["run"] for n, r in report["inputs"].items()} == {"a.pdf": 1, "b/c.pdf": 2, "b/d.pdf": 1}
    assert (report["last_run"]["read"], report["last_run"]["skipped"]) == (1, 2)
    assert {p: (out / p).read_bytes() for p in first} == first  # the redone document's outputs are as before
    assert all((out / p).stat().st_mtime_ns == stamps[p] for p in first if not p.startswith("b/c.pdf"))
    assert not (out / JOURNAL).exists()


def test_a_changed_file_new_settings_or_a_new_format_read_again(tmp_path: Path) -> None:
    docs, out = _born_digital_folder(tmp_path), tmp_path / "out"
    stream = io.StringIO()

    def runs() -> dict[str, int]:
        return {n: r["run"] for n, r in _report(out)["inputs"].items()}

    assert run_batch([str(docs)], out, ["text"], engine=_Never(), stream=stream) == 0
    (docs / "a.pdf").write_bytes(_typed("The harbour was rebuilt"))
    assert run_batch([str(docs)], out, ["text"], engine=_Never(), stream=stream) == 0
    assert runs() == {"a.pdf": 2, "b/c.pdf": 1, "b/d.pdf": 1}
    assert (out / "a.pdf.txt").read_text(encoding="utf-8").split() == ["The", "harbour", "was", "rebuilt"]
    assert run_batch([str(docs)], out, ["text", "md"], engine=_Never(), stream=stream) == 0
    assert runs() == {"a.pdf": 3, "b/c.pdf": 3, "b/d.pdf": 3} and (out / "b/d.pdf.md").is_file()
    assert run_batch([str(docs)], out, ["md"], DocumentOptions(pages="1"), engine=_Never(), stream=stream) == 0
    assert runs() == {"a.pdf": 4, "b/c.pdf": 4, "b/d.pdf": 4}
    assert run_batch([str(docs)], out, ["md"], DocumentOptions(pages="1"), engine=_Never(), stream=stream) == 0
    assert runs() == {"a.pdf": 4, "b/c.pdf": 4, "b/d.pdf": 4} and _report(out)["last_run"]["skipped"] == 3


# ---- failures -----------------------------------------------------------------------------------------------------
def _two_pages_the_second_huge() -> bytes:
    merged = pikepdf.open(io.BytesIO(_typed("A normal first page")))
    merged.pages.extend(pikepdf.open(io.BytesIO(make_pdf([[Text("huge", 72, 700)]], (200 * 72, 200 * 72)))).pages)
    data = io.BytesIO()
    merged.save(data)
    return data.getvalue()


def test_failures_are_collected_with_their_reasons_and_read_again_next_time(tmp_path: Path) -> None:
    docs, out = tmp_path / "docs", tmp_path / "out"
    docs.mkdir()
    (docs / "good.pdf").write_bytes(_typed("Harbour traffic rose in March"))
    (docs / "broken.pdf").write_bytes(_typed("cut short")[:200])
    (docs / "locked.pdf").write_bytes(encrypt(_typed("Locked words"), "pw"))
    (docs / "notes.png").write_bytes(b"this is not a picture")
    (docs / "huge.pdf").write_bytes(_two_pages_the_second_huge())
    stream = io.StringIO()
    assert run_batch([str(docs)], out, ["text", "pdf"], engine=_Never(), stream=stream) == 1
    report = _report(out)
    records = report["inputs"]
    assert {n: r["error"] for n, r in records.items()} == {
        "broken.pdf": "DOCUMENT_UNREADABLE",
        "good.pdf": None,
        "huge.pdf": None,
        "locked.pdf": "DOCUMENT_ENCRYPTED",
        "notes.png": "DOCUMENT_UNREADABLE",
    }
    assert records["huge.pdf"]["page_errors"] == [{"page": 2, "error": "PAGE_TOO_LARGE"}]
    assert records["huge.pdf"]["pages"] == 2
    assert report["totals"] | {"seconds": 0} == {
        "inputs": 5, "failed": 3, "pages": 3, "page_errors": 1, "seconds": 0,
    }  # fmt: skip
    assert _files(out) == ["good.pdf.pdf", "good.pdf.txt", "huge.pdf.pdf", "huge.pdf.txt", "report.json"]
    errors = [line for line in stream.getvalue().splitlines() if line.startswith("error: ")]
    assert sorted(e.rsplit("[", 1)[1] for e in errors) == [
        "DOCUMENT_ENCRYPTED]", "DOCUMENT_UNREADABLE]", "DOCUMENT_UNREADABLE]", "PAGE_TOO_LARGE]",
    ]  # fmt: skip
    again = run_batch([str(docs)], out, ["text", "pdf"], DocumentOptions(password="pw"), engine=_Never(), stream=stream)
    records = _report(out)["inputs"]
    assert again == 1  # broken.pdf still fails, and huge.pdf's refused page is still refused
    assert {n: r["run"] for n, r in records.items()} == {
        "broken.pdf": 2, "good.pdf": 1, "huge.pdf": 1, "locked.pdf": 2, "notes.png": 2,
    }  # fmt: skip
    assert records["locked.pdf"]["error"] is None
    assert (out / "locked.pdf.txt").read_text(encoding="utf-8").split() == ["Locked", "words"]


# ---- the engine: loaded only for OCR; Ctrl-C ------------------------------------------------------------------------
def test_born_digital_documents_never_load_the_engine(tmp_path: Path, engine) -> None:
    docs, out = _born_digital_folder(tmp_path), tmp_path / "out"
    lazy = LazyEngine(load=lambda: engine)
    assert run_batch([str(docs)], out, ["json"], engine=lazy, stream=io.StringIO()) == 0
    assert not lazy.loaded and _report(out)["totals"]["pages"] == 4
    scans = tmp_path / "scans"
    scans.mkdir()
    (scans / "s.pdf").write_bytes(_scanned("Scanned words only"))
    assert run_batch([str(scans)], out, ["json"], engine=lazy, stream=io.StringIO()) == 0
    assert lazy.loaded


class _StoppedAt:
    """The real engine, with Ctrl-C pressed as its first page starts (what SIGINT raises in the main thread)."""

    def __init__(self, engine: Any) -> None:
        self.engine = engine
        self.calls = 0

    def recognize(self, image: np.ndarray) -> OcrResult:
        self.calls += 1
        if self.calls == 1:
            raise KeyboardInterrupt
        return self.engine.recognize(image)


def test_ctrl_c_stops_with_the_report_written_and_no_partial_output(tmp_path: Path, engine) -> None:
    docs, out = tmp_path / "docs", tmp_path / "out"
    docs.mkdir()
    (docs / "a.pdf").write_bytes(_typed("Read before the stop"))
    (docs / "b.pdf").write_bytes(make_pdf([[Text("typed", 72, 700)], [Picture(scan("Scanned"), 72, 400, 400, 100)]]))
    (docs / "c.pdf").write_bytes(_typed("Never reached"))
    stopping = _StoppedAt(engine)
    assert run_batch([str(docs)], out, ["json", "pdf"], engine=stopping, stream=io.StringIO()) == 130
    report = _report(out)
    assert list(report["inputs"]) == ["a.pdf"] and report["last_run"]["interrupted"] is True
    assert _files(out) == ["a.pdf.json", "a.pdf.pdf", "report.json"]  # b's first page was written to .part only
    assert run_batch([str(docs)], out, ["json", "pdf"], engine=stopping, stream=io.StringIO()) == 0
    assert {n: r["run"] for n, r in _report(out)["inputs"].items()} == {"a.pdf": 1, "b.pdf": 2, "c.pdf": 2}


# ---- names --------------------------------------------------------------------------------------------------------
def test_names_are_relative_to_the_folder_or_glob_or_the_current_folder(tmp_path: Path) -> None:
    docs = _born_digital_folder(tmp_path / "work")
    (docs / "notes.txt").write_text("not a document")
    (docs / ".hidden.pdf").write_bytes(b"")
    elsewhere = tmp_path / "elsewhere" / "x.pdf"
    elsewhere.parent.mkdir()
    elsewhere.write_bytes(b"")
    cwd = tmp_path / "work"

    def names(*arguments: str | Path, exclude: Path | None = None) -> list[str]:
        return [d.name for d in find_inputs(list(map(str, arguments)), exclude=exclude, cwd=cwd)]

    assert names(docs) == ["a.pdf", "b/c.pdf", "b/d.pdf"]
    assert names(docs / "b") == ["c.pdf", "d.pdf"]
    assert names(f"{docs}/**/*.pdf") == ["a.pdf", "b/c.pdf", "b/d.pdf"]
    assert names(f"{docs}/b/*.pdf") == ["c.pdf", "d.pdf"]
    assert names(docs / "b" / "c.pdf", elsewhere) == ["docs/b/c.pdf", "x.pdf"]
    assert names(docs, docs / "a.pdf") == ["a.pdf", "b/c.pdf", "b/d.pdf"]  # one document given twice: read once
    assert names(docs, exclude=docs / "b") == ["a.pdf"]  # the output folder is never searched
    for arguments in [(elsewhere, tmp_path / "work" / "x.pdf"), (f"{docs}/*.tiff",)]:
        with pytest.raises(InputError) as error:
            names(*arguments)
        assert error.value.reason == "INPUT_NOT_FOUND"
    (tmp_path / "elsewhere" / "c.pdf").write_bytes(b"")
    with pytest.raises(InputError) as error:
        names(docs / "b", elsewhere.parent)  # c.pdf from both folders
    assert error.value.reason == "INPUT_NAME_CONFLICT"


def test_usage_errors_exit_2_with_a_reason(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    docs = _born_digital_folder(tmp_path)
    other = tmp_path / "other"
    other.mkdir()
    (other / "a.pdf").write_bytes(_typed("the same name"))
    assert main(["batch", str(docs), str(other), "--out", str(tmp_path / "out"), "--to", "text"]) == 2
    assert capsys.readouterr().err.rstrip().endswith("[INPUT_NAME_CONFLICT]")
    assert not (tmp_path / "out").exists()  # refused before anything is read or written
    for argv in (["--to", "text,xml"], ["--to", "text", "--workers", "0"], ["--to", ""]):
        with pytest.raises(SystemExit) as usage:
            main(["batch", str(docs), "--out", str(tmp_path / "out"), *argv])
        assert usage.value.code == 2 and capsys.readouterr().err.rstrip().endswith("[USAGE_INVALID]")


def test_workers_share_the_cores_unless_threads_are_given(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(os, "cpu_count", lambda: 16)
    assert [worker_config(EngineConfig(), n).num_threads for n in (1, 4, 16, 32)] == [16, 4, 1, 1]
    assert worker_config(EngineConfig(threads=3), 4).num_threads == 3


def test_a_crash_between_saves_loses_no_finished_document(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Records are journaled as each document finishes; report.json is rewritten now and then (here: never)."""
    monkeypatch.setattr(batch_report, "SAVE_EVERY", float("inf"))
    docs, out = _born_digital_folder(tmp_path), tmp_path / "out"
    monkeypatch.setattr(batch.Report, "save", lambda self, last_run=None: None)  # the crash: never saved
    assert run_batch([str(docs)], out, ["text"], engine=_Never(), stream=io.StringIO()) == 0
    monkeypatch.undo()
    assert not (out / "report.json").exists()
    with (out / JOURNAL).open("a", encoding="utf-8") as journal:
        journal.write('{"name": "b/d.pdf", "run": 1, "err')  # a record the crash cut short
    loaded = batch_report.Report.load(out)
    assert sorted(loaded.records) == ["a.pdf", "b/c.pdf", "b/d.pdf"] and loaded.runs == 1
    assert run_batch([str(docs)], out, ["text"], engine=_Never(), stream=io.StringIO()) == 0
    assert _report(out)["last_run"]["skipped"] == 3 and not (out / JOURNAL).exists()
