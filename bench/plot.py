"""Pages/s against accuracy, one point per configuration, from the JSON of ``python -m bench.latency --accuracy``.

Ours are circles, peers grey squares; the dashed line is the frontier (no other point is both faster and more
accurate), so whether ours lies on it at every accuracy level can be read off the figure.

    python -m bench.plot bench/out/latency.json [-o bench/out/speed_vs_accuracy.png]
"""

from __future__ import annotations

import argparse
import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any

__all__ = ["frontier", "plot", "main"]


def frontier(points: Sequence[tuple[float, float]]) -> list[tuple[float, float]]:
    """The (speed, accuracy) points that no other point beats on both, fastest first."""
    best: list[tuple[float, float]] = []
    for x, y in sorted(points, key=lambda p: (-p[0], -p[1])):
        if not best or y > best[-1][1]:
            best.append((x, y))
    return best


def plot(report: dict[str, Any], out: Path) -> Path:
    """Write a PNG scatter: x = pages/s, y = mean word F1 over the report's sets (points without one are skipped)."""
    import matplotlib

    matplotlib.use("Agg")  # files only: no display on servers and in CI
    import matplotlib.pyplot as plt

    rows = [r for r in report["rows"] if (r.get("accuracy") or {}).get("word_f1") is not None and r.get("pages_per_s")]
    if not rows:
        raise ValueError("no row has both pages/s and word F1: run python -m bench.latency --accuracy --json ...")
    fig, ax = plt.subplots(figsize=(8.5, 5.4), dpi=120)
    points = [(row["pages_per_s"], 100 * row["accuracy"]["word_f1"]) for row in rows]
    edge = frontier(points)
    ax.plot([x for x, _ in edge], [y for _, y in edge], "--", color="0.6", zorder=1, label="frontier")
    for row, (x, y) in zip(rows, points, strict=True):
        peer = bool(row.get("peer")) or row["name"].startswith(("rapidocr", "faster-paddle"))
        ax.scatter(
            [x],
            [y],
            s=60,
            marker="s" if peer else "o",
            color="tab:gray" if peer else None,
            zorder=3,
            edgecolors="black" if (x, y) in edge else "none",
            label=f"{row['name']}: {x:.2f} pages/s, {y:.1f} %",
        )  # a legend: close points keep their names
    for name in report.get("missing_peers") or {}:  # asked for but not runnable here: named, not silently dropped
        ax.plot([], [], " ", label=f"{name}: missing (see the report)")
    ax.legend(fontsize=6.5, loc="upper left", bbox_to_anchor=(1.01, 1.0))
    ax.set_xlabel("pages / s (higher is better)")
    ax.set_ylabel("word F1, % (mean over sets)")
    where = f"\n{report['cpu']}" if report.get("cpu") else ""
    ax.set_title(f"Speed vs accuracy on {', '.join(report.get('sets', []))}{where}", fontsize=9)
    ax.grid(True, alpha=0.3)
    ax.margins(x=0.15, y=0.3)
    fig.tight_layout()
    out.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(out)
    plt.close(fig)
    return out


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.plot", description=__doc__.splitlines()[0])
    parser.add_argument("report", type=Path, help="JSON written by python -m bench.latency --json")
    parser.add_argument("-o", "--out", type=Path, default=Path("bench/out/speed_vs_accuracy.png"))
    args = parser.parse_args(argv)
    print(plot(json.loads(args.report.read_text(encoding="utf-8")), args.out))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
