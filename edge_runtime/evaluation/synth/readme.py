"""The words written beside the rendered sets: each set's SOURCE.md and the root README.md."""

from __future__ import annotations

from edge_runtime.evaluation.datasets import kind_of
from edge_runtime.evaluation.synth import docset, fonts
from edge_runtime.evaluation.synth.sets import SETS, SetSpec

FONTS = fonts.FONTS_NOTE  # the fonts' licences, also written by docset


def source_md(spec: SetSpec, count: int) -> str:
    return (
        f"# {spec.name}\n\n{spec.what[0].upper() + spec.what[1:]}. {count} images, kind "
        f"`{kind_of(spec.name).value}` (from the name prefix).\n\n"
        "Rendered by `python -m edge_runtime.evaluation.synth` (`edge_runtime/evaluation/synth/`), "
        'deterministically: image *i* is drawn from an rng seeded with `sha256("<set>:<i>")`, so a '
        "render is byte-identical wherever the pinned packages are the same. Labels are exact by "
        "construction: the text is what was drawn, and each quadrilateral is the drawn text's box moved by "
        "the same homographies as the pixels (clockwise from the text's top-left).\n\n"
        f"## How it is rendered\n\n{spec.how}\n\n## Fonts\n\n{FONTS}\n\n"
        f"## What it covers\n\n{spec.covers}\n"
    )


def root_md(limit: int | None) -> str:
    rows = "\n".join(
        f"| `{s.name}` | {kind_of(s.name).value} | {s.count if limit is None else min(s.count, limit)} | {s.what} |"
        for s in SETS
    )
    rows += f"\n| `{docset.NAME}` | {kind_of(docset.NAME).value} | {docset.page_count(limit)} pages | {docset.WHAT} |"
    note = "" if limit is None else f"\n\nThis is a partial render: the first {limit} images of each set.\n"
    return (
        "# Synthetic evaluation sets\n\nRendered by `python -m edge_runtime.evaluation.synth`; same format as "
        "`shared/eval` (`images/`, `labels.jsonl`, `SOURCE.md` per set; the kind follows the name prefix). "
        "Re-rendered only when `.stamp.json` (renderer source hash, package versions, RENDER_VERSION) "
        "changes.\n\n| set | kind | images | what it is |\n|---|---|---|---|\n" + rows + note + "\n"
    )
