"""RSS over time at 1, 4 and 16 clients, before (a base commit's server, no budget) and after (this tree's, with
its memory budget), interleaved level by level, with throughput and p50/p99 beside it.

    python -m bench.memory_soak [--base 5fa58a8] [--levels 1 4 16] [--minutes 3] [--documents 4]
                                [--after-arg=--memory-budget-mb=1000 ...] [--out bench/out/memory_soak]

Each run is ``bench.soak`` with the issue's document pages (``--documents``: receipts, forms, column pages and
300-dpi scans, as rendered), RSS sampled every 0.5 s; the base commit is exported with ``git archive`` next to the
output (its generated gRPC code and model cache linked from this tree). The background INT8/BF16 build is off
(``--no-optimize``) on both, so only the served calls use the CPU. Results: ``summary.json`` and a Markdown table.
"""

from __future__ import annotations

import argparse
import io
import json
import os
import shutil
import subprocess
import tarfile
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from bench import soak

__all__ = ["main", "export_base"]

REPO = Path(__file__).resolve().parents[1]
COMMON = ["--server-arg=--no-optimize", "--server-arg=--model-poll-s=0"]


def export_base(commit: str, into: Path) -> Path:
    """The tree of ``commit`` under ``into``, with this tree's generated gRPC code and model cache."""
    root = into / f"base-{commit}"
    if not root.exists():
        archive = subprocess.run(["git", "archive", commit], cwd=REPO, check=True, capture_output=True).stdout
        with tarfile.open(fileobj=io.BytesIO(archive)) as tar:
            tar.extractall(root, filter="data")
        shutil.copytree(REPO / "clients" / "ocr_client" / "gen", root / "clients" / "ocr_client" / "gen")
        (root / "models" / "cache").symlink_to((REPO / "models" / "cache").resolve())
    return root


def _row(variant: str, clients: int, report: dict[str, Any]) -> dict[str, Any]:
    return {"variant": variant, "clients": clients, "minutes": round(report["minutes_run"], 2), **report["overall"]}


def markdown(rows: list[dict[str, Any]]) -> str:
    out = [
        "| clients | server | calls/s | p50 ms | p99 ms | errors | RSS start MiB | RSS mean MiB | RSS peak MiB |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for r in rows:
        out.append(
            f"| {r['clients']} | {r['variant']} | {r['calls_per_s']} | {r['p50_ms']} | {r['p99_ms']} | {r['errors']} "
            f"| {r['rss_start_mb']} | {r['rss_mean_mb']} | {r['rss_peak_mb']} |"
        )
    return "\n".join(out)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.memory_soak", description=__doc__.splitlines()[0])
    parser.add_argument("--base", default="5fa58a8", help="the commit before the memory budget")
    parser.add_argument("--levels", type=int, nargs="+", default=[1, 4, 16])
    parser.add_argument("--minutes", type=float, default=3.0, help="per level and server")
    parser.add_argument("--documents", type=int, default=4, help="pages of each kind")
    parser.add_argument("--after-arg", action="append", default=[], help="more flags for this tree's server")
    parser.add_argument("--out", type=Path, default=REPO / "bench" / "out" / "memory_soak")
    args = parser.parse_args(argv)
    args.out.mkdir(parents=True, exist_ok=True)
    base = export_base(args.base, args.out)
    rows = []
    variants = (("before", [f"--server-root={base}"]), ("after", [f"--server-arg={a}" for a in args.after_arg]))
    for clients in args.levels:
        for variant, extra in variants:
            out = args.out / f"{variant}-c{clients}"
            soak.main(
                [
                    f"--clients={clients}",
                    f"--minutes={args.minutes}",
                    f"--documents={args.documents}",
                    "--rss-every-s=0.5",
                    "--timeout-s=300",
                    f"--out={out}",
                    *COMMON,
                    *extra,
                ]
            )
            rows.append(_row(variant, clients, json.loads((out / "soak.json").read_text())))
            (args.out / "summary.json").write_text(json.dumps({"base": args.base, "rows": rows}, indent=1))
    table = markdown(rows)
    (args.out / "summary.md").write_text(table + "\n")
    print(table)
    print(f"load average after: {os.getloadavg()}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
