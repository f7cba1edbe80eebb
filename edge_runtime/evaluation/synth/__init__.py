"""Deterministic synthetic OCR sets with labels known by construction, for calibration, gates and tests.

The sets are written in the format of ``edge_runtime.evaluation.datasets`` (one folder per set with
``images/``, ``labels.jsonl`` and ``SOURCE.md``), so every tool that reads ``shared/eval`` reads them too:

- ``SETS``: the image sets (name, count, renderer), see ``sets.SetSpec``; beside them ``doc_synth``, documents
  as PDFs and page images (``docset``).
- ``default_dir()``: ``$OCR_SYNTH_DIR``, else ``models.bundle.model_dir() / "synth"`` (git-ignored).
- ``ensure(root=None, force=False, limit=None)``: render every set into ``root`` unless its stamp says this
  renderer already did; safe against concurrent callers; returns ``root``.
- ``python -m edge_runtime.evaluation.synth [--out DIR] [--force]``.

Two renders are byte-identical: each image has its own rng seeded from the set name and index, fonts come
from one pinned wheel (matplotlib's DejaVu and STIX), and the stamp records the renderer's source hash and
the versions of pillow, numpy, opencv and matplotlib.
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import json
import multiprocessing
import os
import shutil
import tempfile
from collections.abc import Iterator
from concurrent.futures import ProcessPoolExecutor
from importlib import metadata
from pathlib import Path

import numpy as np

from edge_runtime.evaluation.synth import docset
from edge_runtime.evaluation.synth.sets import SETS, SetSpec

__all__ = ["RENDER_VERSION", "SETS", "SetSpec", "default_dir", "ensure", "render", "stamp"]

RENDER_VERSION = 1
STAMP = ".stamp.json"
_PACKAGES = ("pillow", "numpy", "opencv-python-headless", "matplotlib")


def default_dir() -> Path:
    """``$OCR_SYNTH_DIR``, else ``synth/`` in the model cache (git-ignored, like the models)."""
    env = os.environ.get("OCR_SYNTH_DIR")
    if env:
        return Path(env).resolve()
    from models.bundle import model_dir

    return model_dir() / "synth"


def _version(package: str) -> str:
    try:
        return metadata.version(package)
    except metadata.PackageNotFoundError:
        return "absent"


def stamp(limit: int | None = None) -> dict:
    """What a render depends on: renderer source, package versions, RENDER_VERSION, the sets' counts."""
    digest = hashlib.sha256()
    for path in sorted(Path(__file__).parent.glob("*.py")):
        digest.update(path.name.encode() + b"\0" + path.read_bytes() + b"\0")
    return {
        "render_version": RENDER_VERSION,
        "source_sha256": digest.hexdigest(),
        "packages": {p: _version(p) for p in _PACKAGES},
        "sets": {**{s.name: _count(s, limit) for s in SETS}, docset.NAME: docset.page_count(limit)},
    }


def _count(spec: SetSpec, limit: int | None) -> int:
    return spec.count if limit is None else min(spec.count, limit)


def _seed(set_name: str, index: int) -> int:
    return int.from_bytes(hashlib.sha256(f"{set_name}:{index}".encode()).digest()[:8], "little")


def _read_stamp(root: Path) -> dict | None:
    try:
        return json.loads((root / STAMP).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None


@contextlib.contextmanager
def _locked(path: Path) -> Iterator[None]:
    with open(path, "a+b") as fh:
        fcntl.flock(fh, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(fh, fcntl.LOCK_UN)


def _render_one(task: tuple[str, int, str]) -> str:
    """Render image ``index`` of a set into ``folder``; return its labels.jsonl row."""
    from edge_runtime.evaluation.synth import canvas

    set_name, index, folder = task
    spec = next(s for s in SETS if s.name == set_name)
    img, row = spec.render(np.random.default_rng(_seed(set_name, index)))
    quality = int(row.pop("jpeg_quality", 90))
    name = f"images/{set_name}_{index:04d}{spec.ext}"
    (Path(folder) / name).write_bytes(canvas.encode(img, spec.ext, quality))
    return json.dumps({"image": name, **row}, ensure_ascii=False)


def render(root: Path, limit: int | None = None, workers: int | None = None) -> None:
    """Render every set into ``root`` (which must not hold them yet), then its README and stamp.

    Images are independent (one seed each), so worker processes change the time, never the bytes. The documents
    (a few seconds) are written here, in this process.
    """
    from edge_runtime.evaluation.synth import readme

    tasks = []
    for spec in SETS:
        (root / spec.name / "images").mkdir(parents=True)
        tasks += [(spec.name, i, str(root / spec.name)) for i in range(_count(spec, limit))]
    if workers is None:  # a pool pays off from a few dozen images on
        workers = min(4, os.cpu_count() or 1) if len(tasks) >= 24 else 1
    if workers > 1:
        # spawn, not fork: the caller may hold inference threads that a forked child would inherit locked
        with ProcessPoolExecutor(workers, mp_context=multiprocessing.get_context("spawn")) as pool:
            rows = list(pool.map(_render_one, tasks, chunksize=4))
    else:
        rows = [_render_one(t) for t in tasks]
    for spec in SETS:
        mine = [r for (name, _, _), r in zip(tasks, rows, strict=True) if name == spec.name]
        (root / spec.name / "labels.jsonl").write_text("\n".join(mine) + "\n", encoding="utf-8")
        (root / spec.name / "SOURCE.md").write_text(readme.source_md(spec, len(mine)), encoding="utf-8")
    docset.write(root / docset.NAME, limit)
    (root / "README.md").write_text(readme.root_md(limit), encoding="utf-8")
    (root / STAMP).write_text(json.dumps(stamp(limit), indent=1, sort_keys=True) + "\n", encoding="utf-8")


def ensure(root: Path | str | None = None, force: bool = False, limit: int | None = None) -> Path:
    """Render the sets into ``root`` (default ``default_dir()``) unless this renderer already did.

    ``limit`` renders only the first N images of each set (for quick tests); the stamp records it, so a
    limited render never passes for a full one. Concurrent callers serialise on a lock next to ``root``;
    the render goes to a temporary folder renamed into place, so readers never see half a set.
    """
    root = Path(root).resolve() if root is not None else default_dir()
    want = stamp(limit)
    if not force and _read_stamp(root) == want:
        return root
    root.parent.mkdir(parents=True, exist_ok=True)
    with _locked(root.parent / f".{root.name}.lock"):
        if not force and _read_stamp(root) == want:
            return root  # another process rendered it while we waited
        tmp = Path(tempfile.mkdtemp(prefix=f".{root.name}.render-", dir=root.parent))
        old = root.parent / f".{root.name}.old-{os.getpid()}"
        try:
            render(tmp, limit)
            if root.exists():
                root.rename(old)
            tmp.rename(root)
        finally:
            shutil.rmtree(tmp, ignore_errors=True)
            shutil.rmtree(old, ignore_errors=True)
    return root
